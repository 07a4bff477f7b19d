using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.Backbones;

public class OnnxGraphCutterTests
{
    [Fact]
    public void Cut_leaves_one_embedding_output_and_prunes_the_classifier()
    {
        var cut = OnnxGraphCutter.Cut(OnnxModelBuilder.SmallCnn(), "head/flatten");

        var output = Assert.Single(cut.Graph.Output);
        Assert.Equal("embedding", output.Name);
        Assert.Equal([-1L, 32], OnnxNodes.Dims(output)!);
        Assert.DoesNotContain(cut.Graph.Node, n => n.OpType is "Gemm" or "Softmax");
        Assert.DoesNotContain(cut.Graph.Initializer, t => t.Name.StartsWith("head/fc"));
        Assert.Equal(["input"], cut.Graph.Input.Select(i => i.Name));
        var embedding = OrtRunner.Run(cut, "embedding", "input", TinyModels.RandomPixels(2, 64, 64, seed: 1));
        Assert.Equal([2L, 32], embedding.Dims);
    }

    [Fact]
    public void Cutting_at_a_4D_map_averages_it_like_the_networks_own_pooling()
    {
        var model = OnnxModelBuilder.SmallCnn(inputSize: 32);
        var pixels = TinyModels.RandomPixels(2, 32, 32, seed: 5);

        var fromMap = OnnxGraphCutter.Cut(model, "block3/relu");
        var fromPool = OnnxGraphCutter.Cut(model, "head/flatten");

        Assert.Contains(fromMap.Graph.Node, n => n.OpType == "GlobalAveragePool" && n.Name.StartsWith("cut/"));
        TinyModels.AssertClose(OrtRunner.Run(fromPool, "embedding", "input", pixels).Values, OrtRunner.Run(fromMap, "embedding", "input", pixels).Values, 1e-5f);
    }

    [Fact]
    public void Cutting_a_quantized_map_dequantizes_with_the_QLinearConv_output_scale_then_averages_in_float()
    {
        var model = TinyModels.Quantized(4, 5);
        var input = QuantizableInput(2, 4, 5);

        var cut = OnnxGraphCutter.Cut(model, "conv_q", new BackboneSpec { InputHeight = 4, InputWidth = 5 });

        var dq = Assert.Single(cut.Graph.Node, n => n.OpType == "DequantizeLinear");
        Assert.Equal(["conv_q", "conv_scale", "conv_zero_point"], dq.Input);
        Assert.DoesNotContain(cut.Graph.Node, n => n.OpType == "QLinearGlobalAveragePool");
        var embedding = OrtRunner.Run(cut, "embedding", "image", input);
        Assert.Equal([2L, TinyModels.Features], embedding.Dims);
        TinyModels.AssertClose(TinyModels.QuantizedEmbedding(input), embedding.Values, 1e-5f);
    }

    [Fact]
    public void Cutting_the_8bit_pooled_vector_uses_the_QLinearGlobalAveragePool_output_scale_and_is_coarser()
    {
        var model = TinyModels.Quantized(4, 5);
        var input = QuantizableInput(2, 4, 5);

        var cut = OnnxGraphCutter.Cut(model, "gap_q", new BackboneSpec { InputHeight = 4, InputWidth = 5 });

        Assert.Equal(["gap_q", "gap_scale", "gap_zero_point"], Assert.Single(cut.Graph.Node, n => n.OpType == "DequantizeLinear").Input);
        var pooled = OrtRunner.Run(cut, "embedding", "image", input).Values;
        var exact = TinyModels.QuantizedEmbedding(input);
        for (int i = 0; i < pooled.Length; i++)
        {
            Assert.True(Math.Abs(pooled[i] - exact[i]) <= TinyModels.PoolScale, $"element {i}: {pooled[i]} vs {exact[i]}");
            var steps = pooled[i] / TinyModels.PoolScale;
            Assert.True(Math.Abs(steps - MathF.Round(steps)) < 1e-3, "the 8-bit pooled value lies on its quantization grid");
        }
    }

