using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>A tensor that every path from the image to the output passes through (the only value computed from the
/// image that is alive between two nodes), and how many of the graph's weight layers come before it.</summary>
internal sealed record LayerBoundary(string Tensor, int LayersBefore, int Layers)
{
    /// <summary>Fraction of the weight layers before the tensor: 0 at the input, 1 after the last layer.</summary>
    public double Depth => Layers == 0 ? 0 : (double)LayersBefore / Layers;
}

/// <summary>
/// Finds the points where a graph can be split into a prefix and a suffix joined by one tensor: between blocks, not
/// inside a residual block (where its input is still alive) — the places a network's stages hand over.
/// </summary>
internal static class OnnxLayerBoundaries
{
    /// <summary>The boundaries of a topologically sorted graph (as ONNX requires), from the input on.</summary>
    public static IReadOnlyList<LayerBoundary> Find(GraphProto graph)
    {
        var index = new OnnxGraphIndex(graph);
        // Values computed from the image; a node that reads only constants (e.g. a weight's DequantizeLinear) is constant too.
        var dynamic = new HashSet<string>(index.RuntimeInputs.Select(i => i.Name), StringComparer.Ordinal);
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        var layerAt = new bool[graph.Node.Count];
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            var inputs = OnnxGraphIndex.ReferencedInputs(node).ToList();
            foreach (var input in inputs) if (dynamic.Contains(input)) lastUse[input] = i;
            if (node.OpType != "Constant" && inputs.Any(dynamic.Contains))
                foreach (var o in node.Output) if (o.Length > 0) dynamic.Add(o);
            layerAt[i] = node.Input.Any(input => IsWeight(index, input));
        }
        foreach (var output in index.OutputNames) lastUse[output] = int.MaxValue;

        var layers = layerAt.Count(l => l);
        var live = new HashSet<string>(index.RuntimeInputs.Select(i => i.Name).Where(lastUse.ContainsKey), StringComparer.Ordinal);
        var boundaries = new List<LayerBoundary>();
        int before = 0;
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (layerAt[i]) before++;
            foreach (var o in node.Output)
                if (o.Length > 0 && dynamic.Contains(o) && lastUse.GetValueOrDefault(o, -1) > i) live.Add(o);
            live.RemoveWhere(t => lastUse[t] <= i);
            if (live.Count == 1 && i + 1 < graph.Node.Count)
                boundaries.Add(new LayerBoundary(live.First(), before, layers));
        }
        // A tensor stays the only live value over several nodes when those nodes only read constants; list it once.
        return boundaries.DistinctBy(b => b.Tensor).ToList();
    }

    /// <summary>A weight: a constant with at least two dimensions above 1 (a convolution kernel or a dense matrix, not a
    /// bias, a per-channel scale or a shape).</summary>
    private static bool IsWeight(OnnxGraphIndex index, string tensor)
        => tensor.Length > 0 && index.ConstantValue(tensor) is { } value && value.Dims.Count(d => d > 1) >= 2;
}
