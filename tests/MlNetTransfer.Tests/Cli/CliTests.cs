using System.Text.Json;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Cli;

public sealed class CliTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    private static CliRunner.Result Train(TempDirectory dir, string data, params string[] extra) =>
        CliRunner.Run(dir.Path, ["train", "--data", data, "--backbone", "synthetic-cnn", "--out", dir.Combine("out", "model.zip"),
            "--report", dir.Combine("out", "report.json"), "--cache-dir", dir.Combine("cache"), .. extra]);

    private static void AssertFailedCleanly(TempDirectory dir, CliRunner.Result run, params string[] mustMention)
    {
        Assert.Equal(1, run.ExitCode);
        foreach (var m in mustMention) Assert.Contains(m, run.StdErr);
        Assert.DoesNotContain("   at ", run.StdErr); // a message, not a stack trace
        Assert.False(File.Exists(dir.Combine("out", "model.zip")), "no model may be written on failure");
        Assert.False(File.Exists(dir.Combine("out", "report.json")), "no report may be written on failure");
    }

    [Fact]
    public void TrainWritesModelAndReportWithEveryPromisedField()
    {
        using var dir = new TempDirectory();
        var run = Train(dir, fixture.DataDir, "--trainer", "sdca", "--split", "70,15,15");
        Assert.True(run.ExitCode == 0, run.All);
        Assert.True(File.Exists(dir.Combine("out", "model.zip")));
        using var report = JsonDocument.Parse(File.ReadAllText(dir.Combine("out", "report.json")));
        var root = report.RootElement;
        var metrics = root.GetProperty("metrics");
        foreach (var key in new[] { "accuracy", "macroF1", "logLoss", "perClass", "confusion" }) Assert.True(metrics.TryGetProperty(key, out _), key);
        foreach (var key in new[] { "counts", "skipped", "backbone", "trainer", "timings" }) Assert.True(root.TryGetProperty(key, out _), key);
        foreach (var key in new[] { "featurizeSeconds", "trainSeconds", "totalSeconds" }) Assert.True(root.GetProperty("timings").GetProperty(key).GetDouble() >= 0, key);
        Assert.Equal("sdca", root.GetProperty("trainer").GetProperty("name").GetString());
        Assert.Contains("accuracy", run.StdOut);
    }

    [Fact]
    public void MissingDataPathIsAClearError()
    {
        using var dir = new TempDirectory();
        var missing = dir.Combine("no-such-folder");
        AssertFailedCleanly(dir, Train(dir, missing), missing);
    }

    [Fact]
    public void EmptyFolderIsAClearError()
    {
        using var dir = new TempDirectory();
        var empty = dir.Combine("empty");
        Directory.CreateDirectory(empty);
        AssertFailedCleanly(dir, Train(dir, empty), empty);
    }

    [Fact]
    public void ClassWithOneUsableImageIsNamed()
    {
        using var dir = new TempDirectory();
        var data = dir.Combine("data");
        foreach (var cls in new[] { "red_circle", "green_square" })
            CopyDir(Path.Combine(fixture.DataDir, cls), Path.Combine(data, cls));
        Directory.CreateDirectory(Path.Combine(data, "lonely"));
        File.Copy(Directory.GetFiles(Path.Combine(fixture.DataDir, "blue_triangle"))[0], Path.Combine(data, "lonely", "one.png"));
        File.WriteAllText(Path.Combine(data, "lonely", "two.jpg"), "not an image");
        AssertFailedCleanly(dir, Train(dir, data), "lonely");
    }

    [Fact]
    public void ManifestRowPointingNowhereIsNamed()
    {
        using var dir = new TempDirectory();
        var manifest = dir.Combine("labels.csv");
        var lines = Directory.GetFiles(fixture.DataDir, "*", SearchOption.AllDirectories)
            .Select(f => $"{f},{Path.GetFileName(Path.GetDirectoryName(f))}").ToList();
        lines.Add("missing/ghost.png,circle");
        File.WriteAllLines(manifest, lines);
        AssertFailedCleanly(dir, Train(dir, manifest), "ghost.png");
    }

    [Fact]
    public void UnknownBackboneAndBadSplitAreClearErrors()
    {
        using var dir = new TempDirectory();
        var run = CliRunner.Run(dir.Path, "train", "--data", fixture.DataDir, "--backbone", dir.Combine("nope.onnx"), "--out", dir.Combine("out", "model.zip"));
        AssertFailedCleanly(dir, run, "nope.onnx");
        AssertFailedCleanly(dir, Train(dir, fixture.DataDir, "--split", "0.5,0.1,0.1"), "--split");
    }

    [Fact]
    public void PredictOnABadFileNamesIt()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, Train(dir, fixture.DataDir).ExitCode);
        var bad = dir.Combine("broken.jpg");
        File.WriteAllBytes(bad, [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]);
        var run = CliRunner.Run(dir.Path, "predict", "--model", dir.Combine("out", "model.zip"), "--input", bad);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("broken.jpg", run.StdErr);
        var missingModel = CliRunner.Run(dir.Path, "predict", "--model", dir.Combine("none.zip"), "--input", bad);
        Assert.Equal(1, missingModel.ExitCode);
        Assert.Contains("none.zip", missingModel.StdErr);
    }

    [Fact]
    public void HelpExplainsEveryTrainOption()
    {
        var run = CliRunner.Run(Path.GetTempPath(), "train", "--help");
        Assert.Equal(0, run.ExitCode);
        foreach (var option in new[] { "--data", "--backbone", "--strategy", "--trainer", "--out", "--report", "--split", "--seed", "--mirror", "--cache-dir" })
            Assert.Contains(option, run.StdOut);
    }

    [Fact]
    public void InspectListsInputsOutputsAndEmbeddingCandidates()
    {
        var run = CliRunner.Run(Path.GetTempPath(), "inspect", fixture.BackbonePath);
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains("input", run.StdOut, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("GlobalAveragePool", run.StdOut);
        var notOnnx = Path.Combine(fixture.Root, "not-a-model.onnx");
        File.WriteAllText(notOnnx, "hello");
        var bad = CliRunner.Run(Path.GetTempPath(), "inspect", notOnnx);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("not-a-model.onnx", bad.StdErr);
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
