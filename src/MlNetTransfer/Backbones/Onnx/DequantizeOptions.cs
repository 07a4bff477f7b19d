namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Options for <see cref="Dequantizer.Dequantize(string, string, DequantizeOptions?)"/>.</summary>
public sealed class DequantizeOptions
{
    /// <summary>
    /// Keep the integer model's rounding of activations (fake quantization), so the float graph computes what the integer
    /// graph computes. Default <c>false</c>: a pure
    /// float graph, where every point the integer model re-quantized an activation becomes a Clip to the range its integer
    /// type can represent (saturation kept, rounding gone), which is what fine-tuning needs.
    /// </summary>
    /// <remarks>
    /// <para>When <c>true</c>, each such point (a QuantizeLinear, or the output of a QLinearConv / QLinearMatMul / QLinearAdd /
    /// QGemm / ... with its y_scale and y_zero_point) becomes ONNX's QuantizeLinear → DequantizeLinear written out in float
    /// operators, <c>Clip(Round(x / scale), qmin − zero_point, qmax − zero_point) · scale</c>: activations are rounded half to
    /// even onto the integer grid and saturated to the integer range as the integer model does. A Conv or MatMul whose input
    /// is on such a grid runs on the integer values themselves (q − zero point, held in float, with the weights brought back
    /// to their grid by <c>Round(w / w_scale)</c>, which ONNX Runtime folds at load time) and is then requantized with
    /// <c>x_scale · w_scale / y_scale</c>, exactly like the integer kernels: float sums of integers are exact, while sums of
    /// dequantized products round differently and the values that land on a rounding boundary flip and cascade. On the zoo
    /// int8 MobileNetV2 every re-quantized activation then equals the integer model's.</para>
    /// <para>It is written out rather than as QuantizeLinear → DequantizeLinear pairs because ONNX Runtime (≥ 1.20,
    /// WeightBiasQuantization) re-quantizes the float weights of any Conv/Gemm fed by a per-tensor DequantizeLinear to
    /// per-tensor int8, losing the per-channel weights. Weights and biases are float initializers (the dequantized integer
    /// values) either way. Use it to check a dequantized model against its original, or to run a float model that behaves
    /// exactly as the quantized one; fine-tune the default (pure float) graph.</para>
    /// </remarks>
    public bool SimulateActivationQuantization { get; init; }
}
