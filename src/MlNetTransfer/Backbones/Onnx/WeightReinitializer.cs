using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// The same architecture with fresh random weights: the "training from scratch" baseline of a transfer experiment.
/// Conv, Gemm and MatMul weights get He-uniform values (bound √(6 / fan-in), the usual initialisation for ReLU networks),
/// their biases zero; BatchNormalization gets scale 1, bias 0, mean 0, variance 1. Every other initializer (shapes,
/// normalization constants) is kept. A quantized model is dequantized first, so the result is always a float model.
/// </summary>
public static class WeightReinitializer
{
    /// <summary>A re-initialised copy of <paramref name="model"/> (left unchanged); deterministic for a seed.</summary>
    public static ModelProto Reinitialize(ModelProto model, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        var copy = Dequantizer.IsQuantized(model) ? Dequantizer.Dequantize(model) : model.Clone();
        var graph = copy.Graph ?? throw new MlNetTransferException("ONNX model: there is no graph to re-initialise.");
        var byName = graph.Initializer.Select((t, i) => (t, i)).ToDictionary(p => p.t.Name, p => p.i);
        var done = new HashSet<string>();
        var random = new Random(seed);

        void Set(string name, Func<TensorProto, float[]?> values)
        {
            if (!byName.TryGetValue(name, out var index) || !done.Add(name)) return;
            var tensor = graph.Initializer[index];
            if (tensor.DataType != (int)TensorProto.Types.DataType.Float) return;
            if (values(tensor) is { } v) graph.Initializer[index] = OnnxTensors.FromFloats(name, v, [.. tensor.Dims]);
        }
        float[] HeUniform(TensorProto t, long fanIn)
        {
            var bound = Math.Sqrt(6.0 / Math.Max(1, fanIn));
            return Enumerable.Range(0, Count(t)).Select(_ => (float)((random.NextDouble() * 2 - 1) * bound)).ToArray();
        }
        float[] Constant(TensorProto t, float value) => Enumerable.Repeat(value, Count(t)).ToArray();

        foreach (var node in graph.Node)
        {
            switch (node.OpType)
            {
                case "Conv" when node.Input.Count >= 2:
                    Set(node.Input[1], t => t.Dims.Count >= 3 ? HeUniform(t, t.Dims.Skip(1).Aggregate(1L, (a, d) => a * d)) : null);
                    if (node.Input.Count >= 3) Set(node.Input[2], t => Constant(t, 0));
                    break;
                case "Gemm" when node.Input.Count >= 2:
                    var transB = OnnxNodes.GetInt(node, "transB", 0) != 0;
                    Set(node.Input[1], t => t.Dims.Count == 2 ? HeUniform(t, transB ? t.Dims[1] : t.Dims[0]) : null);
                    if (node.Input.Count >= 3) Set(node.Input[2], t => Constant(t, 0));
                    break;
                case "MatMul" when node.Input.Count >= 2:
                    Set(node.Input[1], t => t.Dims.Count == 2 ? HeUniform(t, t.Dims[0]) : null);
                    break;
                case "BatchNormalization" when node.Input.Count >= 5:
                    Set(node.Input[1], t => Constant(t, 1));
                    Set(node.Input[2], t => Constant(t, 0));
                    Set(node.Input[3], t => Constant(t, 0));
                    Set(node.Input[4], t => Constant(t, 1));
                    break;
            }
        }
        if (done.Count == 0)
            throw new MlNetTransferException($"ONNX model '{graph.Name}': found no Conv, Gemm, MatMul or BatchNormalization weights to re-initialise.");
        return copy;
    }

    private static int Count(TensorProto t) => (int)t.Dims.Aggregate(1L, (a, d) => a * d);
}
