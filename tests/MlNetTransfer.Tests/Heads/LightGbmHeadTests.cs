using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Heads;
using MlNetTransfer.Strategy;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Heads;

/// <summary>The LightGBM head on generated shapes and a generated CNN: trained, saved, loaded and predicting like any other.</summary>
public sealed class LightGbmHeadTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    private TransferLearningOptions Options() => new()
    {
        DataPath = fixture.DataDir,
        Backbone = BackboneResolver.SyntheticName,
        Head = { Trainer = HeadTrainer.LightGbm },
        Featurizer = { CacheDirectory = fixture.CacheDir },
    };

    [Fact]
    public void SavedZipLoadsAndPredictsAsTheTrainedModel()
    {
        using var dir = new TempDirectory();
        var result = new MLContext(1).TransferLearning().Train(Options());
        Assert.Equal("LightGbmMulticlass", result.Metadata.Trainer);
        Assert.Equal("lightgbm", result.Report.Trainer.Name);
        var cv = result.Report.Trainer.CrossValidation!;
        Assert.Equal(1 + HeadCrossValidation.L2Grid(HeadTrainer.LightGbm).Count, cv.Grid.Count);
        Assert.Equal(cv.L2Regularization, result.Report.Trainer.L2Regularization);

        var fromZip = SavedZip.AssertPredictsAsTrained(result, fixture.DataDir, dir);
        Assert.All(fromZip, p => Assert.Equal(1.0, p.Scores.Sum(s => s.Value), 3));
        // Every image of the data set, through the loaded zip: colour-coded shapes, chance is 1/3.
        var correct = fromZip.Count(p => Path.GetFileName(Path.GetDirectoryName(p.ImagePath)) == p.Label);
        Assert.True(correct >= 0.85 * fromZip.Count, $"{correct} of {fromZip.Count} right");
    }

    [Fact]
    public void TheTreesAreACandidateOfAutoAndTheExperimentAndKeepTheSearchTimeLimit()
    {
        Assert.Contains(HeadTrainer.LightGbm, new AutoSearchOptions().Heads);
        Assert.Contains(AutoCandidate.Experiment(new AutoSearchOptions()), c => c.Head == HeadTrainer.LightGbm);

        // A spent time limit skips the search, as for the linear heads; the trees then train at their defaults.
        var options = Options();
        options.Head.CrossValidationTimeLimit = TimeSpan.Zero;
        var result = new MLContext(1).TransferLearning().Train(options);
        var cv = result.Report.Trainer.CrossValidation!;
        Assert.Empty(cv.Grid);
        Assert.Contains("skipped", cv.Note);
        Assert.Null(result.Report.Trainer.L2Regularization);
    }

    [Fact]
    public void CliTrainsTheTreeHead()
    {
        using var dir = new TempDirectory();
        var run = CliRunner.Run(dir.Path, "train", "--data", fixture.DataDir, "--backbone", BackboneResolver.SyntheticName, "--trainer", "lightgbm",
            "--cache-dir", fixture.CacheDir, "--out", "m.zip");
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Equal("LightGbmMulticlass", ModelMetadata.Read(Path.Combine(dir.Path, "m.zip"))!.Trainer);
    }
}
