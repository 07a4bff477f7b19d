using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>A small float CNN and its two statically quantized int8 versions (same weights, same calibrated scales).</summary>
/// <param name="Float">The float model.</param>
/// <param name="QOperator">QOperator form: QuantizeLinear → QLinearConv ×3 (per-channel int8 weights) → com.microsoft
/// QLinearAdd (residual) → QLinearGlobalAveragePool → Flatten → QLinearMatMul → QLinearAdd (bias) → DequantizeLinear.</param>
/// <param name="Qdq">QDQ form: the float operators with QuantizeLinear/DequantizeLinear on every activation and
/// DequantizeLinear on every weight and bias.</param>
/// <param name="LogitsScale">The quantization step of the logits, for tolerances.</param>
internal sealed record QuantizedModels(ModelProto Float, ModelProto QOperator, ModelProto Qdq, float LogitsScale);
