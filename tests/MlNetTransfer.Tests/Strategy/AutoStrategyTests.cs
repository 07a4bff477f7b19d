using Microsoft.ML;
using MlNetTransfer.FineTuning;
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
    private const int UnreachableEpochs = 100_000;

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
            Auto = { MaximumEpochs = epochs },
        };
        return options.WithSixtyTwentyTwenty();
    }

    [Fact]
    public void AutoChoosesAScenarioRanksCandidatesKeepsTheBudgetAndSavesTheWinner()
    {
        var budget = TimeSpan.FromSeconds(8);
        var started = DateTime.UtcNow;
        // Far more epochs than fit: the fine-tuning candidates must be cut by the budget, not finish on their own. (400 was
        // not enough: behind the bottleneck cache a candidate on these 29 small images ran 6,500 img/s, and the halving's last
        // run trained all 400 epochs in 2.2 s of an 8 s budget; 100,000 epochs take minutes even at that speed.)
        var options = Options(budget, epochs: UnreachableEpochs);
        options.Auto.HeadShare = 1; // every head runs here; the heads' share has its own test below
        var result = new MLContext(1).TransferLearning().Train(options);
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
        Assert.All(new[] { "feature-extractor/sdca", "feature-extractor/lbfgs", "feature-extractor/svm" },
            name => Assert.Equal(0, Assert.Single(board.Entries, e => e.Candidate == name && e.Score is not null).Rung));
        // Successive halving: every candidate of the grid has a row (rung 1 first), one per rung it trained in (a run resumed
        // with budget the others left skips the rungs in between).
        var search = report.Search!;
        var fineTuned = board.Entries.Where(e => !e.Candidate.StartsWith("feature-extractor/", StringComparison.Ordinal)).ToList();
        Assert.Equal(search.GridSize, fineTuned.Select(e => e.Candidate).Distinct().Count());
        Assert.All(fineTuned.GroupBy(e => e.Candidate), g =>
        {
            var rungs = g.Select(e => e.Rung).Order().ToList();
            Assert.Equal(1, rungs[0]);
            Assert.Equal(rungs.Count, rungs.Distinct().Count());
        });
        Assert.NotEmpty(search.HeadStart!.Reason);
        var scores = board.Entries.Select(e => e.Score ?? double.NegativeInfinity).ToList();
        Assert.Equal(scores.OrderByDescending(s => s), scores);
        // The winner is the best model kept: at least every head, and its row's score is the report's.
        var winner = Assert.Single(board.Entries, board.IsWinner);
        Assert.Equal(winner.Score, report.ValidationMetrics!.Accuracy);
        Assert.All(board.Entries.Where(e => e.Rung == 0 && e.Score is not null), h => Assert.True(winner.Score >= h.Score, $"{h.Candidate} {h.Score} > {winner.Score}"));
        // The winner's lead over the best scored row of the other kind (heads against fine-tuned networks), in validation images.
        var otherKind = board.Entries.Where(e => e.Score is not null && (e.Rung == 0) != (winner.Rung == 0)).ToList();
        if (otherKind.Count == 0) Assert.Null(board.Margin);
        else
        {
            var margin = Assert.IsType<WinnerMargin>(board.Margin);
            Assert.Equal(otherKind.Max(e => e.Score), margin.RunnerUpScore);
            Assert.Equal(report.Counts.Validation, margin.ValidationImages);
            Assert.Equal((int)Math.Round((winner.Score!.Value - margin.RunnerUpScore) * report.Counts.Validation), margin.ImagesAhead);
        }
        // The budget, not the epochs asked for, ended the fine-tuning.
        Assert.All(fineTuned, e => Assert.True(e.FineTuningEpochs is null or < UnreachableEpochs, $"{e.Candidate}: {e.FineTuningEpochs}"));

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
        Assert.Equal(board.Margin, roundTrip.Leaderboard.Margin);
        var predictions = ImageClassifier.Load(new MLContext(2), dir.Combine("model.zip")).PredictBatch(data.Validation.Select(e => e.Path).ToList());
        Assert.All(predictions, p => Assert.Contains(p.Label, data.Classes));
    }

    [Theory]
    [InlineData(true, HeadStartMode.Auto)] // labels shuffled: the frozen head is weak and the domain (the generated CNN's similarity is 0) is not similar: random is chosen
    [InlineData(false, HeadStartMode.Auto)] // true labels: the head is perfect, but the domain is not similar: random is chosen all the same
    [InlineData(false, HeadStartMode.Both)] // both fixed by the user: both run from rung 1 and none is left out
    public void AStartLeftOutGetsTheBudgetTheChosenOnesRunsLeaveUnspent(bool shuffleLabels, HeadStartMode mode)
    {
        using var shuffled = new TempDirectory("mlnt-shuffled");
        // Two epochs a run on 29 images end long before 40 s.
        var options = Options(TimeSpan.FromSeconds(40), epochs: 2);
        if (shuffleLabels) options.DataPath = ShuffleLabels(data.DataDir, shuffled.Path, seed: 7);
        options.Auto.StrongHeadAccuracy = 0.99;
        options.Auto.FreezeDepths = 1;
        options.Auto.Heads = [HeadTrainer.Lbfgs];
        options.Auto.HeadStart = mode;
        var report = new MLContext(1).TransferLearning().Train(options).Report;
        var search = report.Search!;
        var leftOut = mode == HeadStartMode.Auto;
        Assert.Equal(leftOut ? [HeadStart.Random, HeadStart.Probe] : [HeadStart.Probe, HeadStart.Random], search.HeadStart!.Starts);
        Assert.Equal(leftOut, search.HeadStart.Reason.StartsWith("random start with warm-up: ", StringComparison.Ordinal));
        Assert.Equal(leftOut && !shuffleLabels, search.HeadStart.Reason.Contains("at least 0.99", StringComparison.Ordinal));
        var fineTuned = report.Leaderboard!.Entries.Where(e => e.Rung > 0).ToList();
        Assert.Contains(fineTuned, e => e.Candidate.Contains("/probe", StringComparison.Ordinal) && e.Score is not null);
        Assert.Contains(fineTuned, e => e.Candidate.Contains("/random", StringComparison.Ordinal) && e.Score is not null);
        Assert.Equal(search.GridSize, fineTuned.Select(e => e.Candidate).Distinct().Count());
        Assert.True(leftOut == search.HeadStart.Reason.Contains("went to the probe start, in a halving of its own", StringComparison.Ordinal), search.HeadStart.Reason);
        Assert.Equal(leftOut, search.Rule.Contains("Then, for the probe start", StringComparison.Ordinal));
        Assert.True(report.Budget!.ElapsedSeconds <= 40 + ToleranceSeconds);
    }

    /// <summary>A copy of the class folders with the images dealt to classes in a seeded random order (same class sizes).</summary>
    private static string ShuffleLabels(string dataDir, string target, int seed)
    {
        var classes = Directory.GetDirectories(dataDir).Order(StringComparer.Ordinal).ToList();
        var files = classes.SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal)).ToArray();
        var labels = classes.SelectMany(d => Enumerable.Repeat(Path.GetFileName(d), Directory.GetFiles(d).Length)).ToArray();
        new Random(seed).Shuffle(labels);
        for (var i = 0; i < files.Length; i++)
        {
            var folder = Directory.CreateDirectory(Path.Combine(target, labels[i])).FullName;
            File.Copy(files[i], Path.Combine(folder, i.ToString(System.Globalization.CultureInfo.InvariantCulture) + Path.GetExtension(files[i])));
        }
        return target;
    }

    [Fact]
    public void ATinyBudgetStillYieldsTheFirstCandidateAndSkipsTheRest()
    {
        var options = Options(TimeSpan.FromMilliseconds(1), epochs: 2);
        var report = new MLContext(1).TransferLearning().Train(options).Report;
        var board = report.Leaderboard!;
        Assert.Equal("feature-extractor/sdca", board.Winner);
        Assert.Single(board.Entries, e => e.Status == CandidateStatus.Completed);
        Assert.All(board.Entries.Where(e => e.Candidate != board.Winner), e => Assert.Equal(CandidateStatus.Skipped, e.Status));
        Assert.Equal(board.Entries.Count - 1, report.Budget!.SkippedCandidates);
        Assert.Equal(0, report.Search!.Candidates);
        Assert.True(report.Budget.OvershootSeconds > 0);
        // The first head runs, but with no budget left its cross-validation is skipped, and the report says so.
        var cv = Assert.IsType<HeadCrossValidationReport>(report.Trainer.CrossValidation);
        Assert.Equal(0, cv.TimeLimitSeconds);
        Assert.Empty(cv.Grid);
        Assert.StartsWith("skipped", cv.Note);
        Assert.Null(report.Trainer.L2Regularization);
    }

    [Fact]
    public void TheHeadsKeepToTheirShareAndLeaveTheRestToFineTuning()
    {
        var options = Options(TimeSpan.FromSeconds(8), epochs: UnreachableEpochs);
        options.Auto.HeadShare = 1e-4; // under a millisecond: only the first head, which always runs, gets to train
        var report = new MLContext(1).TransferLearning().Train(options).Report;
        var board = report.Leaderboard!;

        var heads = board.Entries.Where(e => e.Rung == 0).ToList();
        Assert.Equal(options.Auto.Heads.Count, heads.Count);
        var first = Assert.Single(heads, e => e.Status == CandidateStatus.Completed);
        Assert.Equal("feature-extractor/sdca", first.Candidate);
        Assert.All(heads.Where(e => e != first), e =>
        {
            Assert.Equal(CandidateStatus.Skipped, e.Status);
            Assert.Contains("heads' share of the budget", e.Note);
        });
        // The time the heads did not take went to fine-tuning: some candidate trained and was scored.
        Assert.Contains(board.Entries, e => e.Rung >= 1 && e.Score is not null && e.FineTuningEpochs >= 1);
    }

    [Fact]
    public void ABadHeadShareIsRefusedByName()
    {
        var options = Options(TimeSpan.FromSeconds(8), epochs: 2);
        options.Auto.HeadShare = 0;
        var error = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(options));
        Assert.Contains("HeadShare (--head-share)", error.Message);
    }

    [Fact]
    public void AutosCandidatesCropMilderAndLeaveTheOptionsGivenAsTheyAre()
    {
        var given = new ImageAugmentation { HorizontalFlip = false, Brightness = 0.1f };
        var used = new AutoSearchOptions().CandidateAugmentation(given);
        Assert.Equal(0.7f, used.MinCropArea);
        Assert.False(used.HorizontalFlip); // every other setting carried over
        Assert.Equal(0.1f, used.Brightness);
        Assert.Equal(0.35f, given.MinCropArea); // a copy: a single run's options keep their crop
        Assert.Same(given, new AutoSearchOptions { MinCropArea = null }.CandidateAugmentation(given));
        Assert.Equal("off", new AutoSearchOptions().CandidateAugmentation(new ImageAugmentation { Enabled = false }).Describe());

        var options = Options(TimeSpan.FromSeconds(8), epochs: 2);
        options.Auto.MinCropArea = 1.5f;
        var error = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(options));
        Assert.Contains("MinCropArea (--crop-min-area) is 1.5", error.Message);
    }

    [Fact]
    public void FineTuningCandidatesFollowTheDecision()
    {
        // Small and different: fine-tune from earlier layers (freeze 33-50%), its middle first, then the nearest depths.
        var decision = ScenarioMatrix.Choose(DatasetSize.FromCounts([30, 30]), new DomainSimilarityResult { Score = 0.1 });
        Assert.Equal([0.4167, 0.5, 0.3333], AutoCandidate.Depths(decision, 3));
        // Small and similar: the feature extractor; fine-tuning's neighbourhood is the top's range.
        var similar = ScenarioMatrix.Choose(DatasetSize.FromCounts([30, 30]), new DomainSimilarityResult { Score = 0.9 });
        Assert.Equal([0.7, 0.8, 0.6], AutoCandidate.Depths(similar, 3));

        // A base rate of 3e-4: the gentler 1e-4 goes to probe starts only.
        var grid = AutoCandidate.FineTuneGrid([0.7, 0.8], [HeadStart.Probe, HeadStart.Random], [3e-4f, 1e-4f], 3e-4f);
        Assert.Equal(6, grid.Count);
        Assert.Equal(6, grid.Select(c => c.Name).Distinct().Count());
        Assert.DoesNotContain(grid, c => c.Start == HeadStart.Random && c.Name.EndsWith("lr-0.0001", StringComparison.Ordinal));
        // By the sum of the ranks: the spread of depths, starts and rates survives a budget that keeps only the first few.
        // Within a sum the start varies first, then the depth, then the rate.
        Assert.Equal(["fine-tune-top/freeze-70/probe/lr-0.0003", "fine-tune-top/freeze-70/random/lr-0.0003", "fine-tune-top/freeze-80/probe/lr-0.0003",
            "fine-tune-top/freeze-70/probe/lr-0.0001"], grid.Take(4).Select(c => c.Name));
        Assert.All(grid, c => Assert.Equal(CandidateMethod.FineTune, c.Method));
        // A rate above the base goes to both starts; when every rate is below it, random starts take them all.
        Assert.Equal(8, AutoCandidate.FineTuneGrid([0.7, 0.8], [HeadStart.Probe, HeadStart.Random], [3e-4f, 1e-3f], 3e-4f).Count);
        Assert.Equal(2, AutoCandidate.FineTuneGrid([0.7], [HeadStart.Random], [1e-4f, 5e-5f], 3e-4f).Count);
    }

    [Theory]
    [InlineData(0.95, 0.9, new[] { HeadStart.Probe })]                    // strong head, similar domain
    [InlineData(0.70, 0.1, new[] { HeadStart.Random })]                   // weak head, different domain
    [InlineData(0.95, 0.1, new[] { HeadStart.Random })]                   // strong head, different domain: the features must move
    [InlineData(0.70, 0.9, new[] { HeadStart.Random, HeadStart.Probe })]  // weak head, similar domain: both, random first
    public void TheHeadStartFollowsTheFrozenHeadAndTheSimilarity(double accuracy, double similarity, HeadStart[] expected)
    {
        var decision = ScenarioMatrix.Choose(DatasetSize.FromCounts([30, 30]), new DomainSimilarityResult { Score = similarity });
        var choice = HeadStartChoice.Choose(HeadStartMode.Auto, accuracy, decision, strongHeadAccuracy: 0.9);
        Assert.Equal(expected, choice.Starts);
        Assert.Contains(accuracy.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture), choice.Reason);
        Assert.Equal([HeadStart.Random], HeadStartChoice.Choose(HeadStartMode.Random, accuracy, decision, 0.9).Starts);
        Assert.Equal([HeadStart.Probe, HeadStart.Random], HeadStartChoice.Choose(HeadStartMode.Both, accuracy, decision, 0.9).Starts);
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
            "--max-epochs", "2", "--batch-size", "8", "--crop-min-area", "0.5", "--seed", "3", "--split", "0.6,0.2,0.2", "--no-cache", "--out", zip,
            "--halving-rate", "2", "--rung-epochs", "1", "--freeze-depths", "1", "--lr-grid", "1", "--head-start", "both", "--heads", "lbfgs, sdca");
        Assert.True(run.ExitCode == 0, run.All);
        Assert.True(File.Exists(zip));
        var report = TrainingReport.Load(dir.Combine("report.json"));
        Assert.Equal("auto", report.Strategy);
        Assert.NotEmpty(report.Leaderboard!.Entries);
        Assert.Equal(2, report.Search!.HalvingRate);
        Assert.InRange(report.Search.PlannedEpochs, 1, 2);
        Assert.Equal([HeadStart.Probe, HeadStart.Random], report.Search.HeadStart!.Starts);
        Assert.Equal(2, report.Search.GridSize); // one depth x both starts x one rate
        Assert.Contains("random resized crop (area 0.5-1", report.Search.Augmentation); // a crop given is auto's too
        // --heads: only the heads named.
        Assert.Equal(["feature-extractor/lbfgs", "feature-extractor/sdca"],
            report.Leaderboard.Entries.Where(e => e.Strategy == "feature-extractor").Select(e => e.Candidate).Order().ToArray());
        Assert.Contains("leaderboard", run.StdOut);
        Assert.Contains("rung", run.StdOut);
        Assert.Contains("head start: both starts", run.StdOut);
        Assert.Contains("Scenario:", run.StdOut);
        var html = File.ReadAllText(dir.Combine("report.html"));
        Assert.Contains($"data-plot=\"{HtmlReport.PlotNames.ScenarioMatrix}\"", html);
        Assert.Contains($"data-plot=\"{HtmlReport.PlotNames.AccuracyVersusTime}\"", html);
        Assert.Contains("Successive halving", html);
        // The winner's mistakes: held-out images of highest loss, each with its Grad-CAM heat map.
        Assert.Contains($"<section id=\"{HtmlReport.MistakesId}\">", html);
        Assert.True(html.Contains("data-image=\"heatmap\""), System.Text.RegularExpressions.Regex.Match(html, "No heat maps:[^<]*").Value);

        var bad = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "auto", "--budget", "ten", "--out", zip);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("Budget 'ten'", bad.All);
        var badGrid = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "auto", "--lr-grid", "1,x", "--out", zip);
        Assert.Equal(1, badGrid.ExitCode);
        Assert.Contains("--lr-grid '1,x'", badGrid.All);
        var badHeads = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "auto", "--heads", "sdca,trees", "--out", zip);
        Assert.Equal(1, badHeads.ExitCode);
        Assert.Contains("--heads 'sdca,trees': 'trees' is not a head", badHeads.All);
        var badRate = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "auto", "--halving-rate", "1", "--out", zip);
        Assert.Equal(1, badRate.ExitCode);
        Assert.Contains("--halving-rate", badRate.All);
        var badEpochs = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "auto", "--max-epochs", "0", "--out", zip);
        Assert.Equal(1, badEpochs.ExitCode);
        Assert.Contains("MaximumEpochs (--max-epochs) is 0", badEpochs.All);
    }

    [Fact]
    public void TheLastOneTrainsToAutosOwnCapNotASingleRunsEpochs()
    {
        // A single run would stop at 1 epoch (FineTune.Epoch); auto plans its schedules over MaximumEpochs when the budget fits them.
        var options = Options(TimeSpan.FromSeconds(60), epochs: 1);
        options.Auto.MaximumEpochs = 3;
        options.Auto.FreezeDepths = 1;
        options.Auto.HeadStart = HeadStartMode.Random;
        options.Auto.Heads = [HeadTrainer.Lbfgs];
        var report = new MLContext(1).TransferLearning().Train(options).Report;
        Assert.Equal(3, report.Search!.PlannedEpochs);
        var last = report.Leaderboard!.Entries.Where(e => e.Rung > 0 && e.Score is not null).MaxBy(e => e.Rung)!;
        Assert.Equal(3, last.FineTuningEpochs);
    }
}
