using System.Text.Json;
using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.BackboneChoice;

/// <summary>Three generated backbones on the generated shapes: a small CNN and a large one (about 300 times its
/// multiply-adds) that both see the images, and a blind one whose first step multiplies its input by zero, so its
/// embedding is the same for every image and carries no label signal.</summary>
public sealed class ComparisonFixture : IDisposable
{
    private readonly TempDirectory _dir = new("mlnt-compare");

    public ComparisonFixture()
    {
        DataDir = SyntheticImageDataset.Write(_dir.Combine("shapes"), imagesPerClass: 20, size: 64, seed: 5);
        Small = Save("small", OnnxModelBuilder.SmallCnn(inputSize: 32, channels: [8, 16], classes: 4, seed: 7), 32);
        Large = Save("large", OnnxModelBuilder.SmallCnn(inputSize: 160, channels: [32, 64, 128], classes: 4, seed: 7), 160);
        Blind = Save("blind", BlindCnn(), 32);
        CacheDir = _dir.Combine("cache");

        // The measurements every test reads: one comparison of the three.
        Result = new BackboneComparison(new MLContext(1)).Compare(Options(Small, Large, Blind), new BackboneComparisonOptions
        {
            Backbones = [Small, Large, Blind],
            LatencyRuns = 15,
            ThroughputImages = 24,
        });
    }

    public string DataDir { get; }
    public string Small { get; }
    public string Large { get; }
    public string Blind { get; }
    public string CacheDir { get; }
    public BackboneComparisonResult Result { get; }
    public string Root => _dir.Path;

    public BackboneMeasurement Row(string backbone) => Result.Report.Backbones.Single(b => b.Backbone == backbone);

    public TransferLearningOptions Options(params string[] backbones) => new()
    {
        DataPath = DataDir,
        Featurizer = { CacheDirectory = CacheDir },
        Head = { CrossValidationFolds = 3 },
        BackboneChoice = { Backbones = backbones.ToList(), LatencyRuns = 10, ThroughputImages = 12 },
    };

    private string Save(string name, MlNetTransfer.Backbones.Onnx.Proto.ModelProto model, int size)
    {
        var path = _dir.Combine("backbones", name + ".onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        OnnxModelFile.Save(model, path);
        File.WriteAllText(BackboneResolver.SidecarPath(path),
            $$"""{ "name": "{{name}}", "inputWidth": {{size}}, "inputHeight": {{size}}, "mean": [0.5,0.5,0.5], "std": [0.25,0.25,0.25] }""");
        return path;
    }

    /// <summary>SmallCnn's shape, behind a multiplication of the input by zero: every image gives the same embedding.</summary>
    private static MlNetTransfer.Backbones.Onnx.Proto.ModelProto BlindCnn()
    {
        var b = new OnnxModelBuilder(7, graphName: "blind_cnn");
        var x = b.Input("input", DataType.Float, -1, 3, 32, 32);
        x = b.Node("Mul", "blind/zero", [x, b.Constant("blind/zeros", [0f], 1)]);
        x = b.Conv("block1/conv", x, 3, 8, kernel: 3, bias: false);
        x = b.BatchNormalization("block1/bn", x, 8);
        x = b.Relu("block1/relu", x);
        x = b.GlobalAveragePool("head/gap", x);
        x = b.Flatten("head/flatten", x);
        x = b.Gemm("head/fc", x, 8, 4, output: "logits");
        return b.Output("logits", DataType.Float, -1, 4).Build();
    }

    public void Dispose() => _dir.Dispose();
}

public sealed class BackboneComparisonTests(ComparisonFixture fixture) : IClassFixture<ComparisonFixture>
{
    [Fact]
    public void EveryBackboneIsMeasuredThroughItsSavedZip()
    {
        var report = fixture.Result.Report;
        Assert.Equal(3, report.Backbones.Count);
        Assert.Empty(report.Skipped);
        foreach (var row in report.Backbones)
        {
            Assert.InRange(row.CrossValidationAccuracy!.Value, 0, 1);
            Assert.NotNull(row.ValidationAccuracy);
            Assert.True(row.LatencyP50Milliseconds > 0 && row.LatencyP95Milliseconds >= row.LatencyP50Milliseconds, $"{row.Backbone}: p50 {row.LatencyP50Milliseconds}, p95 {row.LatencyP95Milliseconds}");
            Assert.True(row.ImagesPerSecond > 0);
            Assert.Equal(new FileInfo(row.Backbone).Length, row.ModelFileBytes);
            Assert.True(row.ZipBytes > 0);
            Assert.Equal(15, row.LatencyRuns);
            Assert.Equal(24, row.ThroughputImages);
            // Each row's result is the model that was timed, and it predicts the data's classes.
            Assert.Equal(SyntheticImageDataset.Classes, fixture.Result.Results[row.Backbone].Metadata.Classes);
        }
        // The large network's weights make a larger zip: a size measured, not guessed.
        Assert.True(fixture.Row(fixture.Large).ZipBytes > 10 * fixture.Row(fixture.Small).ZipBytes);
    }

