using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Structural edits shared by the cutter, the baker and the preparer: pruning, renaming, fresh names.</summary>
internal static class OnnxGraphEditing
{
    /// <summary>
    /// Keeps only the nodes, initializers, runtime inputs and value infos needed to compute the graph outputs
    /// (node order is kept, so a topologically sorted graph stays sorted).
    /// </summary>
    public static void Prune(GraphProto graph)
    {
        var producer = new Dictionary<string, NodeProto>();
        foreach (var n in graph.Node) foreach (var o in n.Output) if (o.Length > 0) producer[o] = n;

        var neededTensors = new HashSet<string>(StringComparer.Ordinal);
        var neededNodes = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<string>(graph.Output.Select(o => o.Name));
        while (stack.Count > 0)
        {
            var t = stack.Pop();
            if (!neededTensors.Add(t)) continue;
            if (producer.TryGetValue(t, out var node) && neededNodes.Add(node))
                foreach (var i in OnnxGraphIndex.ReferencedInputs(node)) stack.Push(i);
        }

        var keptNodes = graph.Node.Where(neededNodes.Contains).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(keptNodes);

        var keptInits = graph.Initializer.Where(t => neededTensors.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(keptInits);

        var keptInputs = graph.Input.Where(i => neededTensors.Contains(i.Name)).ToList();
        graph.Input.Clear();
        graph.Input.AddRange(keptInputs);

        var keptInfos = graph.ValueInfo.Where(v => neededTensors.Contains(v.Name) && !graph.Output.Any(o => o.Name == v.Name)).ToList();
        graph.ValueInfo.Clear();
        graph.ValueInfo.AddRange(keptInfos);
    }

    /// <summary>Renames a tensor everywhere it appears, including outer-scope references inside subgraphs.</summary>
    public static void RenameTensor(GraphProto graph, string from, string to)
    {
        foreach (var n in graph.Node) RenameInNode(n, from, to);
        foreach (var t in graph.Initializer) if (t.Name == from) t.Name = to;
        foreach (var v in graph.Input) if (v.Name == from) v.Name = to;
        foreach (var v in graph.Output) if (v.Name == from) v.Name = to;
        foreach (var v in graph.ValueInfo) if (v.Name == from) v.Name = to;
    }

    private static void RenameInNode(NodeProto node, string from, string to)
    {
        for (int i = 0; i < node.Input.Count; i++) if (node.Input[i] == from) node.Input[i] = to;
        for (int i = 0; i < node.Output.Count; i++) if (node.Output[i] == from) node.Output[i] = to;
        foreach (var a in node.Attribute)
        {
            // A subgraph that defines its own tensor of that name shadows the outer one; leave it alone.
            foreach (var g in a.G is not null ? new[] { a.G }.Concat(a.Graphs) : a.Graphs)
            {
                bool shadowed = g.Input.Any(i => i.Name == from) || g.Initializer.Any(t => t.Name == from) || g.Node.Any(n => n.Output.Contains(from));
                if (!shadowed) foreach (var n in g.Node) RenameInNode(n, from, to);
            }
        }
    }

    /// <summary>
    /// Frees <paramref name="name"/> for a new tensor: if the graph already uses it, the existing tensor is renamed.
    /// </summary>
    public static void Reserve(GraphProto graph, string name)
    {
        var index = new OnnxGraphIndex(graph);
        if (!index.AllNames().Contains(name)) return;
        var namer = new OnnxNamer(graph);
        RenameTensor(graph, name, namer.Fresh(name + "_original"));
    }

    /// <summary>The version of the default ONNX operator set (domain "" or "ai.onnx") the model imports, which every
    /// default-domain operator's semantics follow (the highest, should it be listed twice). ONNX's own checker reads a model of
    /// IR version below 3 that imports nothing as opset 1, so that is the one fallback; from IR version 3 on the import is
    /// required, and guessing a version would silently pick operator semantics, so such a model is refused, naming it.</summary>
    public static long DefaultOpset(ModelProto model)
    {
        var versions = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).ToList();
        if (versions.Count > 0) return versions.Max();
        if (model.IrVersion < 3 && model.OpsetImport.Count == 0) return 1;
        throw new MlNetTransferException($"ONNX model '{model.Graph?.Name}' (IR version {model.IrVersion}) does not import the default operator set (ai.onnx), " +
                                         "so its operators' semantics are unknown.");
    }
}
