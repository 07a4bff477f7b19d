using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// Decides whether a 4-D intermediate tensor is channels-last (NHWC), from the ops around it: ONNX convolutions and
/// pools are NCHW, while TensorFlow/Keras exports keep NHWC tensors between Transposes and reduce over axes 1,2.
/// </summary>
internal static class OnnxLayout
{
    private static readonly HashSet<string> ChannelsFirstOps =
    [
        "Conv", "QLinearConv", "ConvInteger", "ConvTranspose", "MaxPool", "AveragePool", "QLinearAveragePool", "LpPool",
        "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "InstanceNormalization", "LRN", "FusedConv", "NhwcMaxPool",
    ];

    /// <summary>Ops whose output has the same layout as their (first non-constant) input.</summary>
    private static readonly HashSet<string> LayoutPreserving =
    [
        "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "PRelu", "Mish", "Gelu",
        "Add", "Sub", "Mul", "Div", "Identity", "Dropout", "Cast", "QuantizeLinear", "DequantizeLinear",
        "QLinearAdd", "QLinearMul", "QLinearLeakyRelu", "QLinearSigmoid",
    ];

    public static bool IsChannelsLast(OnnxGraphIndex graph, string tensor) => Evidence(graph, tensor, 0) ?? false;

    private static bool? Evidence(OnnxGraphIndex graph, string tensor, int depth)
    {
        foreach (var c in graph.ConsumersOf(tensor))
        {
            if (c.OpType == "Transpose" && OnnxNodes.GetInts(c, "perm", []).SequenceEqual([0L, 3, 1, 2])) return true;
            if (c.OpType is "QLinearGlobalAveragePool" or "QLinearAveragePool") return OnnxNodes.GetInt(c, "channels_last", 0) != 0;
            if (c.OpType is "ReduceMean" or "ReduceMax" && ReduceAxes(graph, c) is { } axes)
            {
                if (axes.SequenceEqual([1L, 2])) return true;
                if (axes.SequenceEqual([2L, 3])) return false;
            }
            if (ChannelsFirstOps.Contains(c.OpType) && c.Input.Count > 0 && c.Input[0] == tensor) return false;
        }

        var p = graph.ProducerOf(tensor);
        if (p is null) return null;
        if (p.OpType == "Transpose") return OnnxNodes.GetInts(p, "perm", []).SequenceEqual([0L, 2, 3, 1]) ? true : null;
        if (ChannelsFirstOps.Contains(p.OpType)) return false;
        if (depth < 16 && LayoutPreserving.Contains(p.OpType))
        {
            foreach (var input in p.Input.Where(i => i.Length > 0 && !graph.IsConstant(i)))
                if (Evidence(graph, input, depth + 1) is { } answer) return answer;
        }
        return null;
    }

    /// <summary>
    /// Sorted axes of a Reduce* node on a tensor of the given rank, from its attribute (opset &lt; 18) or its constant
    /// second input (opset 18+); null when absent (which means all axes) or not constant.
    /// </summary>
    public static long[]? ReduceAxes(OnnxGraphIndex graph, NodeProto node, int rank = 4)
    {
        long[]? axes = null;
        if (OnnxNodes.Find(node, "axes") is { } a) axes = a.Ints.ToArray();
        else if (node.Input.Count > 1 && node.Input[1].Length > 0 && graph.ConstantValue(node.Input[1]) is { } t) axes = OnnxTensors.ToInt64s(t);
        return axes?.Select(x => x < 0 ? x + rank : x).Order().ToArray();
    }
}
