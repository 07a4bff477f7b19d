using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Where a quantized tensor's scale and zero point live: tensor names in the graph, plus the per-axis axis if any.</summary>
internal sealed record QuantizationParameters(string Scale, string? ZeroPoint, long? Axis, string DefinedBy);

/// <summary>Knowledge of ONNX and com.microsoft quantized operators: which input holds each op's output scale and zero point.</summary>
internal static class OnnxQuantization
{
    /// <summary>Input indices of the output scale and zero point (ONNX and onnxruntime contrib operator specs).</summary>
    private static readonly Dictionary<string, (int Scale, int ZeroPoint)> OutputParameterInputs = new()
    {
        ["QuantizeLinear"] = (1, 2),
        ["QLinearConv"] = (6, 7),
        ["QLinearMatMul"] = (6, 7),
        ["QLinearAdd"] = (6, 7),
        ["QLinearMul"] = (6, 7),
        ["QLinearGlobalAveragePool"] = (3, 4),
        ["QLinearAveragePool"] = (3, 4),
        ["QLinearLeakyRelu"] = (3, 4),
        ["QLinearSigmoid"] = (3, 4),
        ["QLinearSoftmax"] = (3, 4),
        ["QLinearReduceMean"] = (3, 4),
        ["QLinearConcat"] = (0, 1),
        ["QGemm"] = (7, 8),
    };

    /// <summary>Ops that move or select 8-bit values without changing their scale, so the answer lies upstream.</summary>
    private static readonly HashSet<string> ScalePreserving =
    [
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "MaxPool", "GlobalMaxPool",
        "Slice", "Gather", "Split", "Pad", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth", "Tile", "Expand",
    ];

    public static bool IsQuantizedType(TensorProto.Types.DataType type) => type is TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8;

    /// <summary>An 8-bit global average (a windowed QLinearAveragePool is not one).</summary>
    public static bool IsQuantizedGlobalPool(NodeProto node) => node.OpType is "QLinearGlobalAveragePool" or "QLinearReduceMean";

    /// <summary>
    /// Finds the scale and zero point that dequantize <paramref name="tensor"/>, walking back through ops that keep the scale.
    /// Throws <see cref="MlNetTransferException"/> naming the tensor and its producer when they cannot be found.
    /// </summary>
    public static QuantizationParameters Find(OnnxGraphIndex graph, string tensor)
    {
        var current = tensor;
        for (int depth = 0; depth < 64; depth++)
        {
            var node = graph.ProducerOf(current)
                ?? throw new MlNetTransferException($"Cannot dequantize tensor '{tensor}': it is 8-bit and comes from graph input or initializer '{current}', which has no quantization scale.");
            if (node.OpType == "DynamicQuantizeLinear" && node.Output.Count >= 3 && node.Output[0] == current)
                return new QuantizationParameters(node.Output[1], node.Output[2], null, $"{node.OpType} '{node.Name}'");
            if (OutputParameterInputs.TryGetValue(node.OpType, out var idx) && node.Input.Count > idx.Scale && node.Input[idx.Scale].Length > 0)
            {
                var zp = node.Input.Count > idx.ZeroPoint && node.Input[idx.ZeroPoint].Length > 0 ? node.Input[idx.ZeroPoint] : null;
                long? axis = node.OpType == "QuantizeLinear" && OnnxNodes.Find(node, "axis") is { } a ? a.I : null;
                return new QuantizationParameters(node.Input[idx.Scale], zp, axis, $"{node.OpType} '{node.Name}'");
            }
            if (ScalePreserving.Contains(node.OpType) && node.Input.Count > 0)
            {
                current = node.Input[0];
                continue;
            }
            throw new MlNetTransferException(
                $"Cannot dequantize tensor '{tensor}': it is 8-bit and produced by {node.OpType} '{node.Name}', whose output scale is unknown. Cut at a float tensor instead.");
        }
        throw new MlNetTransferException($"Cannot dequantize tensor '{tensor}': no quantization scale found within 64 ops upstream.");
    }
}
