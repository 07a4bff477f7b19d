using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Backbones;

public class BackbonePreparerTests
{
    private static readonly BackboneSpec SmallSpec = new() { Name = "small", InputHeight = 32, InputWidth = 32 };

    [Fact]
    public void Prepare_makes_a_pixels_to_embedding_featurizer_from_the_top_candidate()
    {
        var prepared = BackbonePreparer.Prepare(OnnxModelBuilder.SmallCnn(inputSize: 32), SmallSpec);

        Assert.Equal(32, prepared.EmbeddingSize);
        Assert.Equal("head/flatten", prepared.Spec.EmbeddingTensor);
        Assert.Equal("head/flatten", prepared.OriginalInfo.EmbeddingCandidates[0].TensorName);
        var graph = prepared.FeaturizerModel.Graph;
        Assert.Equal(["pixels"], graph.Input.Select(i => i.Name));
        Assert.Equal([-1L, 3, 32, 32], OnnxNodes.Dims(graph.Input[0])!);
        Assert.Equal(["embedding"], graph.Output.Select(o => o.Name));
        Assert.Equal(OnnxModelFile.ToBytes(prepared.FeaturizerModel), prepared.FeaturizerBytes);
        Assert.Equal(OnnxModelFile.Sha256(prepared.FeaturizerBytes), prepared.Sha256);
        Assert.Matches("^[0-9a-f]{64}$", prepared.Sha256);

        var embedding = OrtRunner.Run(OnnxModelFile.Parse(prepared.FeaturizerBytes), "embedding", "pixels", TinyModels.RandomPixels(3, 32, 32, 4));
        Assert.Equal([3L, 32], embedding.Dims);
    }

    [Fact]
    public void Prepare_cuts_where_the_spec_says()
    {
        var prepared = BackbonePreparer.Prepare(OnnxModelBuilder.SmallCnn(inputSize: 32), SmallSpec with { EmbeddingTensor = "block2/relu" });
        Assert.Equal(16, prepared.EmbeddingSize);
        Assert.Equal("block2/relu", prepared.Spec.EmbeddingTensor);
        Assert.DoesNotContain(prepared.FeaturizerModel.Graph.Node, n => n.Name.StartsWith("block3"));
    }

    [Fact]
    public void Prepare_is_deterministic()
    {
        var a = BackbonePreparer.Prepare(OnnxModelBuilder.SmallCnn(inputSize: 32), SmallSpec);
        var b = BackbonePreparer.Prepare(OnnxModelBuilder.SmallCnn(inputSize: 32), SmallSpec);
        Assert.Equal(a.Sha256, b.Sha256);
    }

    [Fact]
    public void Prepare_handles_a_quantized_backbone()
    {
        var spec = new BackboneSpec { Name = "tiny-int8", InputHeight = 4, InputWidth = 5 };
        var prepared = BackbonePreparer.Prepare(TinyModels.Quantized(4, 5), spec);

        Assert.Equal("conv_q", prepared.Spec.EmbeddingTensor);
        Assert.Equal(TinyModels.Features, prepared.EmbeddingSize);
        var embedding = OrtRunner.Run(prepared.FeaturizerModel, "embedding", "pixels", TinyModels.RandomPixels(2, 4, 5, 8));
        Assert.Equal([2L, TinyModels.Features], embedding.Dims);
        Assert.All(embedding.Values, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void PrepareClassifier_reproduces_the_networks_probabilities_from_raw_pixels()
    {
        var model = OnnxModelBuilder.SmallCnn(inputSize: 32, classes: 7);
        var pixels = TinyModels.RandomPixels(2, 32, 32, seed: 6);

        var classifier = BackbonePreparer.PrepareClassifier(model, SmallSpec);

        Assert.Equal(7, classifier.ClassCount);
        Assert.Equal("logits", classifier.Spec.ClassifierTensor);
        Assert.Equal(["probabilities"], classifier.ClassifierModel.Graph.Output.Select(o => o.Name));
        var expected = OrtRunner.Run(model, "probabilities", "input", new FloatTensor(TinyModels.Normalize(pixels, SmallSpec), pixels.Dims));
        var actual = OrtRunner.Run(classifier.ClassifierModel, "probabilities", "pixels", pixels);
        Assert.Equal([2L, 7], actual.Dims);
        TinyModels.AssertClose(expected.Values, actual.Values, 1e-5f);
    }

    [Fact]
    public void PrepareClassifier_does_not_apply_softmax_twice_to_probabilities()
    {
        var model = OnnxModelBuilder.SmallCnn(inputSize: 32, classes: 7);
        var pixels = TinyModels.RandomPixels(1, 32, 32, seed: 7);
        var spec = SmallSpec with { ClassifierTensor = "probabilities", ClassifierOutputsProbabilities = true };

        var classifier = BackbonePreparer.PrepareClassifier(model, spec);

        Assert.Single(classifier.ClassifierModel.Graph.Node, n => n.OpType == "Softmax");
        var expected = OrtRunner.Run(model, "probabilities", "input", new FloatTensor(TinyModels.Normalize(pixels, spec), pixels.Dims));
        TinyModels.AssertClose(expected.Values, OrtRunner.Run(classifier.ClassifierModel, "probabilities", "pixels", pixels).Values, 1e-5f);
    }

    [Fact]
    public void Saved_featurizer_loads_back_identically()
    {
        using var dir = new TempDirectory();
        var prepared = BackbonePreparer.Prepare(OnnxModelBuilder.SmallCnn(inputSize: 32), SmallSpec);
        var path = dir.Combine("featurizer.onnx");

        prepared.SaveFeaturizer(path);

        Assert.Equal(prepared.Sha256, OnnxModelFile.Sha256OfFile(path));
        Assert.Equal(prepared.FeaturizerBytes, OnnxModelFile.ToBytes(OnnxModelFile.Load(path)));
    }
}
