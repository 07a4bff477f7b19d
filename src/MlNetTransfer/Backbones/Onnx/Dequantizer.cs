using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// Turns a quantized ONNX model into an equivalent float model, so its weights can be fine-tuned. Both quantized forms
/// are understood: QOperator (QLinearConv, QLinearMatMul, com.microsoft QLinearAdd/Mul/Concat/GlobalAveragePool/
/// AveragePool/LeakyRelu/Sigmoid, QGemm) and QDQ (QuantizeLinear/DequantizeLinear around float operators).
/// </summary>
/// <remarks>
/// <para>Quantized weights and biases become float initializers, <c>(q − zero_point) · scale</c>, per tensor, per channel
/// or per block. Every quantized op becomes its float op, and every point where the integer model quantized an
/// activation becomes a Clip to the range its integer type can represent, <c>[(qmin − zp)·s, (qmax − zp)·s]</c>: that
/// reproduces the integer model's saturation exactly, including the ReLU / ReLU6 that quantizers fold into an output
/// range (a uint8 output with zero point 0 cannot hold negatives). Only the rounding to the quantization grid is gone,
/// unless <see cref="DequantizeOptions.SimulateActivationQuantization"/> keeps it (and then the float model computes exactly
/// what the integer model computes).</para>
/// <para>Ops that merely move quantized values (Reshape, Transpose, MaxPool, Concat, Slice, Gather, Pad, Relu, Clip, ...)
/// keep working on the float tensors; constants they take in the quantized domain (Clip bounds, Pad value) are
/// dequantized. Output names are kept (a quantized graph output becomes a float one); the com.microsoft opset import
/// is dropped when no op uses it any more. Anything without an exact float equivalent raises an
/// <see cref="MlNetTransferException"/> naming the node and operator.</para>
/// </remarks>
public static class Dequantizer
{
    /// <summary>ONNX Runtime's quantizer names a quantized activation <c>T_quantized</c>; the dequantizer gives its float version
    /// the name <c>T</c>, which is how an int8 graph and its float twin are matched tensor by tensor.</summary>
    internal const string QuantizedSuffix = "_quantized";

    /// <summary>Returns a new float model equivalent to <paramref name="model"/> (which is left unchanged).</summary>
    /// <param name="model">A quantized model (QOperator or QDQ form).</param>
    /// <param name="options">How activations are treated; null = the defaults (a pure float graph).</param>
    internal static ModelProto Dequantize(ModelProto model, DequantizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Graph is null || model.Graph.Node.Count == 0)
            throw new MlNetTransferException("ONNX model: there is no graph to dequantize.");
        return new QuantizedGraphRewriter(model, options ?? new DequantizeOptions()).Rewrite();
    }

    /// <summary>Writes a float model equivalent to the quantized ONNX file <paramref name="inputPath"/> to <paramref name="outputPath"/>.</summary>
    /// <param name="inputPath">A quantized model (QOperator or QDQ form).</param>
    /// <param name="outputPath">Where the float model goes (written whole or not at all).</param>
    /// <param name="options">How activations are treated; null = the defaults (a pure float graph).</param>
    public static void Dequantize(string inputPath, string outputPath, DequantizeOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputPath);
        OnnxModelFile.Save(Dequantize(OnnxModelFile.Load(inputPath), options), outputPath);
    }

    /// <summary>Whether the model contains any quantized operator (so <see cref="Dequantize(ModelProto, DequantizeOptions?)"/> has work to do).</summary>
    internal static bool IsQuantized(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Graph is not null && AllNodes(model.Graph).Any(IsQuantizedOp);
    }

    /// <summary>Whether a node is an ONNX or ONNX Runtime quantized operator (known to the dequantizer or not).</summary>
    internal static bool IsQuantizedOp(NodeProto node)
    {
        if (node.Domain is not ("" or "ai.onnx" or "com.microsoft")) return false;
        var op = node.OpType;
        return op.StartsWith("QLinear", StringComparison.Ordinal)
            || op.StartsWith("QOrdered", StringComparison.Ordinal)
            || op.StartsWith("Quantize", StringComparison.Ordinal)
            || op.StartsWith("Dequantize", StringComparison.Ordinal)
            || op.StartsWith("DynamicQuantize", StringComparison.Ordinal)
            || op is "ConvInteger" or "MatMulInteger" or "MatMulIntegerToFloat" or "QGemm" or "QAttention"
                or "QEmbedLayerNormalization" or "MatMulNBits" or "MatMulBnb4" or "MatMulFpQ4" or "GatherBlockQuantized" or "QMoE";
    }

    internal static IEnumerable<NodeProto> AllNodes(GraphProto graph)
    {
        foreach (var n in graph.Node)
        {
            yield return n;
            foreach (var a in n.Attribute)
            {
                if (a.G is not null) foreach (var inner in AllNodes(a.G)) yield return inner;
                foreach (var g in a.Graphs) foreach (var inner in AllNodes(g)) yield return inner;
            }
        }
    }
}
