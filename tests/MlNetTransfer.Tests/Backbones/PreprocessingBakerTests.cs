using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;

namespace MlNetTransfer.Tests.Backbones;

public class PreprocessingBakerTests
{
    private const int H = 5, W = 7;

    /// <summary>Per-channel values that differ, so a swapped channel or a wrong order changes the answer.</summary>
    private static BackboneSpec Spec(string layout, string order) => new()
    {
        Name = $"pointwise-{layout}-{order}",
        InputHeight = H,
        InputWidth = W,
        Layout = layout,
        ChannelOrder = order,
        PixelScale = 1f / 255f,
        Mean = [0.2f, 0.5f, 0.7f],
        Std = [0.3f, 0.25f, 0.6f],
    };

    [Theory]
    [InlineData("NCHW", "RGB", true)]
    [InlineData("NCHW", "BGR", true)]
    [InlineData("NHWC", "RGB", true)]
    [InlineData("NHWC", "BGR", true)]
    [InlineData("NCHW", "RGB", false)]
    [InlineData("NCHW", "BGR", false)]
    [InlineData("NHWC", "RGB", false)]
    public void Cut_and_baked_featurizer_equals_the_hand_computation(string layout, string order, bool pooled)
    {
        var spec = Spec(layout, order);
        var pixels = TinyModels.RandomPixels(2, H, W, seed: 21);

        var prepared = BackbonePreparer.Prepare(TinyModels.Pointwise(layout, H, W, pooled), spec);
        var embedding = OrtRunner.Run(prepared.FeaturizerModel, "embedding", "pixels", pixels);

        var map = TinyModels.PointwiseConv(TinyModels.Normalize(pixels, spec), 2, H * W);
        var expected = pooled ? TinyModels.SpatialMean(map, 2, TinyModels.Features, H * W) : map;
        Assert.Equal(pooled ? "flat" : "flat_map", prepared.Spec.EmbeddingTensor);
        Assert.Equal([2L, expected.Length / 2], embedding.Dims);
        TinyModels.AssertClose(expected, embedding.Values, 1e-5f);
    }

    [Fact]
    public void Baked_model_gives_the_original_network_the_normalised_image()
    {
        var spec = Spec("NHWC", "BGR");
        var model = TinyModels.Pointwise("NHWC", H, W, pooled: true);
        var pixels = TinyModels.RandomPixels(1, H, W, seed: 22);

        var baked = PreprocessingBaker.Bake(model, spec);

        Assert.Equal("pixels", baked.Graph.Input[0].Name);
        Assert.Equal([-1L, 3, H, W], OnnxNodes.Dims(baked.Graph.Input[0])!);
        Assert.DoesNotContain(baked.Graph.Input, i => i.Name == "image");
        var expected = OrtRunner.Run(model, "probabilities", "image", TinyModels.ToNhwc(TinyModels.Normalize(pixels, spec), 1, 3, H, W));
        TinyModels.AssertClose(expected.Values, OrtRunner.Run(baked, "probabilities", "pixels", pixels).Values, 1e-5f);
    }

    [Fact]
    public void Two_image_inputs_without_InputName_are_named_in_the_error()
    {
        var spec = new BackboneSpec { Name = "twin", InputHeight = 8, InputWidth = 8 };

        var e = Assert.Throws<MlNetTransferException>(() => PreprocessingBaker.Bake(TinyModels.TwoInputs(), spec));
        Assert.Contains("'left'", e.Message);
        Assert.Contains("'right'", e.Message);
        Assert.Contains("InputName", e.Message);

        e = Assert.Throws<MlNetTransferException>(() => BackbonePreparer.Prepare(TinyModels.TwoInputs(), spec));
        Assert.Contains("'left'", e.Message);
    }

    [Fact]
    public void Naming_one_of_two_inputs_still_fails_when_the_other_is_needed()
    {
        var spec = new BackboneSpec { Name = "twin", InputHeight = 8, InputWidth = 8, InputName = "left" };
        var e = Assert.Throws<MlNetTransferException>(() => BackbonePreparer.Prepare(TinyModels.TwoInputs(), spec));
        Assert.Contains("'right'", e.Message);
    }

    [Fact]
    public void Unknown_InputName_is_named_with_the_real_inputs()
    {
        var spec = new BackboneSpec { InputHeight = 64, InputWidth = 64, InputName = "data" };
        var e = Assert.Throws<MlNetTransferException>(() => PreprocessingBaker.Bake(OnnxModelBuilder.SmallCnn(), spec));
        Assert.Contains("'data'", e.Message);
        Assert.Contains("'input'", e.Message);
    }

    [Fact]
    public void Spec_size_or_layout_that_contradicts_the_input_shape_is_rejected()
    {
        var model = OnnxModelBuilder.SmallCnn(inputSize: 64);

        var size = Assert.Throws<MlNetTransferException>(() => PreprocessingBaker.Bake(model, new BackboneSpec { InputHeight = 32, InputWidth = 32 }));
        Assert.Contains("32x32", size.Message);
        Assert.Contains("[N,3,64,64]", size.Message);

        var layout = Assert.Throws<MlNetTransferException>(() => PreprocessingBaker.Bake(model, new BackboneSpec { InputHeight = 64, InputWidth = 64, Layout = "NHWC" }));
        Assert.Contains("Layout", layout.Message);
    }
}