    [Fact]
    public void TheLargerBackboneMeasuresSlower()
    {
        // About 300 times the multiply-adds per image (160 px and 32-64-128 channels against 32 px and 8-16): the gap
        // dwarfs what a busy shared machine does to a median of 15 predictions.
        var (small, large) = (fixture.Row(fixture.Small), fixture.Row(fixture.Large));
        Assert.True(large.LatencyP50Milliseconds > small.LatencyP50Milliseconds,
            $"median latency: large {large.LatencyP50Milliseconds:0.00} ms, small {small.LatencyP50Milliseconds:0.00} ms");
        Assert.True(large.ImagesPerSecond < small.ImagesPerSecond, $"images/s: large {large.ImagesPerSecond:0.0}, small {small.ImagesPerSecond:0.0}");
    }

    [Fact]
    public void TheRankingFollowsMeasuredAccuracy()
    {
        var blind = fixture.Row(fixture.Blind);
        var seeing = new[] { fixture.Row(fixture.Small), fixture.Row(fixture.Large) };
        // Three balanced classes: a constant embedding cannot beat guessing one class (1/3); colour-coded shapes are easy.
        Assert.True(blind.CrossValidationAccuracy < 0.5, $"blind: {blind.CrossValidationAccuracy}");
        Assert.All(seeing, s => Assert.True(s.CrossValidationAccuracy > 0.8, $"{s.Backbone}: {s.CrossValidationAccuracy}"));

        var choice = BackboneComparison.Choose(fixture.Result.Report.Backbones);
        var best = seeing.MaxBy(s => s.CrossValidationAccuracy)!;
        Assert.Equal(best.CrossValidationAccuracy, fixture.Row(choice.Winner).CrossValidationAccuracy);
        Assert.NotEqual(fixture.Blind, choice.Winner);
        Assert.Contains(choice.Winner, choice.Reason);
    }

    [Fact]
    public void TheLatencyLimitRulesOutTheSlowBackbone()
    {
        var rows = fixture.Result.Report.Backbones;
        var (small, large) = (fixture.Row(fixture.Small), fixture.Row(fixture.Large));
        // Between the two measured medians: only the small one (and the blind one) is within it.
        var limit = (small.LatencyP50Milliseconds + large.LatencyP50Milliseconds) / 2;
        var choice = BackboneComparison.Choose(rows, maxLatencyMilliseconds: limit);
        Assert.NotEqual(fixture.Large, choice.Winner);
        Assert.Contains(choice.Excluded, e => e.Backbone == fixture.Large && e.Reason.Contains("--max-latency-ms"));
        Assert.Contains("ruled out", choice.Reason);
    }

    [Fact]
    public void NoBackboneWithinTheLimitsIsAnErrorNamingTheLimitAndTheBestSeen()
    {
        var rows = fixture.Result.Report.Backbones;
        var fastest = rows.MinBy(r => r.LatencyP50Milliseconds)!;
        var e = Assert.Throws<MlNetTransferException>(() => BackboneComparison.Choose(rows, maxLatencyMilliseconds: fastest.LatencyP50Milliseconds / 2));
        Assert.Contains("--max-latency-ms", e.Message);
        Assert.Contains($"the fastest, {fastest.Backbone}", e.Message);
        var smallest = rows.MinBy(r => r.ZipBytes)!;
        e = Assert.Throws<MlNetTransferException>(() => BackboneComparison.Choose(rows, maxModelMegabytes: smallest.ZipBytes / 2e6));
        Assert.Contains("--max-model-mb", e.Message);
        Assert.Contains(smallest.Backbone, e.Message);
    }

