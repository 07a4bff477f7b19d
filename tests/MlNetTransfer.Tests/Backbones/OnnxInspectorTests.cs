using MlNetTransfer.Backbones.Onnx;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.Backbones;

public class OnnxInspectorTests
{
    [Fact]
    public void Finds_the_classifier_input_of_a_small_cnn_and_measures_it()
    {
        var info = OnnxInspector.Inspect(OnnxModelBuilder.SmallCnn());

        var top = info.EmbeddingCandidates[0];
        Assert.Equal("head/flatten", top.TensorName);
        Assert.Equal("Flatten", top.ProducerOp);
        Assert.Contains("Gemm 'head/fc'", top.Reason);
        Assert.Equal([1L, 32], top.Dims!);
        Assert.Equal("float", top.ElementType);
        Assert.Equal(32, top.EmbeddingSize);
        Assert.Equal("head/gap", info.EmbeddingCandidates[1].TensorName);
        Assert.Equal([1L, 32, 1, 1], info.EmbeddingCandidates[1].Dims!);
        Assert.Equal("logits", info.ClassifierTensor);
        Assert.Equal(10, info.ClassCount);
        Assert.Null(info.ProbeError);
    }

    [Fact]
    public void Reports_interface_size_and_operators()
    {
        var info = OnnxInspector.Inspect(OnnxModelBuilder.SmallCnn(), measuredCandidates: 0);

        var input = Assert.Single(info.Inputs);
        Assert.Equal(("input", "float", "[N,3,64,64]"), (input.Name, input.ElementType, input.Shape));
        Assert.Equal([-1L, 3, 64, 64], input.Dims);
        Assert.Equal(["logits", "probabilities"], info.Outputs.Select(o => o.Name));
        Assert.Equal(13, info.Opsets["ai.onnx"]);
        Assert.Equal(15, info.NodeCount);
        // conv weights 8*3*9 + 16*8*9 + 32*16*9, batch norm 4 * (8+16+32), dense 32*10 + 10.
        Assert.Equal(216 + 1152 + 4608 + 224 + 330, info.ParameterCount);
        var ops = info.OpHistogram.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(3, ops["Conv"]);
        Assert.Equal(2, ops["MaxPool"]);
        Assert.Equal(1, ops["Gemm"]);
        Assert.True(info.EmbeddingCandidates.All(c => c.Dims is null), "nothing is measured when asked not to");
    }

    [Fact]
    public void Prefers_the_8bit_map_entering_QLinearGlobalAveragePool_in_a_quantized_graph()
    {
        var info = OnnxInspector.Inspect(TinyModels.Quantized(4, 5), new() { InputHeight = 4, InputWidth = 5 });

        var top = info.EmbeddingCandidates[0];
        Assert.Equal("conv_q", top.TensorName);
        Assert.Equal("QLinearConv", top.ProducerOp);
        Assert.Contains("QLinearGlobalAveragePool 'gap_quant'", top.Reason);
        Assert.Equal("uint8", top.ElementType);
        Assert.Equal([1L, 4, 4, 5], top.Dims!);
        Assert.Equal(4, top.EmbeddingSize);
        Assert.Equal("flat", info.EmbeddingCandidates[1].TensorName);
        Assert.Equal(1, info.Opsets["com.microsoft"]);
        Assert.Contains(info.OpHistogram, p => p.Key == "com.microsoft.QLinearGlobalAveragePool" && p.Value == 1);
    }

    [Fact]
    public void Follows_a_keras_style_head_of_MatMul_Add_Softmax_Reshape()
    {
        var info = OnnxInspector.Inspect(TinyModels.KerasLike(5, 7), new() { InputHeight = 5, InputWidth = 7, Layout = "NHWC" });

        var top = info.EmbeddingCandidates[0];
        Assert.Equal("gap", top.TensorName);
        Assert.Contains("MatMul 'dense'", top.Reason);
        Assert.Equal([1L, 4], top.Dims!);
        Assert.Equal("dense_bias", info.ClassifierTensor);
        Assert.Equal(TinyModels.Classes, info.ClassCount);
    }

    [Fact]
    public void Takes_the_output_of_a_headless_feature_extractor()
    {
        var b = new OnnxModelBuilder();
        var x = b.Conv("conv", b.Input("image", DataType.Float, -1, 3, 8, 8), 3, 6);
        b.Flatten("features", b.GlobalAveragePool("gap", b.Relu("relu", x)));
        var info = OnnxInspector.Inspect(b.Output("features", DataType.Float, -1, 6).Build());

        Assert.Equal("features", info.EmbeddingCandidates[0].TensorName);
        Assert.Contains("feature extractor", info.EmbeddingCandidates[0].Reason);
        Assert.Equal(6, info.EmbeddingCandidates[0].EmbeddingSize);
        Assert.Null(info.ClassifierTensor);
    }

    [Fact]
    public void Prints_a_summary_and_the_candidates()
    {
        var info = OnnxInspector.Inspect(OnnxModelBuilder.SmallCnn());
        var text = info.ToString();

        Assert.Contains("parameters: 6,530", text);
        Assert.Contains("1. head/flatten float [1,32] -> 32-d", text);
        Assert.Contains(info.Summary(), row => row.Key == "classifier" && row.Value == "logits (10 classes)");
    }
}
