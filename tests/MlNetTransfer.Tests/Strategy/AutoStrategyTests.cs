using Microsoft.ML;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;
using MlNetTransfer.Tests.FineTuning;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Strategy;

/// <summary>The auto strategy on generated shapes with a small generated CNN: decision, leaderboard, budget, saved model.</summary>
[Collection(BudgetedRunsCollection.Name)]
public sealed class AutoStrategyTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    /// <summary>How far past the budget a run may end: the fine-tuning run stopped at the budget finishes its batch and is evaluated.</summary>
    private const double ToleranceSeconds = 6;

    private string BackboneFile() => data.BackboneFile("auto-cnn");

    private TransferLearningOptions Options(TimeSpan budget, int epochs)
    {
        var options = new TransferLearningOptions
        {
            DataPath = data.DataDir,
            Backbone = BackboneFile(),
            Strategy = TransferLearningOptions.AutoStrategy,
            Budget = budget,
            Seed = 4,
            FineTune = FineTuneFixture.Options(epochs),
            Featurizer = { CacheDirectory = null, DegreeOfParallelism = 2 },
        };
        options.Dataset.TrainFraction = 0.6;
        options.Dataset.ValidationFraction = 0.2;
        options.Dataset.TestFraction = 0.2;
        return options;
    }

    [Fact]
    public void AutoChoosesAScenarioRanksCandidatesKeepsTheBudgetAndSavesTheWinner()
    {
        var budget = TimeSpan.FromSeconds(8);
        var started = DateTime.UtcNow;
        // Far more epochs than fit: the fine-tuning candidates must be cut by the budget, not finish on their own.
        var result = new MLContext(1).TransferLearning().Train(Options(budget, epochs: 400));
        var wall = (DateTime.UtcNow - started).TotalSeconds;
        var report = result.Report;

        Assert.Equal("auto", report.Strategy);
        var decision = Assert.IsType<ScenarioDecision>(report.Scenario);
        Assert.Contains(decision.Title, decision.Explanation);
        Assert.Contains("Scenario:", decision.Explanation);
        Assert.False(decision.IsLarge); // 29 training images in 3 classes
        Assert.NotEmpty(decision.Similarity.Components);
        // The middle layer came out of the same featurization pass, one pooled row per training image.
        var topLayer = Assert.IsType<TopLayerComparisonResult>(decision.Similarity.TopLayer);
        Assert.False(string.IsNullOrEmpty(topLayer.Tensor));
        Assert.InRange(topLayer.Depth, 0.01, 0.99);
        Assert.Equal(decision.Size.Total, topLayer.Middle.Examples);
        Assert.Contains(decision.Similarity.Components, c => c.Name == "top-layer-gain");
        Assert.Contains($"middle layer '{topLayer.Tensor}'", decision.Explanation);
        Assert.NotEmpty(topLayer.Layers);
        Assert.Contains(topLayer.Layers, l => l.Tensor == topLayer.Tensor);

        var board = report.Leaderboard!;
        Assert.Equal(3 + decision.CandidateOrder.Count(s => s != TransferScenario.FeatureExtractor), board.Entries.Count);
        Assert.All(new[] { "feature-extractor/sdca", "feature-extractor/lbfgs", "feature-extractor/svm" },
            name => Assert.NotNull(Assert.Single(board.Entries, e => e.Candidate == name).Score));
        var scores = board.Entries.Select(e => e.Score ?? double.NegativeInfinity).ToList();
        Assert.Equal(scores.OrderByDescending(s => s), scores);
        Assert.Equal(board.Entries[0].Candidate, board.Winner);
        Assert.Equal(board.Entries[0].Score, report.ValidationMetrics!.Accuracy);
        // The budget stopped or skipped at least one fine-tuning candidate.
        Assert.Contains(board.Entries, e => e.Status is "stopped at budget" or "skipped");

        var spent = report.Budget!;
        Assert.Equal(8, spent.BudgetSeconds);
        Assert.True(spent.ElapsedSeconds <= budget.TotalSeconds + ToleranceSeconds, $"elapsed {spent.ElapsedSeconds:0.0} s for a {budget.TotalSeconds} s budget");
        Assert.Equal(Math.Max(0, spent.ElapsedSeconds - spent.BudgetSeconds), spent.OvershootSeconds, 6);
        Assert.True(wall <= budget.TotalSeconds + ToleranceSeconds + 2, $"wall {wall:0.0} s");

        using var dir = new TempDirectory();
        result.Save(dir.Combine("model.zip"), dir.Combine("report.json"));
        var roundTrip = TrainingReport.Load(dir.Combine("report.json"));
        Assert.Equal(decision.Scenario, roundTrip.Scenario!.Scenario);
        Assert.Equal(topLayer.Tensor, roundTrip.Scenario.Similarity.TopLayer!.Tensor);
        Assert.Equal(board.Entries.Select(e => e.Candidate), roundTrip.Leaderboard!.Entries.Select(e => e.Candidate));
        var predictions = ImageClassifier.Load(new MLContext(2), dir.Combine("model.zip")).PredictBatch(data.Validation.Select(e => e.Path).ToList());
        Assert.All(predictions, p => Assert.Contains(p.Label, data.Classes));
    }

    [Fact]
    public void ATinyBudgetStillYieldsTheFirstCandidateAndSkipsTheRest()
    {
        var options = Options(TimeSpan.FromMilliseconds(1), epochs: 2);
        var report = new MLContext(1).TransferLearning().Train(options).Report;
        var board = report.Leaderboard!;
        Assert.Equal("feature-extractor/sdca", board.Winner);
        Assert.Single(board.Entries, e => e.Status == "completed");
        Assert.All(board.Entries.Where(e => e.Candidate != board.Winner), e => Assert.Equal("skipped", e.Status));
        Assert.Equal(board.Entries.Count - 1, report.Budget!.SkippedCandidates);
        Assert.True(report.Budget.OvershootSeconds > 0);
        // The first head runs, but with no budget left its cross-validation is skipped, and the report says so.
        var cv = Assert.IsType<HeadCrossValidationReport>(report.Trainer.CrossValidation);
        Assert.Equal(0, cv.TimeLimitSeconds);
        Assert.Empty(cv.Grid);
        Assert.StartsWith("skipped", cv.Note);
        Assert.Null(report.Trainer.L2Regularization);
    }

    [Fact]
    public void CandidatesFollowTheDecision()
    {
        var decision = ScenarioMatrix.Choose(DatasetSize.FromCounts([30, 30]), new DomainSimilarityResult { Score = 0.1 });
        var candidates = AutoCandidate.InOrder(decision, new AutoSearchOptions());
        Assert.Equal(["feature-extractor/sdca", "feature-extractor/lbfgs", "feature-extractor/svm", "fine-tune-earlier/freeze-42"],
            candidates.Take(4).Select(c => c.Name));
        Assert.Equal(6, candidates.Count);
        var headsOnly = AutoCandidate.InOrder(decision, new AutoSearchOptions { FineTune = false, Heads = [HeadTrainer.Lbfgs] });
        Assert.Equal(["feature-extractor/lbfgs"], headsOnly.Select(c => c.Name));
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("10m", 600)]
    [InlineData("1h30m", 5400)]
    [InlineData("1.5h", 5400)]
    [InlineData("45", 45)]
    [InlineData(" 2M ", 120)]
    public void BudgetParses(string text, double seconds) => Assert.Equal(seconds, TrainingBudget.Parse(text).TotalSeconds);

    [Theory]
    [InlineData("10x")]
    [InlineData("m")]
    [InlineData("0m")]
    [InlineData("")]
    public void BadBudgetsAreRefused(string text)
    {
        var e = Assert.Throws<MlNetTransferException>(() => TrainingBudget.Parse(text));
        Assert.Contains("Budget", e.Message);
    }

    [Fact]
    public void EpochTimeScalesWithTheTrainablePart()
    {
        var estimator = new EpochTimeEstimator();
        Assert.Null(estimator.Estimate(0.5));
        estimator.SeedFromThroughput(100, 50); // 2 s forward
        Assert.Equal(2 * 3, estimator.Estimate(0)!.Value, 6);
        estimator.Observe(4, 0.5); // 4 s at half frozen: forward 2 s
        Assert.True(estimator.IsMeasured);
        Assert.Equal(2, estimator.Estimate(1)!.Value, 6);
        Assert.Equal(6, estimator.Estimate(0)!.Value, 6);
        estimator.SeedFromThroughput(100, 1); // ignored once measured
        Assert.Equal(2, estimator.Estimate(1)!.Value, 6);
    }

    [Fact]
    public void CommandLineAutoWritesTheJsonAndHtmlReports()
    {
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        var run = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "auto", "--budget", "5s",
            "--epochs", "2", "--batch-size", "8", "--no-augment", "--seed", "3", "--split", "0.6,0.2,0.2", "--no-cache", "--out", zip);
        Assert.True(run.ExitCode == 0, run.All);
        Assert.True(File.Exists(zip));
        var report = TrainingReport.Load(dir.Combine("report.json"));
        Assert.Equal("auto", report.Strategy);
        Assert.NotEmpty(report.Leaderboard!.Entries);
        Assert.Contains("leaderboard", run.StdOut);
        Assert.Contains("Scenario:", run.StdOut);
        var html = File.ReadAllText(dir.Combine("report.html"));
        Assert.Contains($"data-plot=\"{HtmlReport.PlotNames.ScenarioMatrix}\"", html);
        Assert.Contains($"data-plot=\"{HtmlReport.PlotNames.AccuracyVersusTime}\"", html);

        var bad = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "auto", "--budget", "ten", "--out", zip);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("Budget 'ten'", bad.All);
    }
}