    [Fact]
    public void TheParetoFrontHoldsNoBackboneBeatenOnBothAccuracyAndLatency()
    {
        var rows = fixture.Result.Report.Backbones;
        var front = fixture.Result.Report.ParetoFront;
        Assert.NotEmpty(front);
        foreach (var name in front)
        {
            var r = fixture.Row(name);
            Assert.DoesNotContain(rows, o => o.CrossValidationAccuracy > r.CrossValidationAccuracy && o.LatencyP50Milliseconds < r.LatencyP50Milliseconds);
        }
        // The most accurate and the fastest are each on the front.
        Assert.Contains(rows.MinBy(r => r.LatencyP50Milliseconds)!.Backbone, front);
        Assert.Contains(rows.MaxBy(r => r.CrossValidationAccuracy)!.Backbone, front);
    }

    [Fact]
    public void ParetoAndChoiceOnConstructedRows()
    {
        BackboneMeasurement Row(string name, double accuracy, double ms, long bytes) =>
            new() { Backbone = name, CrossValidationAccuracy = accuracy, LatencyP50Milliseconds = ms, ZipBytes = bytes };
        var rows = new[] { Row("a", 0.95, 40, 30_000_000), Row("b", 0.90, 10, 4_000_000), Row("c", 0.85, 20, 3_000_000), Row("d", 0.95, 30, 14_000_000) };
        Assert.Equal(["b", "d"], BackboneComparison.ParetoFront(rows));
        Assert.Equal("d", BackboneComparison.Choose(rows).Winner);                              // tie on accuracy: the faster
        Assert.Equal("b", BackboneComparison.Choose(rows, maxLatencyMilliseconds: 25).Winner);
        Assert.Equal("b", BackboneComparison.Choose(rows, maxModelMegabytes: 10).Winner);
        Assert.Equal("c", BackboneComparison.Choose(rows, maxModelMegabytes: 3.5).Winner);
        Assert.Equal(BackboneComparison.Choose(rows).Winner, BackboneComparison.Choose(rows.Reverse().ToArray()).Winner);
    }

    [Fact]
    public void AfterTheComparisonTrainingWithTheWinnerFeaturizesNothing()
    {
        var options = fixture.Options();
        options.Backbone = BackboneComparison.Choose(fixture.Result.Report.Backbones).Winner;
        var result = new MLContext(1).TransferLearning().Train(options);
        Assert.True(result.Report.Featurization.Images > 0);
        Assert.Equal(result.Report.Featurization.Images, result.Report.Featurization.CacheHits);
    }

    [Fact]
    public void BackboneAutoTrainsTheWinnerAndReportsWhy()
    {
        var options = fixture.Options(fixture.Small, fixture.Blind);
        options.Backbone = BackboneComparison.AutoName;
        var result = new MLContext(1).TransferLearning().Train(options);
        var comparison = result.Report.BackboneComparison!;
        Assert.Equal(fixture.Small, comparison.Choice!.Winner);
        Assert.Equal(Path.GetFileNameWithoutExtension(fixture.Small), result.Metadata.Backbone);
        Assert.Equal(2, comparison.Backbones.Count);
        Assert.Contains("highest cross-validated accuracy", comparison.Choice.Reason);
        Assert.Contains(BackboneChoiceJson(result), s => s == fixture.Small);
        Assert.Contains("data-plot=\"" + HtmlReport.PlotNames.AccuracyVersusLatency + "\"", HtmlReport.Render(result.Report));
    }

    [Fact]
    public void ComparisonNeedsTheCrossValidatedRanking()
    {
        var options = fixture.Options(fixture.Small);
        options.Head.L2Regularization = 0.1f;
        var e = Assert.Throws<MlNetTransferException>(() => new BackboneComparison(new MLContext(1)).Compare(options));
        Assert.Contains("cross-validated", e.Message);
    }

