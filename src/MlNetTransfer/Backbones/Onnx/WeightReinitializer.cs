using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// The same architecture with fresh random weights: the "training from scratch" baseline of a transfer experiment, or —
/// from a given node onward — a network whose first layers are copied and whose later layers start afresh (Yosinski et
/// al.'s "AnB" networks). Conv, Gemm and MatMul weights get He-uniform values (bound √(6 / fan-in), the usual
/// initialisation for ReLU networks), their biases zero; BatchNormalization gets scale 1, bias 0, mean 0, variance 1.
/// Every other initializer (shapes, normalization constants) is kept. A quantized model is dequantized first, so the
/// result is always a float model. Each tensor draws from its own random stream keyed by the seed and its name, so a
/// layer gets the same fresh values whether the whole network or only a suffix is re-initialised.
/// </summary>
internal static class WeightReinitializer
{
    /// <summary>A re-initialised copy of <paramref name="model"/> (left unchanged); deterministic for a seed.</summary>
    /// <param name="model">The model whose architecture to keep.</param>
    /// <param name="seed">Seed of the fresh weights.</param>
    /// <param name="fromNode">Null (default): re-initialise every layer. Otherwise the name of the first node to
    /// re-initialise: it and every node after it in the graph's (topological) node order get fresh weights, the nodes
    /// before it keep theirs — also a weight shared with a later node.</param>
    public static ModelProto Reinitialize(ModelProto model, int seed, string? fromNode = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var copy = Dequantizer.IsQuantized(model) ? Dequantizer.Dequantize(model) : model.Clone();
        var graph = copy.Graph ?? throw new MlNetTransferException("ONNX model: there is no graph to re-initialise.");
        var byName = graph.Initializer.Select((t, i) => (t, i)).ToDictionary(p => p.t.Name, p => p.i);
        var done = new HashSet<string>();

        var first = 0;
        if (fromNode is not null)
        {
            first = graph.Node.Select((n, i) => (n, i)).FirstOrDefault(p => p.n.Name == fromNode, (null!, -1)).Item2;
            if (first < 0)
                throw new MlNetTransferException($"ONNX model '{graph.Name}': there is no node '{fromNode}' to re-initialise from (node names: {string.Join(", ", graph.Node.Take(8).Select(n => n.Name))}{(graph.Node.Count > 8 ? ", ..." : "")}).");
            // Weights read by a kept node stay as they are, even if a later node reads them too.
            foreach (var node in graph.Node.Take(first)) foreach (var input in node.Input) done.Add(input);
        }

        void Set(string name, Func<TensorProto, Random, float[]?> values)
        {
            if (!byName.TryGetValue(name, out var index) || !done.Add(name)) return;
            var tensor = graph.Initializer[index];
            if (tensor.DataType != (int)TensorProto.Types.DataType.Float) return;
            if (values(tensor, new Random(StreamSeed(seed, name))) is { } v) graph.Initializer[index] = OnnxTensors.FromFloats(name, v, [.. tensor.Dims]);
        }
        float[] HeUniform(TensorProto t, Random random, long fanIn)
        {
            var bound = Math.Sqrt(6.0 / Math.Max(1, fanIn));
            return Enumerable.Range(0, Count(t)).Select(_ => (float)((random.NextDouble() * 2 - 1) * bound)).ToArray();
        }
        float[] Constant(TensorProto t, float value) => Enumerable.Repeat(value, Count(t)).ToArray();

        var changed = 0;
        foreach (var node in graph.Node.Skip(first))
        {
            var before = done.Count;
            switch (node.OpType)
            {
                case "Conv" when node.Input.Count >= 2:
                    Set(node.Input[1], (t, r) => t.Dims.Count >= 3 ? HeUniform(t, r, t.Dims.Skip(1).Aggregate(1L, (a, d) => a * d)) : null);
                    if (node.Input.Count >= 3) Set(node.Input[2], (t, _) => Constant(t, 0));
                    break;
                case "Gemm" when node.Input.Count >= 2:
                    var transB = OnnxNodes.GetInt(node, "transB", 0) != 0;
                    Set(node.Input[1], (t, r) => t.Dims.Count == 2 ? HeUniform(t, r, transB ? t.Dims[1] : t.Dims[0]) : null);
                    if (node.Input.Count >= 3) Set(node.Input[2], (t, _) => Constant(t, 0));
                    break;
                case "MatMul" when node.Input.Count >= 2:
                    Set(node.Input[1], (t, r) => t.Dims.Count == 2 ? HeUniform(t, r, t.Dims[0]) : null);
                    break;
                case "BatchNormalization" when node.Input.Count >= 5:
                    Set(node.Input[1], (t, _) => Constant(t, 1));
                    Set(node.Input[2], (t, _) => Constant(t, 0));
                    Set(node.Input[3], (t, _) => Constant(t, 0));
                    Set(node.Input[4], (t, _) => Constant(t, 1));
                    break;
            }
            changed += done.Count - before;
        }
        if (changed == 0)
            throw new MlNetTransferException($"ONNX model '{graph.Name}': found no Conv, Gemm, MatMul or BatchNormalization weights to re-initialise{(fromNode is null ? "" : $" from node '{fromNode}' on")}.");
        return copy;
    }

    private static int Count(TensorProto t) => (int)t.Dims.Aggregate(1L, (a, d) => a * d);

    private static int StreamSeed(int seed, string name)
    {
        // FNV-1a: a string hash that, unlike string.GetHashCode, is the same in every process.
        uint h = 2166136261;
        foreach (var ch in name) { h ^= ch; h *= 16777619; }
        h ^= (uint)seed; h *= 16777619;
        return (int)(h & 0x7FFFFFFF);
    }
}