    [Fact]
    public void Cutting_at_QuantizeLinear_output_uses_its_scale_and_zero_point()
    {
        var input = QuantizableInput(1, 4, 5);
        var cut = OnnxGraphCutter.Cut(TinyModels.Quantized(4, 5), "image_q", new BackboneSpec { InputHeight = 4, InputWidth = 5 });

        var embedding = OrtRunner.Run(cut, "embedding", "image", input);
        // Inputs are exact multiples of the input scale, so dequantize(quantize(x)) == x.
        TinyModels.AssertClose(TinyModels.SpatialMean(input.Values, 1, 3, 20), embedding.Values, 1e-6f);
    }

    [Fact]
    public void Cutting_a_channels_last_map_averages_over_height_and_width()
    {
        const int h = 5, w = 7;
        var model = TinyModels.KerasLike(h, w);
        var pixels = TinyModels.RandomPixels(2, h, w, seed: 9);
        var x = pixels.Values.Select(v => v / 255f).ToArray();

        var cut = OnnxGraphCutter.Cut(model, "features_nhwc", new BackboneSpec { InputHeight = h, InputWidth = w, Layout = "NHWC" });

        var embedding = OrtRunner.Run(cut, "embedding", "input_1", TinyModels.ToNhwc(x, 2, 3, h, w));
        var expected = TinyModels.SpatialMean(TinyModels.PointwiseConv(x, 2, h * w), 2, TinyModels.Features, h * w);
        TinyModels.AssertClose(expected, embedding.Values, 1e-5f);
    }

    [Fact]
    public void A_tensor_already_named_embedding_can_be_cut_at()
    {
        var b = new OnnxModelBuilder();
        var x = b.Conv("conv", b.Input("image", DataType.Float, -1, 3, 6, 6), 3, 5);
        x = b.Flatten("flatten", b.GlobalAveragePool("gap", x), output: "embedding");
        b.Gemm("fc", x, 5, 2, output: "logits");
        var model = b.Output("logits", DataType.Float, -1, 2).Build();

        var cut = OnnxGraphCutter.Cut(model, "embedding");

        Assert.Equal("embedding", Assert.Single(cut.Graph.Output).Name);
        Assert.Equal([1L, 5], OrtRunner.Run(cut, "embedding", "image", TinyModels.RandomPixels(1, 6, 6, 1)).Dims);
    }

    [Fact]
    public void Unknown_tensor_is_reported_by_name_with_similar_names()
    {
        var e = Assert.Throws<MlNetTransferException>(() => OnnxGraphCutter.Cut(OnnxModelBuilder.SmallCnn(), "flatten"));
        Assert.Contains("'flatten'", e.Message);
        Assert.Contains("'head/flatten'", e.Message);

        e = Assert.Throws<MlNetTransferException>(() => OnnxGraphCutter.Cut(OnnxModelBuilder.SmallCnn(), "no_such_tensor"));
        Assert.Contains("'no_such_tensor'", e.Message);
    }

    [Fact]
    public void A_weight_is_not_an_embedding()
    {
        var e = Assert.Throws<MlNetTransferException>(() => OnnxGraphCutter.Cut(OnnxModelBuilder.SmallCnn(), "head/fc/W"));
        Assert.Contains("'head/fc/W'", e.Message);
        Assert.Contains("constant", e.Message);
    }

    /// <summary>Values k/32 with k in -100..100: exactly representable after quantizing with scale 1/32, zero point 128.</summary>
    private static FloatTensor QuantizableInput(int n, int h, int w)
    {
        var random = new Random(17);
        var values = Enumerable.Range(0, n * 3 * h * w).Select(_ => random.Next(-100, 101) * TinyModels.InputScale).ToArray();
        return new FloatTensor(values, [n, 3, h, w]);
    }
}
