using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Tests.TestSupport;
using SkiaSharp;

namespace MlNetTransfer.Tests.Pipeline;

public sealed class PretrainedClassifierTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    private static readonly string[] Labels = Enumerable.Range(0, 10).Select(i => $"class {i}, with a comma").ToArray();

    private string WriteBackbone(TempDirectory dir)
    {
        var onnx = dir.Combine("net.onnx");
        File.Copy(fixture.BackbonePath, onnx);
        File.WriteAllLines(dir.Combine("labels.txt"), Labels);
        File.WriteAllText(BackboneResolver.SidecarPath(onnx),
            """{ "name": "tiny", "inputWidth": 64, "inputHeight": 64, "mean": [0.5,0.5,0.5], "std": [0.25,0.25,0.25], "classifierTensor": "logits", "labelsFile": "labels.txt" }""");
        return onnx;
    }

    [Fact]
    public void PredictsWhatTheNetworkItselfComputesAndSavesToAZip()
    {
        using var dir = new TempDirectory();
        var onnx = WriteBackbone(dir);
        var classifier = new MLContext().TransferLearning().Pretrained(onnx);
        var images = Directory.GetFiles(fixture.DataDir, "*.png", SearchOption.AllDirectories).Order().Take(6).ToArray();
        var predictions = classifier.PredictBatch(images);

        // The reference: ONNX Runtime on the original graph, fed the same ML.NET-resized pixels normalised by hand.
        using var session = new InferenceSession(onnx);
        var ml = new MLContext();
        var pixels = ml.Transforms.LoadImages("image", null, "ImagePath")
            .Append(ml.Transforms.ResizeImages("image", 64, 64))
            .Append(ml.Transforms.ExtractPixels("pixels", "image"))
            .Fit(ml.Data.LoadFromEnumerable(images.Select(p => new Row { ImagePath = p })));
        var raw = ml.Data.CreateEnumerable<PixelRow>(pixels.Transform(ml.Data.LoadFromEnumerable(images.Select(p => new Row { ImagePath = p }))), false).ToArray();
        for (int i = 0; i < images.Length; i++)
        {
            var input = new DenseTensor<float>(raw[i].pixels.Select(p => (p / 255f - 0.5f) / 0.25f).ToArray(), [1, 3, 64, 64]);
            using var output = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
            var logits = output.First(o => o.Name == "logits").AsTensor<float>().ToArray();
            var expected = Array.IndexOf(logits, logits.Max());
            Assert.Equal(Labels[expected], predictions[i].Label);
            var softmax = logits.Select(l => MathF.Exp(l - logits.Max())).ToArray();
            Assert.Equal(softmax[expected] / softmax.Sum(), predictions[i].Confidence, 4);
        }

        var zip = dir.Combine("pretrained.zip");
        classifier.Save(zip);
        File.Delete(onnx);
        var reloaded = ImageClassifier.Load(new MLContext(), zip);
        Assert.Equal("pretrained-classifier", reloaded.Metadata.Kind);
        Assert.Equal(predictions.Select(p => p.Label), reloaded.PredictBatch(images).Select(p => p.Label));
    }

    [Fact]
    public void ABackboneWithoutLabelsCannotBeAClassifier()
    {
        var e = Assert.Throws<MlNetTransferException>(() => new MLContext().TransferLearning().Pretrained(fixture.BackbonePath));
        Assert.Contains("labels", e.Message);
    }

    private sealed class Row { public string ImagePath { get; set; } = ""; }
    private sealed class PixelRow { public float[] pixels { get; set; } = []; }
}
