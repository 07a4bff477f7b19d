using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Look-ups over one (top-level) graph: who produces and who consumes each tensor, constants, value infos.</summary>
internal sealed class OnnxGraphIndex
{
    public GraphProto Graph { get; }
    public Dictionary<string, NodeProto> Producer { get; } = new();
    public Dictionary<string, List<NodeProto>> Consumers { get; } = new();
    public Dictionary<string, TensorProto> Initializers { get; } = new();
    public Dictionary<NodeProto, int> Position { get; } = new(ReferenceEqualityComparer.Instance);
    public Dictionary<string, ValueInfoProto> ValueInfos { get; } = new();
    public HashSet<string> OutputNames { get; } = new();

    /// <summary>Graph inputs that are fed at run time (old IR versions also list initializers as inputs).</summary>
    public List<ValueInfoProto> RuntimeInputs { get; }

    public OnnxGraphIndex(GraphProto graph)
    {
        Graph = graph;
        foreach (var t in graph.Initializer) Initializers[t.Name] = t;
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            Position[node] = i;
            foreach (var o in node.Output) if (o.Length > 0) Producer[o] = node;
            foreach (var input in ReferencedInputs(node))
            {
                if (!Consumers.TryGetValue(input, out var list)) Consumers[input] = list = new List<NodeProto>();
                list.Add(node);
            }
        }
        foreach (var v in graph.ValueInfo) ValueInfos[v.Name] = v;
        foreach (var v in graph.Input) ValueInfos[v.Name] = v;
        foreach (var v in graph.Output) { ValueInfos[v.Name] = v; OutputNames.Add(v.Name); }
        RuntimeInputs = graph.Input.Where(i => !Initializers.ContainsKey(i.Name)).ToList();
    }

    public NodeProto? ProducerOf(string tensor) => Producer.GetValueOrDefault(tensor);

    public IReadOnlyList<NodeProto> ConsumersOf(string tensor) => Consumers.TryGetValue(tensor, out var l) ? l : [];

    public bool IsConstant(string tensor) =>
        Initializers.ContainsKey(tensor) || ProducerOf(tensor) is { OpType: "Constant" };

    /// <summary>The value of an initializer or a Constant node's <c>value</c>, or null.</summary>
    public TensorProto? ConstantValue(string tensor)
    {
        if (Initializers.TryGetValue(tensor, out var t)) return t;
        if (ProducerOf(tensor) is { OpType: "Constant" } c && OnnxNodes.Find(c, "value") is { T: { } v }) return v;
        return null;
    }

    public bool Exists(string tensor) =>
        Producer.ContainsKey(tensor) || Initializers.ContainsKey(tensor) || Graph.Input.Any(i => i.Name == tensor);

    /// <summary>Element type recorded in the graph's value infos, if any.</summary>
    public TensorProto.Types.DataType? DeclaredType(string tensor)
    {
        if (Initializers.TryGetValue(tensor, out var t)) return (TensorProto.Types.DataType)t.DataType;
        if (ValueInfos.TryGetValue(tensor, out var v) && v.Type?.TensorType is { ElemType: > 0 } tt) return (TensorProto.Types.DataType)tt.ElemType;
        return null;
    }

    /// <summary>Every tensor and node name in the graph, so new names can avoid them.</summary>
    public HashSet<string> AllNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in Graph.Node)
        {
            names.Add(n.Name);
            foreach (var s in n.Input) names.Add(s);
            foreach (var s in n.Output) names.Add(s);
        }
        foreach (var t in Graph.Initializer) names.Add(t.Name);
        foreach (var v in Graph.Input) names.Add(v.Name);
        foreach (var v in Graph.Output) names.Add(v.Name);
        foreach (var v in Graph.ValueInfo) names.Add(v.Name);
        return names;
    }

    /// <summary>A node's inputs plus the outer-scope tensors its subgraphs (If/Loop/Scan bodies) read.</summary>
    public static IEnumerable<string> ReferencedInputs(NodeProto node)
    {
        foreach (var i in node.Input) if (i.Length > 0) yield return i;
        foreach (var a in node.Attribute)
        {
            var subgraphs = a.G is not null ? new[] { a.G }.Concat(a.Graphs) : a.Graphs;
            foreach (var g in subgraphs)
            {
                var local = new HashSet<string>(g.Initializer.Select(t => t.Name).Concat(g.Input.Select(i => i.Name)));
                foreach (var n in g.Node) foreach (var o in n.Output) local.Add(o);
                foreach (var n in g.Node)
                    foreach (var i in ReferencedInputs(n))
                        if (!local.Contains(i)) yield return i;
            }
        }
    }
}
