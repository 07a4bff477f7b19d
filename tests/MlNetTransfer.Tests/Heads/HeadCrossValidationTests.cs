using Microsoft.ML;
using Microsoft.ML.Data;
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
        var planned = 1 + HeadCrossValidation.L2Grid(trainer).Count + HeadCrossValidation.L1Grid(trainer).Count;
        Assert.Equal(planned, cv.PlannedValues);
        Assert.Equal(planned, cv.Grid.Count);
        Assert.Null(cv.Note);
        Assert.Null(cv.TimeLimitSeconds);
        Assert.Null(cv.Grid[0].L2Regularization);
        Assert.Null(cv.Grid[0].L1Regularization);
        var l2Stage = cv.Grid.Skip(1).Take(HeadCrossValidation.L2Grid(trainer).Count).ToList();
        Assert.Equal(HeadCrossValidation.L2Grid(trainer).Select(v => (float?)v), l2Stage.Select(p => p.L2Regularization));
        Assert.All(l2Stage, p => Assert.Equal(HeadCrossValidation.L2StageL1(trainer), p.L1Regularization));
        Assert.All(cv.Grid, p => Assert.InRange(p.MeanAccuracy, 0, 1));
        // The winner has the highest mean; among equal means, none is more strongly regularised; the final head is trained
        // with exactly its values.
        var top = cv.Grid.Where(p => p.MeanAccuracy >= cv.Grid.Max(q => q.MeanAccuracy) - HeadCrossValidation.TieTolerance).ToList();
        var winner = Assert.Single(top, p => p.L2Regularization == cv.L2Regularization && p.L1Regularization == cv.L1Regularization);
        Assert.Equal(winner.MeanAccuracy, cv.Score);
        var strength = Strength(winner, options.Head);
        Assert.All(top, p => Assert.True(Strength(p, options.Head).CompareTo(strength) <= 0, $"{p} is as accurate and more regularised than {winner}"));
        Assert.Equal(cv.L2Regularization, report.Trainer.L2Regularization);
        Assert.Equal(cv.L1Regularization, report.Trainer.L1Regularization);
        // The L1 values are tried at the best L2 of the first stage.
        var firstStage = cv.Grid.Take(1 + l2Stage.Count).ToList();
        var stageBest = firstStage.Where(p => p.MeanAccuracy >= firstStage.Max(q => q.MeanAccuracy) - HeadCrossValidation.TieTolerance).MaxBy(p => Strength(p, options.Head))!;
        Assert.All(cv.Grid.Skip(firstStage.Count), p => Assert.Equal(stageBest.L2Regularization, p.L2Regularization));
        Assert.Equal(HeadCrossValidation.L1Grid(trainer).Select(v => (float?)v), cv.Grid.Skip(firstStage.Count).Select(p => p.L1Regularization));
        Assert.True(cv.Seconds > 0);
    }

    // Only the order matters here: the default's resolved strength against the grid's values.
    private static (double, double) Strength(HeadCrossValidationPoint p, HeadOptions head) =>
        HeadCrossValidation.Strength(p, head, trainRows: 38, dimensions: 64);

    /// <summary>Rows whose class is the sign of their first feature (with noise, so about 84% is the best any model can
    /// do), padded with many features of pure noise: too few rows to learn which to ignore, unless L1 zeroes them.</summary>
    private static IDataView SparseTruth(MLContext ml, int perClass, int width, int seed)
    {
        var random = new Random(seed);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var rows = Enumerable.Range(0, 2 * perClass).Select(i =>
        {
            var label = (uint)(i % 2);
            var x = Enumerable.Range(0, width).Select(_ => (float)Gaussian()).ToArray();
            x[0] = (label == 0 ? -1f : 1f) + (float)Gaussian();
            return new KeyedRow { Label = label, Features = x }; // LoadFromEnumerable takes key members 0-based
        }).ToArray();
        var schema = SchemaDefinition.Create(typeof(KeyedRow));
        schema[nameof(KeyedRow.Label)].ColumnType = new KeyDataViewType(typeof(uint), 2);
        schema[nameof(KeyedRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, width);
        return ml.Data.LoadFromEnumerable(rows, schema);
    }

    private sealed class KeyedRow
    {
        public uint Label { get; set; }
        public float[] Features { get; set; } = [];
    }

    [Theory]
    [InlineData(HeadTrainer.Sdca)]
    [InlineData(HeadTrainer.Lbfgs)]
    public void OnOneInformativeFeatureAmongHundredsTheFoldsPreferL1AndTheSearchTakesIt(HeadTrainer trainer)
    {
        var ml = new MLContext(1);
        var data = SparseTruth(ml, perClass: 60, width: 400, seed: 7);
        var head = new HeadOptions { Trainer = trainer, CrossValidationFolds = 5 };
        var (tuned, cv) = HeadCrossValidation.Tune(ml, data, "Features", head, seed: 3)!.Value;

        var withoutL1 = cv.Grid.Where(p => p.L1Regularization == 0).MaxBy(p => p.MeanAccuracy);
        var strongestL1 = cv.Grid.Single(p => p.L1Regularization == HeadCrossValidation.L1Grid(trainer).Max());
        // The data's answer: strong L1 beats no L1 by a wide margin on the held-out folds ...
        Assert.True(strongestL1.MeanAccuracy > withoutL1!.MeanAccuracy + 0.05, $"L1 {strongestL1.MeanAccuracy:0.000} vs none {withoutL1.MeanAccuracy:0.000}");
        // ... and the search follows the folds: its choice scores as well as the best point, and uses L1 (L-BFGS's default has L1 1).
        Assert.Equal(cv.Grid.Max(p => p.MeanAccuracy), cv.Score!.Value, 9);
        var chosen = cv.Grid.Single(p => p.L2Regularization == cv.L2Regularization && p.L1Regularization == cv.L1Regularization);
        Assert.True(HeadCrossValidation.Strength(chosen, head, 96, 400).L1 > 0, $"chose {chosen}");
        Assert.Equal(cv.L1Regularization, tuned.L1Regularization);
        Assert.Equal(cv.L2Regularization, tuned.L2Regularization);
        // Same seed, same choice, whatever order the parallel fits ran in.
        var (_, again) = HeadCrossValidation.Tune(new MLContext(1), SparseTruth(new MLContext(1), 60, 400, 7), "Features", head, seed: 3)!.Value;
        Assert.Equal(cv.Grid, again.Grid);
    }

    [Fact]
    public void EveryClassIsHeldOutAndScoredUnderItsOwnLabel()
    {
        // Classes 0 and 1 are far apart; class 2 is drawn exactly like class 0, so no head can tell them apart and the
        // best held-out accuracy is about two thirds. A search that lost or relabelled a class would score far higher or lower.
        var ml = new MLContext(1);
        var random = new Random(5);
        var rows = Enumerable.Range(0, 90).Select(i =>
        {
            var label = (uint)(i % 3);
            var x = Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble()).ToArray();
            x[0] += label == 1 ? 10 : 0;
            return new KeyedRow { Label = label, Features = x };
        }).ToArray();
        var schema = SchemaDefinition.Create(typeof(KeyedRow));
        schema[nameof(KeyedRow.Label)].ColumnType = new KeyDataViewType(typeof(uint), 3);
        schema[nameof(KeyedRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 8);
        var data = ml.Data.LoadFromEnumerable(rows, schema);
        Assert.Equal([1u, 2u, 3u], data.GetColumn<uint>(nameof(KeyedRow.Label)).Take(3));

        foreach (var trainer in new[] { HeadTrainer.Sdca, HeadTrainer.Lbfgs, HeadTrainer.Svm })
        {
            var (_, cv) = HeadCrossValidation.Tune(ml, data, nameof(KeyedRow.Features), new HeadOptions { Trainer = trainer }, seed: 2)!.Value;
            Assert.InRange(cv.Score!.Value, 0.5, 0.8);
        }
    }

    [Fact]
    public void ATimeLimitOfZeroSkipsTheSearchAndATinyOneStopsItAndTheReportSaysWhich()
    {
        var ml = new MLContext(1);
        var data = SparseTruth(ml, perClass: 30, width: 50, seed: 1);
        var skipped = HeadCrossValidation.Tune(ml, data, "Features", new HeadOptions { CrossValidationTimeLimit = TimeSpan.Zero }, seed: 1)!.Value;
        Assert.Empty(skipped.Report.Grid);
        Assert.Null(skipped.Report.Score);
        Assert.Equal(0, skipped.Report.TimeLimitSeconds);
        Assert.StartsWith("skipped", skipped.Report.Note);
        Assert.Null(skipped.Tuned.L2Regularization);
        Assert.Null(skipped.Tuned.L1Regularization);

        // Preparing the folds alone takes longer than a microsecond: no fit starts, the defaults stay.
        var stopped = HeadCrossValidation.Tune(ml, data, "Features", new HeadOptions { CrossValidationTimeLimit = TimeSpan.FromTicks(10) }, seed: 1)!.Value;
        Assert.Empty(stopped.Report.Grid);
        Assert.Equal(1 + HeadCrossValidation.L2Grid(HeadTrainer.Sdca).Count + HeadCrossValidation.L1Grid(HeadTrainer.Sdca).Count, stopped.Report.PlannedValues);
        Assert.StartsWith("stopped", stopped.Report.Note);
        Assert.Contains("before any value finished", stopped.Report.Note);
        Assert.Null(stopped.Tuned.L2Regularization);

        var roomy = HeadCrossValidation.Tune(ml, data, "Features", new HeadOptions { CrossValidationTimeLimit = TimeSpan.FromHours(1) }, seed: 1)!.Value;
        Assert.Equal(roomy.Report.PlannedValues, roomy.Report.Grid.Count);
        Assert.Null(roomy.Report.Note);
        Assert.Equal(3600, roomy.Report.TimeLimitSeconds);
    }

    [Fact]
    public void CrossValidationIsOnByDefaultWithFiveFoldsAndGivenWeightsOrZeroFoldsTurnItOff()
    {
        Assert.Equal(5, new HeadOptions().CrossValidationFolds);
        Assert.Null(new HeadOptions().CrossValidationTimeLimit);
        var byDefault = new MLContext(1).TransferLearning().Train(Options(HeadTrainer.Lbfgs)).Report;
        var cv = Assert.IsType<HeadCrossValidationReport>(byDefault.Trainer.CrossValidation);
        Assert.Equal(5, cv.Folds);
        Assert.Equal(cv.L2Regularization, byDefault.Trainer.L2Regularization);

        var off = Options(HeadTrainer.Lbfgs);
        off.Head.CrossValidationFolds = 0;
        var offReport = new MLContext(1).TransferLearning().Train(off).Report;
        Assert.Null(offReport.Trainer.CrossValidation);
        Assert.Null(offReport.Trainer.L2Regularization);
        Assert.Null(offReport.Trainer.L1Regularization);

        var given = Options(HeadTrainer.Lbfgs);
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

        var off = CliRunner.Run(dir.Path, "train", "--data", fixture.DataDir, "--backbone", BackboneResolver.SyntheticName, "--head-cv", "0",
            "--cache-dir", fixture.CacheDir, "--out", dir.Combine("off.zip"));
        Assert.True(off.ExitCode == 0, off.All);
        Assert.Null(TrainingReport.Load(dir.Combine("report.json")).Trainer.CrossValidation);
        Assert.DoesNotContain("cross-validation", off.StdOut);

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