    [Fact]
    public void CliCompareWritesTableJsonHtmlAndZips()
    {
        using var dir = new TempDirectory();
        var run = CliRunner.Run(dir.Path, "backbones", "compare", "--data", fixture.DataDir, "--backbones", $"{fixture.Small},{fixture.Blind}",
            "--cache-dir", fixture.CacheDir, "--head-cv", "3", "--latency-runs", "5", "--out", "cmp");
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains("Pareto", run.StdOut);
        Assert.Contains("Choice:", run.StdOut);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "cmp", "comparison.json"))).RootElement;
        Assert.Equal(2, json.GetProperty("backbones").GetArrayLength());
        Assert.Equal(fixture.Small, json.GetProperty("choice").GetProperty("winner").GetString());
        Assert.Contains(HtmlReport.PlotNames.AccuracyVersusLatency, File.ReadAllText(Path.Combine(dir.Path, "cmp", "comparison.html")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "cmp", "models", "small.zip")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "cmp", "models", "blind.zip")));
    }

    [Fact]
    public void CliTrainAutoRespectsTheModelSizeLimitAndFailsCleanlyWhenNothingFits()
    {
        using var dir = new TempDirectory();
        var (small, large) = (fixture.Row(fixture.Small), fixture.Row(fixture.Large));
        var limit = (small.ZipBytes + large.ZipBytes) / 2e6;
        string[] Args(params string[] more) => ["train", "--data", fixture.DataDir, "--backbone", "auto", "--backbones", $"{fixture.Large},{fixture.Blind}",
            "--cache-dir", fixture.CacheDir, "--head-cv", "3", "--latency-runs", "5", .. more];

        // Only the blind backbone's zip fits under the limit: it wins though it is the less accurate.
        var run = CliRunner.Run(dir.Path, Args("--max-model-mb", limit.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", "m.zip"));
        Assert.True(run.ExitCode == 0, run.All);
        var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "report.json"))).RootElement.GetProperty("backboneComparison");
        Assert.Equal(fixture.Blind, report.GetProperty("choice").GetProperty("winner").GetString());
        Assert.Contains("--max-model-mb", report.GetProperty("choice").GetProperty("reason").GetString());
        Assert.Contains(HtmlReport.PlotNames.AccuracyVersusLatency, File.ReadAllText(Path.Combine(dir.Path, "report.html")));

        // A latency no network meets: exit 1, the limit and the fastest measured named, nothing written.
        var none = CliRunner.Run(dir.Path, Args("--max-latency-ms", "0.000001", "--out", "none.zip"));
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("--max-latency-ms", none.StdErr);
        Assert.Contains("the fastest", none.StdErr);
        Assert.False(File.Exists(Path.Combine(dir.Path, "none.zip")));
    }

    private static IEnumerable<string> BackboneChoiceJson(TransferLearningResult result) =>
        JsonDocument.Parse(result.Report.ToJson()).RootElement.GetProperty("backboneComparison").GetProperty("backbones").EnumerateArray()
            .Select(b => b.GetProperty("backbone").GetString()!);
}

public sealed class DefaultCandidateTests
{
    [Fact]
    public void TheDefaultListIsWhatIsInstalledOrInAMirrorAndTheRestIsSaidToBeSkipped()
    {
        using var bed = new MlNetTransfer.Tests.Catalog.CatalogTestBed();
        var skipped = new List<SkippedBackbone>();
        var names = BackboneComparison.DefaultCandidates([bed.Mirror], skipped, bed.LoadCatalog(), bed.Cache);
        Assert.Equal(["fake_onnx", "fake_tfjs"], names);
        Assert.Equal("fake_npm", Assert.Single(skipped).Backbone);
        Assert.Contains("not installed and not in a mirror", skipped[0].Reason);

        // Without the mirror nothing is there; once installed into the cache, it is.
        skipped.Clear();
        Assert.Empty(BackboneComparison.DefaultCandidates([], skipped, bed.LoadCatalog(), bed.Cache));
        Assert.Equal(3, skipped.Count);
        var install = new MlNetTransfer.Backbones.Catalog.InstallOptions { CacheDirectory = bed.Cache, UseEnvironmentMirrors = false, AllowNpm = false, AllowDownload = false };
        install.Mirrors.Add(bed.Mirror);
        bed.Installer(install).Install("fake_onnx");
        Assert.Equal(["fake_onnx"], BackboneComparison.DefaultCandidates([], [], bed.LoadCatalog(), bed.Cache));
    }
}
