using Microsoft.ML;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.FineTuning;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Strategy;

/// <summary>The experiment command on generated shapes with a small generated CNN, and the from-scratch weights.</summary>
[Collection(BudgetedRunsCollection.Name)]
public sealed class ExperimentTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private static readonly string[] Rows =
    [
        "feature-extractor/sdca", "feature-extractor/lbfgs", "feature-extractor/svm", "feature-extractor/lightgbm", "fine-tune-top/freeze-70", "fine-tune-all/freeze-0", "chain-thaw", "from-scratch",
    ];

    private string BackboneFile() => data.BackboneFile("experiment-cnn");

    [Fact]
    public void CommandLineExperimentWritesEveryRowTheCurvesAndTheHtmlReport()
    {
        using var dir = new TempDirectory();
        var outDir = dir.Combine("out");
        // A budget no row can reach: every row must complete, whatever else the machine runs (the budget is tested in AutoStrategyTests).
        var run = CliRunner.Run(dir.Path, "experiment", "--data", data.DataDir, "--backbone", BackboneFile(), "--out", outDir, "--budget", "2h",
            "--epochs", "2", "--batch-size", "8", "--lr", "0.01", "--no-augment", "--patience", "0", "--seed", "3", "--split", "0.6,0.2,0.2", "--no-cache");
        Assert.True(run.ExitCode == 0, run.All);

        var report = TrainingReport.Load(Path.Combine(outDir, "report.json"));
        Assert.Equal("experiment", report.Strategy);
        var board = report.Leaderboard!;
        Assert.Equal(Rows.Order(), board.Entries.Select(e => e.Candidate).Order());
        Assert.All(board.Entries, e =>
        {
            Assert.Equal(CandidateStatus.Completed, e.Status);
            Assert.Equal(e.Candidate.StartsWith("feature-extractor/", StringComparison.Ordinal) ? 0 : 1, e.Rung);
            Assert.InRange(e.Score!.Value, 0, 1);
            Assert.InRange(e.MacroF1!.Value, 0, 1);
            Assert.True(e.WallSeconds > 0, e.Candidate);
        });
        Assert.Equal(0, report.Budget!.SkippedCandidates);
        Assert.NotNull(report.Scenario);
        // One learning curve per fine-tuned row, with the epochs it ran: the head warm-up epochs, then the 2 asked for
        // (chain-thaw: head, 4 blocks, then 2 final epochs).
        Assert.Equal(["fine-tune-top/freeze-70", "fine-tune-all/freeze-0", "chain-thaw", "from-scratch"], report.CandidateCurves.Select(c => c.Candidate));
        Assert.All(report.CandidateCurves.Where(c => c.Candidate != "chain-thaw"), c => Assert.Equal(new MlNetTransfer.FineTuning.FineTuneOptions().HeadWarmupEpochs + 2, c.Points.Count));
        Assert.True(report.CandidateCurves.Single(c => c.Candidate == "chain-thaw").Points.Count > 2);
        // Each fine-tuned row counts the epochs its pretrained layers learned (the head warm-up not counted) and their speed.
        Assert.All(board.Entries, e =>
        {
            var fineTuned = !e.Candidate.StartsWith("feature-extractor/", StringComparison.Ordinal);
            Assert.Equal(fineTuned, e.FineTuningEpochs is not null);
            Assert.Equal(fineTuned, e.ImagesPerSecond is > 0);
        });
        Assert.All(board.Entries.Where(e => e.Candidate is "fine-tune-top/freeze-70" or "fine-tune-all/freeze-0" or "from-scratch"),
            e => Assert.Equal(2, e.FineTuningEpochs));
        var chain = new MlNetTransfer.FineTuning.ChainThawOptions();
        Assert.Equal(chain.Blocks * chain.EpochsPerPhase + 2, board.Entries.Single(e => e.Candidate == "chain-thaw").FineTuningEpochs);

        var html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        foreach (var plot in new[] { HtmlReport.PlotNames.ScenarioMatrix, HtmlReport.PlotNames.AccuracyVersusTime, HtmlReport.PlotNames.Losses,
                     HtmlReport.PlotNames.ValidationAccuracy, HtmlReport.PlotNames.ConfusionMatrix })
            Assert.Contains($"data-plot=\"{plot}\"", html);
        Assert.All(Rows, row => Assert.Contains(row, html));
        // The winner's mistakes: held-out images of highest loss, each with its Grad-CAM heat map.
        Assert.Contains($"<section id=\"{HtmlReport.MistakesId}\">", html);
        Assert.Contains("data-image=\"heatmap\"", html);
        Assert.NotEmpty(ImageClassifier.Load(new MLContext(2), Path.Combine(outDir, "model.zip")).PredictBatch([data.Validation[0].Path]));
    }

    [Fact]
    public void ExperimentTakesClassWeightsAsTrainDoes()
    {
        using var dir = new TempDirectory();
        // Every image of two classes, a quarter of the third's: imbalanced.
        var manifest = dir.Combine("imbalanced.csv");
        var rows = Directory.GetDirectories(data.DataDir).Order(StringComparer.Ordinal).SelectMany((d, k) =>
            Directory.GetFiles(d).Order(StringComparer.Ordinal).Where((_, i) => k != 0 || i % 4 == 0).Select(f => $"{f},{Path.GetFileName(d)}"));
        File.WriteAllLines(manifest, ["path,label", .. rows]);
        CliRunner.Result Run(string outDir, params string[] extra) => CliRunner.Run(dir.Path, [
            "experiment", "--data", manifest, "--backbone", BackboneFile(), "--out", dir.Combine(outDir), "--split", "0.6,0.2,0.2", "--no-cache", "--seed", "3",
            // Only the first row fits: the weighting is decided before any row trains, and is what this test is about.
            "--budget", "0.001", .. extra]);

        var weighted = Run("auto");
        Assert.True(weighted.ExitCode == 0, weighted.All);
        var plain = Run("off", "--class-weights", "off");
        Assert.True(plain.ExitCode == 0, plain.All);

        var auto = TrainingReport.Load(dir.Combine("auto", "report.json"));
        Assert.True(auto.ClassBalance!.Applied, auto.ClassBalance.Note);
        Assert.True(auto.Leaderboard!.RankedByMacroF1);
        var off = TrainingReport.Load(dir.Combine("off", "report.json"));
        Assert.Equal(MlNetTransfer.Data.ClassWeighting.Off, off.ClassBalance!.Mode);
        Assert.True(off.ClassBalance.Imbalanced);
        Assert.False(off.ClassBalance.Applied);
        Assert.False(off.Leaderboard!.RankedByMacroF1);
        Assert.All(off.ClassBalance.Weights.Values, w => Assert.Equal(1f, w));

        var help = CliRunner.Run(dir.Path, "experiment", "--help");
        Assert.Contains("--class-weights", help.StdOut);
        var bad = Run("bad", "--class-weights", "maybe");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("maybe", bad.All);
        Assert.False(Directory.Exists(dir.Combine("bad")));
    }

    [Fact]
    public void ReinitialisedWeightsKeepTheArchitectureAndChangeEveryLearnedWeight()
    {
        var original = FineTuneFixture.Backbone().Model;
        var fresh = WeightReinitializer.Reinitialize(original, seed: 5);
        Assert.Equal(original.Graph.Node.Select(n => n.OpType), fresh.Graph.Node.Select(n => n.OpType));
        Assert.Equal(original.Graph.Initializer.Select(t => t.Name), fresh.Graph.Initializer.Select(t => t.Name));
        var conv = original.Graph.Node.First(n => n.OpType == "Conv").Input[1];
        var before = OnnxTensors.ToFloats(original.Graph.Initializer.Single(t => t.Name == conv));
        var after = OnnxTensors.ToFloats(fresh.Graph.Initializer.Single(t => t.Name == conv));
        Assert.Equal(before.Length, after.Length);
        Assert.NotEqual(before, after);
        var fanIn = (int)original.Graph.Initializer.Single(t => t.Name == conv).Dims.Skip(1).Aggregate(1L, (a, d) => a * d);
        Assert.All(after, v => Assert.InRange(Math.Abs(v), 0, Math.Sqrt(6.0 / fanIn) + 1e-6));
        var bn = original.Graph.Node.First(n => n.OpType == "BatchNormalization");
        Assert.All(OnnxTensors.ToFloats(fresh.Graph.Initializer.Single(t => t.Name == bn.Input[1])), v => Assert.Equal(1f, v));
        Assert.All(OnnxTensors.ToFloats(fresh.Graph.Initializer.Single(t => t.Name == bn.Input[3])), v => Assert.Equal(0f, v));
        Assert.Equal(after, OnnxTensors.ToFloats(WeightReinitializer.Reinitialize(original, seed: 5).Graph.Initializer.Single(t => t.Name == conv)));
        Assert.Equal(before, OnnxTensors.ToFloats(original.Graph.Initializer.Single(t => t.Name == conv))); // the input is left alone
    }
}
