using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Heads;
using MlNetTransfer.Tests.FineTuning;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Data;

/// <summary>Class weighting: the weights, when they apply, and that the heads and fine-tuning use them.</summary>
public sealed class ClassBalanceTests(SyntheticFixture fixture, FineTuneFixture tuneData) : IClassFixture<SyntheticFixture>, IClassFixture<FineTuneFixture>
{
    private static List<ImageExample> Examples(params (string Label, int Count)[] classes) =>
        classes.SelectMany(c => Enumerable.Range(0, c.Count).Select(i => new ImageExample($"{c.Label}/{i}.png", c.Label))).ToList();

    [Fact]
    public void ImbalancedClassesWeighInverselyToTheirSize()
    {
        var balance = ClassBalance.Measure(Examples(("ants", 30), ("bees", 10)), ClassWeighting.Auto);
        Assert.True(balance.Imbalanced);
        Assert.True(balance.Applied);
        Assert.Equal(3.0, balance.Ratio);
        // n / (C · n_c): 40 / (2 · 30) and 40 / (2 · 10); the weighted classes then count 20 images each.
        Assert.Equal(40f / 60, balance.Weights["ants"], 6);
        Assert.Equal(2f, balance.Weights["bees"], 6);
        Assert.Equal(30, balance.TrainImages["ants"]);
        Assert.Contains("macro-F1", balance.Note);
    }

    [Fact]
    public void BelowTheRatioOrSwitchedOffEveryImageWeighsOne()
    {
        var mild = ClassBalance.Measure(Examples(("a", 14), ("b", 10)), ClassWeighting.Auto);
        Assert.False(mild.Imbalanced);
        Assert.False(mild.Applied);
        Assert.All(mild.Weights.Values, w => Assert.Equal(1f, w));

        var exactly = ClassBalance.Measure(Examples(("a", 15), ("b", 10)), ClassWeighting.Auto);
        Assert.True(exactly.Applied);

        var off = ClassBalance.Measure(Examples(("a", 30), ("b", 10)), ClassWeighting.Off);
        Assert.True(off.Imbalanced);
        Assert.False(off.Applied);
        Assert.All(off.Weights.Values, w => Assert.Equal(1f, w));
        Assert.Contains("off", off.Note);
    }

    /// <summary>A manifest with every image of two classes and a quarter of the third's.</summary>
    private static string ImbalancedManifest(string dataDir, string file)
    {
        var rows = Directory.GetDirectories(dataDir).Order(StringComparer.Ordinal).SelectMany((d, k) =>
            Directory.GetFiles(d).Order(StringComparer.Ordinal).Where((_, i) => k != 0 || i % 4 == 0).Select(f => $"{f},{Path.GetFileName(d)}"));
        File.WriteAllLines(file, ["path,label", .. rows]);
        return file;
    }

    [Fact]
    public void WeightedHeadTrainsOnTheWeightsAndItsZipPredictsFromAnImageAlone()
    {
        using var dir = new TempDirectory();
        var manifest = ImbalancedManifest(fixture.DataDir, dir.Combine("imbalanced.csv"));
        TransferLearningResult Train(ClassWeighting weighting) => new MLContext(1).TransferLearning().Train(new TransferLearningOptions
        {
            DataPath = manifest,
            Backbone = BackboneResolver.SyntheticName,
            Head = { Trainer = HeadTrainer.Lbfgs, CrossValidationFolds = 0 },
            Featurizer = { CacheDirectory = fixture.CacheDir },
            ClassWeights = weighting,
        });
        var weighted = Train(ClassWeighting.Auto);
        var plain = Train(ClassWeighting.Off);
        Assert.True(weighted.Report.ClassBalance!.Applied, weighted.Report.ClassBalance.Note);
        Assert.False(plain.Report.ClassBalance!.Applied);
        Assert.True(weighted.Report.ClassBalance.Weights["blue_triangle"] > 2);

        var zip = dir.Combine("weighted.zip");
        weighted.Save(zip, dir.Combine("report.json"));
        Assert.Contains("\"classBalance\"", File.ReadAllText(dir.Combine("report.json")));
        using var fromZip = ImageClassifier.Load(new MLContext(), zip);
        var images = Directory.GetFiles(fixture.DataDir, "*.png", SearchOption.AllDirectories).Order().Take(6).ToList();
        var weightedScores = fromZip.PredictBatch(images);
        var plainScores = plain.ToClassifier().PredictBatch(images);
        // Same data, same seed: only the example weights differ, and they move the head.
        var moved = weightedScores.Zip(plainScores, (a, b) => a.Scores.Zip(b.Scores, (x, y) => Math.Abs(x.Value - y.Value)).Max()).Max();
        Assert.True(moved > 1e-4, $"weighted and unweighted heads score alike (max |Δ| {moved})");
    }

    [Fact]
    public void FineTuningLossUsesTheClassWeights()
    {
        using var dir = new TempDirectory();
        var manifest = ImbalancedManifest(tuneData.DataDir, dir.Combine("imbalanced.csv"));
        TransferLearningResult Train(ClassWeighting weighting)
        {
            var options = new TransferLearningOptions
            {
                DataPath = manifest,
                Backbone = tuneData.BackboneFile("cnn"),
                Strategy = TransferLearningOptions.FineTuneStrategy,
                Seed = 4,
                FineTune = FineTuneFixture.Options(epochs: 1),
                Featurizer = { CacheDirectory = null, DegreeOfParallelism = 2 },
                ClassWeights = weighting,
            };
            return new MLContext(1).TransferLearning().Train(options);
        }
        var weighted = Train(ClassWeighting.Auto);
        var plain = Train(ClassWeighting.Off);
        Assert.True(weighted.Report.ClassBalance!.Applied);
        // The validation loss is measured unweighted and after the same seed's identical first batch order: the training
        // loss differs because the batches' cross-entropy is weighted, and so do the trained weights.
        Assert.NotEqual(plain.Report.LearningCurve[0].TrainLoss, weighted.Report.LearningCurve[0].TrainLoss);
        Assert.NotEqual(plain.Report.LearningCurve[0].ValidationLoss, weighted.Report.LearningCurve[0].ValidationLoss);
    }
}
