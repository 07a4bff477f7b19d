using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Heads;

public sealed class HeadCrossValidationTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    private TransferLearningOptions Options(HeadTrainer trainer) => new()
    {
        DataPath = fixture.DataDir,
        Backbone = BackboneResolver.SyntheticName,
        Head = { Trainer = trainer },
        Featurizer = { CacheDirectory = fixture.CacheDir },
    };

    [Fact]
    public void FoldsHoldEachClassShareToWithinOneRowAndFollowTheSeed()
    {
        uint[] labels = [.. Enumerable.Repeat(0u, 7), .. Enumerable.Repeat(1u, 5), .. Enumerable.Repeat(2u, 3), .. Enumerable.Repeat(0u, 4)];
        var folds = HeadCrossValidation.StratifiedFolds(labels, 5, seed: 1);
        Assert.All(folds, f => Assert.InRange(f, 0, 4));
        foreach (var cls in labels.Distinct())
        {
            var perFold = Enumerable.Range(0, 5).Select(k => Enumerable.Range(0, labels.Length).Count(i => labels[i] == cls && folds[i] == k)).ToList();
            Assert.True(perFold.Max() - perFold.Min() <= 1, $"class {cls}: {string.Join(",", perFold)}");
        }
        // Small classes continue the deal: the 3 rows of class 2 do not all start at fold 0 with the others.
        var sizes = Enumerable.Range(0, 5).Select(k => folds.Count(f => f == k)).ToList();
        Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(",", sizes));
        Assert.Equal(folds, HeadCrossValidation.StratifiedFolds(labels, 5, seed: 1));
        Assert.NotEqual(folds, HeadCrossValidation.StratifiedFolds(labels, 5, seed: 2));
    }

    [Theory]
    [InlineData(HeadTrainer.Sdca)]
    [InlineData(HeadTrainer.Lbfgs)]
    [InlineData(HeadTrainer.Svm)]
    public void TheHeadIsTrainedWithTheBestCrossValidatedRegularisationAndTheReportShowsEveryValue(HeadTrainer trainer)
    {
        var options = Options(trainer);
        options.Head.CrossValidationFolds = 3;
        var report = new MLContext(1).TransferLearning().Train(options).Report;

        var cv = Assert.IsType<HeadCrossValidationReport>(report.Trainer.CrossValidation);
        Assert.Equal(3, cv.Folds);
        Assert.Equal(1 + HeadCrossValidation.L2Grid(trainer).Count + HeadCrossValidation.L1Grid(trainer).Count, cv.Grid.Count);
        Assert.Null(cv.Grid[0].L2Regularization);
        Assert.Null(cv.Grid[0].L1Regularization);
        Assert.Equal(HeadCrossValidation.L2Grid(trainer).Select(v => (float?)v), cv.Grid.Skip(1).Take(HeadCrossValidation.L2Grid(trainer).Count).Select(p => p.L2Regularization));
        Assert.All(cv.Grid, p => Assert.InRange(p.MeanAccuracy, 0, 1));
        // The winner: the highest mean, ties to the first tried; the final head is trained with exactly its values.
        var best = cv.Grid.First(p => p.MeanAccuracy == cv.Grid.Max(q => q.MeanAccuracy));
        Assert.Equal(best.MeanAccuracy, cv.Score);
        Assert.Equal(best.L2Regularization, cv.L2Regularization);
        Assert.Equal(best.L1Regularization, cv.L1Regularization);
        Assert.Equal(cv.L2Regularization, report.Trainer.L2Regularization);
        Assert.Equal(cv.L1Regularization, report.Trainer.L1Regularization);
        // The L1 values are tried at the best L2 of the first stage.
        var l2Stage = cv.Grid.Take(1 + HeadCrossValidation.L2Grid(trainer).Count).ToList();
        var stageBest = l2Stage.First(p => p.MeanAccuracy == l2Stage.Max(q => q.MeanAccuracy));
        Assert.All(cv.Grid.Skip(l2Stage.Count), p => Assert.Equal(stageBest.L2Regularization, p.L2Regularization));
        Assert.True(cv.Seconds > 0);
    }

    [Fact]
    public void GivenWeightsOrZeroFoldsSkipTheSearchAndItIsOffByDefault()
    {
        var off = Options(HeadTrainer.Lbfgs);
        Assert.Equal(0, off.Head.CrossValidationFolds);
        var offReport = new MLContext(1).TransferLearning().Train(off).Report;
        Assert.Null(offReport.Trainer.CrossValidation);
        Assert.Null(offReport.Trainer.L2Regularization);

        var given = Options(HeadTrainer.Lbfgs);
        given.Head.CrossValidationFolds = 3;
        given.Head.L2Regularization = 0.5f;
        var givenReport = new MLContext(1).TransferLearning().Train(given).Report;
        Assert.Null(givenReport.Trainer.CrossValidation);
        Assert.Equal(0.5f, givenReport.Trainer.L2Regularization);
    }

    [Fact]
    public void CommandLineCrossValidatesTheHeadWhenAskedAndSaysWhatItChose()
    {
        using var dir = new TempDirectory();
        var run = CliRunner.Run(dir.Path, "train", "--data", fixture.DataDir, "--backbone", BackboneResolver.SyntheticName, "--trainer", "svm",
            "--head-cv", "3", "--cache-dir", fixture.CacheDir, "--out", dir.Combine("model.zip"));
        Assert.True(run.ExitCode == 0, run.All);
        var cv = TrainingReport.Load(dir.Combine("report.json")).Trainer.CrossValidation!;
        Assert.Equal(3, cv.Folds);
        Assert.Equal(1 + HeadCrossValidation.L2Grid(HeadTrainer.Svm).Count, cv.Grid.Count);
        Assert.Contains("head regularisation by 3-fold cross-validation", run.StdOut);

        var bad = CliRunner.Run(dir.Path, "train", "--data", fixture.DataDir, "--backbone", BackboneResolver.SyntheticName, "--head-cv", "1",
            "--out", dir.Combine("bad.zip"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("CrossValidationFolds", bad.All);
        Assert.False(File.Exists(dir.Combine("bad.zip")));
    }

    [Fact]
    public void BadSettingsAreRefusedBeforeAnyWorkWithTheSettingNamed()
    {
        var oneFold = Options(HeadTrainer.Sdca);
        oneFold.Head.CrossValidationFolds = 1;
        Assert.Contains("CrossValidationFolds", Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(oneFold)).Message);

        var svmL1 = Options(HeadTrainer.Svm);
        svmL1.Head.L1Regularization = 0.1f;
        Assert.Contains("L1", Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(svmL1)).Message);
    }
}
