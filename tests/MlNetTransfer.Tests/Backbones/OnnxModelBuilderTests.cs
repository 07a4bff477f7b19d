using MlNetTransfer.Backbones.Onnx;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Backbones;

public class OnnxModelBuilderTests
{
    [Theory]
    [InlineData("NCHW")]
    [InlineData("NHWC")]
    public void SmallCnn_runs_in_onnx_runtime_with_softmax_of_logits(string layout)
    {
        var model = OnnxModelBuilder.SmallCnn(inputSize: 32, classes: 5, layout: layout);
        var dims = layout == "NHWC" ? new long[] { 2, 32, 32, 3 } : [2, 3, 32, 32];
        var input = new FloatTensor(TinyModels.RandomPixels(2, 32, 32, seed: 1).Values.Select(v => v / 255f).ToArray(), dims);

        var outputs = OrtRunner.Run(model, ("input", input));

        Assert.Equal([2L, 5], outputs["logits"].Dims);
        Assert.Equal([2L, 5], outputs["probabilities"].Dims);
        for (int row = 0; row < 2; row++)
        {
            var logits = outputs["logits"].Values.Skip(row * 5).Take(5).ToArray();
            var max = logits.Max();
            var exp = logits.Select(l => Math.Exp(l - max)).ToArray();
            var softmax = exp.Select(e => (float)(e / exp.Sum())).ToArray();
            TinyModels.AssertClose(softmax, outputs["probabilities"].Values.Skip(row * 5).Take(5).ToArray(), 1e-5f);
        }
        Assert.True(outputs["logits"].Values.Distinct().Count() > 5, "logits should depend on the weights, not be constant");
    }

    [Fact]
    public void SmallCnn_NHWC_variant_is_the_same_network_behind_a_transpose()
    {
        var pixels = TinyModels.RandomPixels(1, 16, 16, seed: 2);
        var nchw = OrtRunner.Run(OnnxModelBuilder.SmallCnn(inputSize: 16, seed: 4), "logits", "input", pixels);
        var nhwc = OrtRunner.Run(OnnxModelBuilder.SmallCnn(inputSize: 16, seed: 4, layout: "NHWC"), "logits", "input",
            TinyModels.ToNhwc(pixels.Values, 1, 3, 16, 16));
        TinyModels.AssertClose(nchw.Values, nhwc.Values, 1e-4f);
    }

    [Fact]
    public void SmallCnn_weights_are_deterministic_per_seed()
    {
        var a = OnnxModelFile.ToBytes(OnnxModelBuilder.SmallCnn(seed: 11));
        var b = OnnxModelFile.ToBytes(OnnxModelBuilder.SmallCnn(seed: 11));
        var c = OnnxModelBuilder.SmallCnn(seed: 12);
        Assert.Equal(a, b);
        var w11 = OnnxTensors.ToFloats(OnnxModelFile.Parse(a).Graph.Initializer.First(t => t.Name == "block1/conv/W"));
        var w12 = OnnxTensors.ToFloats(c.Graph.Initializer.First(t => t.Name == "block1/conv/W"));
        Assert.NotEqual(w11, w12);
        // He initialisation: standard deviation sqrt(2 / fan_in), fan_in = 3 * 3 * 3.
        var std = Math.Sqrt(w11.Select(v => (double)v * v).Average());
        Assert.InRange(std, 0.6 * Math.Sqrt(2.0 / 27), 1.4 * Math.Sqrt(2.0 / 27));
    }

    [Fact]
    public void SmallCnn_has_named_blocks_opset_13_and_ir_8()
    {
        var model = OnnxModelBuilder.SmallCnn(channels: [4, 6]);
        Assert.Equal(8, model.IrVersion);
        Assert.Equal(13, model.OpsetImport.Single(o => o.Domain == "").Version);
        Assert.Equal(["block1/conv", "block1/bn", "block1/relu", "block1/pool", "block2/conv", "block2/bn", "block2/relu",
                      "head/gap", "head/flatten", "head/fc", "head/softmax"], model.Graph.Node.Select(n => n.Name));
        Assert.Equal(["logits", "probabilities"], model.Graph.Output.Select(o => o.Name));
    }

    [Fact]
    public void SmallCnn_round_trips_through_OnnxModelFile()
    {
        using var dir = new TempDirectory();
        var model = OnnxModelBuilder.SmallCnn(inputSize: 16);
        var path = dir.Combine("small.onnx");
        OnnxModelFile.Save(model, path);
        var loaded = OnnxModelFile.Load(path);

        Assert.Equal(OnnxModelFile.ToBytes(model), OnnxModelFile.ToBytes(loaded));
        Assert.Equal(OnnxModelFile.Sha256(OnnxModelFile.ToBytes(model)), OnnxModelFile.Sha256OfFile(path));
        var pixels = TinyModels.RandomPixels(1, 16, 16, seed: 3);
        Assert.Equal(OrtRunner.Run(model, "probabilities", "input", pixels).Values, OrtRunner.Run(loaded, "probabilities", "input", pixels).Values);
    }

    [Fact]
    public void Build_rejects_a_node_reading_an_undefined_tensor()
    {
        var b = new OnnxModelBuilder();
        b.Input("x", DataType.Float, -1, 3);
        b.Relu("relu", "typo");
        b.Output("relu", DataType.Float, -1, 3);
        var e = Assert.Throws<InvalidOperationException>(() => b.Build());
        Assert.Contains("typo", e.Message);
    }
}
