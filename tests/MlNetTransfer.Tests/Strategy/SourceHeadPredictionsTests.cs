using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Strategy;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Strategy;

public class SourceHeadPredictionsTests
{
    [Fact]
    public void The_original_head_gives_one_probability_row_per_image_through_the_image_pipeline()
    {
        using var dir = new TempDirectory();
        var images = Directory.GetFiles(SyntheticImageDataset.Write(dir.Combine("shapes"), imagesPerClass: 3, size: 48, seed: 2), "*", SearchOption.AllDirectories).Order().ToList();
        var classifier = BackbonePreparer.PrepareClassifier(OnnxModelBuilder.SmallCnn(inputSize: 32, classes: 7), new BackboneSpec { Name = "small", InputHeight = 32, InputWidth = 32 });
        var ml = new MLContext(0);
        var options = new ImageFeaturizerOptions { CacheDirectory = dir.Combine("cache") };

        var probabilities = SourceHeadPredictions.Predict(ml, classifier, images, options);
        Assert.Equal(images.Count, probabilities.Length);
        foreach (var row in probabilities)
        {
            Assert.Equal(7, row.Length);
            Assert.Equal(1.0, row.Sum(v => (double)v), 4);
        }
        Assert.NotEqual(probabilities[0], probabilities[^1]);   // different images, different predictions
        var stats = SourceHeadStatistics.Compute(probabilities);
        Assert.Equal(images.Count, stats.Images);

        // The second run reads the cache (keyed by the classifier's hash) and gives the same rows.
        Assert.Equal(probabilities, SourceHeadPredictions.Predict(ml, classifier, images, options));
    }
}
