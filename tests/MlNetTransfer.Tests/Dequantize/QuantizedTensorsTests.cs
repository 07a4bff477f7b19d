using MlNetTransfer.Backbones.Onnx;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.Dequantize;

public class QuantizedTensorsTests
{
    [Fact]
    public void Per_tensor_uint8_dequantizes_with_its_zero_point()
    {
        var q = QuantizedTensors.FromIntegers("q", DataType.Uint8, [0, 128, 255], 3);
        var scale = OnnxTensors.FromFloats("s", [0.5f]);
        var zp = QuantizedTensors.FromIntegers("zp", DataType.Uint8, [128]);

        Assert.Equal(new[] { -64f, 0f, 63.5f }, QuantizedTensors.Dequantize(q, scale, zp));
    }

    [Fact]
    public void Per_channel_int8_uses_the_scale_and_zero_point_of_each_slice_along_the_axis()
    {
        // [2, 3] quantized along axis 1: column j has scale s[j] and zero point z[j].
        var q = QuantizedTensors.FromIntegers("q", DataType.Int8, [-128, 0, 127, 10, 20, 30], 2, 3);
        var scale = OnnxTensors.FromFloats("s", [1f, 0.5f, 0.25f], 3);
        var zp = QuantizedTensors.FromIntegers("zp", DataType.Int8, [0, 10, -1], 3);

        var values = QuantizedTensors.Dequantize(q, scale, zp, axis: 1);

        Assert.Equal(new[] { -128f, -5f, 32f, 10f, 5f, 7.75f }, values);
    }

    [Fact]
    public void Per_row_scales_along_axis_0()
    {
        var q = QuantizedTensors.FromIntegers("q", DataType.Int8, [-128, 0, 127, 10, 20, 30], 2, 3);
        var values = QuantizedTensors.Dequantize(q, OnnxTensors.FromFloats("s", [1f, 0.25f], 2), null, axis: 0);
        Assert.Equal(new[] { -128f, 0f, 127f, 2.5f, 5f, 7.5f }, values);
    }

    [Fact]
    public void Blocked_scales_cover_block_size_elements_along_the_axis()
    {
        // [2, 4] with blocks of 2 along axis 1: scales [2, 2].
        var q = QuantizedTensors.FromIntegers("q", DataType.Int8, [1, 1, 1, 1, 2, 2, 2, 2], 2, 4);
        var scale = OnnxTensors.FromFloats("s", [1f, 10f, 100f, 1000f], 2, 2);

        var values = QuantizedTensors.Dequantize(q, scale, null, axis: 1, blockSize: 2);

        Assert.Equal(new[] { 1f, 1f, 10f, 10f, 200f, 200f, 2000f, 2000f }, values);
    }

    [Fact]
    public void Int32_bias_dequantizes_exactly_beyond_float_integer_precision()
    {
        var q = QuantizedTensors.FromIntegers("b", DataType.Int32, [16_777_217, -3], 2);
        var values = QuantizedTensors.Dequantize(q, OnnxTensors.FromFloats("s", [0.5f]), null);
        Assert.Equal(new[] { (float)16_777_217 * 0.5f, -1.5f }, values);
    }

    [Fact]
    public void Quantize_rounds_half_to_even_and_saturates()
    {
        var t = QuantizedTensors.Quantize("q", [0.5f, 1.5f, 2.5f, -1000f, 1000f], [5], [1f], [0], DataType.Int8);
        Assert.Equal(new[] { 0f, 2f, 2f, -128f, 127f }, OnnxTensors.ToFloats(t));

        var u = QuantizedTensors.Quantize("u", [-1f, 0f, 1f], [3], [0.5f], [10], DataType.Uint8);
        Assert.Equal(new[] { 8f, 10f, 12f }, OnnxTensors.ToFloats(u));
    }

    [Fact]
    public void Mismatched_scale_count_names_the_tensor()
    {
        var q = QuantizedTensors.FromIntegers("weights", DataType.Int8, [1, 2, 3, 4], 2, 2);
        var e = Assert.Throws<MlNetTransferException>(() => QuantizedTensors.Dequantize(q, OnnxTensors.FromFloats("s", [1f, 2f, 3f], 3), null, axis: 0));
        Assert.Contains("weights", e.Message);
    }
}
