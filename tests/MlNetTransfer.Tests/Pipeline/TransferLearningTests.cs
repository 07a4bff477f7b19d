using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Heads;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Pipeline;

public sealed class TransferLearningTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    private TransferLearningOptions Options(HeadTrainer trainer, string? cacheDir = null) => new()
    {
        DataPath = fixture.DataDir,
        Backbone = BackboneResolver.SyntheticName,
        Head = { Trainer = trainer },
        Featurizer = { CacheDirectory = cacheDir ?? fixture.CacheDir },
    };

    [Theory]
    [InlineData(HeadTrainer.Sdca)]
    [InlineData(HeadTrainer.Lbfgs)]
    [InlineData(HeadTrainer.Svm)]
    [InlineData(HeadTrainer.LightGbm)]
    public void EachHeadLearnsTheShapes(HeadTrainer trainer)
    {
        var result = new MLContext(1).TransferLearning().Train(Options(trainer));
        var m = result.Report.Metrics;
        // Three colour-coded classes: even random conv features separate them; chance is 0.33.
        Assert.True(m.Accuracy >= 0.8, $"{trainer}: accuracy {m.Accuracy}");
        Assert.InRange(m.MacroF1, 0.75, 1.0);
        Assert.Equal(3, m.PerClass.Count);
        Assert.Equal(m.Examples, m.Confusion.Counts.Sum(r => r.Sum()));
        Assert.True(double.IsFinite(m.LogLoss) && m.LogLoss >= 0);
        Assert.Equal(MlNetTransfer.Data.SyntheticImageDataset.Classes, result.Metadata.Classes);
        Assert.Equal(72, result.Report.Counts.Train + result.Report.Counts.Validation + result.Report.Counts.Test);
    }

    [Fact]
    public void SecondRunReadsEveryEmbeddingFromTheCache()
    {
        using var cache = new TempDirectory();
        var first = new MLContext(1).TransferLearning().Train(Options(HeadTrainer.Lbfgs, cache.Path));
        Assert.Equal(0, first.Report.Featurization.CacheHits);
        var second = new MLContext(1).TransferLearning().Train(Options(HeadTrainer.Sdca, cache.Path));
        Assert.Equal(second.Report.Featurization.Images, second.Report.Featurization.CacheHits);
    }

    [Fact]
    public void CachedAndFreshEmbeddingsGiveTheSameModel()
    {
        using var cache = new TempDirectory();
        var fresh = new MLContext(1).TransferLearning().Train(Options(HeadTrainer.Lbfgs, cache.Path));
        var cached = new MLContext(1).TransferLearning().Train(Options(HeadTrainer.Lbfgs, cache.Path));
        Assert.Equal(fresh.Report.Metrics.Accuracy, cached.Report.Metrics.Accuracy);
        Assert.Equal(fresh.Report.Metrics.LogLoss, cached.Report.Metrics.LogLoss, 6);
    }

    [Fact]
    public void SavedZipPredictsWithoutTheOnnxFileInAFreshProcess()
    {
        using var dir = new TempDirectory();
        var onnx = Path.Combine(dir.Path, "backbone.onnx");
        File.Copy(fixture.BackbonePath, onnx);
        File.WriteAllText(BackboneResolver.SidecarPath(onnx),
            """{ "name": "tiny", "inputWidth": 64, "inputHeight": 64, "mean": [0.5,0.5,0.5], "std": [0.25,0.25,0.25] }""");
        var options = Options(HeadTrainer.Lbfgs, dir.Combine("cache"));
        options.Backbone = onnx;
        var ml = new MLContext(1);
        var result = ml.TransferLearning().Train(options);
        var zip = dir.Combine("model.zip");
        result.Save(zip);
        File.Delete(onnx);
        Directory.Delete(dir.Combine("cache"), true);

        var images = Directory.GetFiles(fixture.DataDir, "*.*", SearchOption.AllDirectories).Order().Take(12).ToArray();
        var inProcess = result.ToClassifier().PredictBatch(images);

        var csv = dir.Combine("predictions.csv");
        var probeDir = dir.Combine("probe");
        Directory.CreateDirectory(probeDir);
        foreach (var img in images) File.Copy(img, Path.Combine(probeDir, Path.GetFileName(img)));
        var run = CliRunner.Run(dir.Path, "predict", "--model", zip, "--input", probeDir, "--out", csv);
        Assert.True(run.ExitCode == 0, run.All);
        var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToDictionary(c => Path.GetFileName(c[0]), c => (Label: c[1], P: float.Parse(c[2], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(images.Length, rows.Count);
        foreach (var p in inProcess)
        {
            var row = rows[Path.GetFileName(p.ImagePath)];
            Assert.Equal(p.Label, row.Label);
            Assert.Equal(p.Confidence, row.P, 4);
        }
    }

    [Fact]
    public void LoadedModelNeedsNoLabelColumnAndKnowsItsClasses()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var result = ml.TransferLearning().Train(Options(HeadTrainer.Sdca));
        var zip = dir.Combine("m.zip");
        result.Save(zip);

        var metadata = ModelMetadata.Read(zip)!;
        Assert.Equal(MlNetTransfer.Data.SyntheticImageDataset.Classes, metadata.Classes);
        Assert.Equal(BackboneResolver.SyntheticName, metadata.Backbone);
        Assert.Equal(result.Report.Metrics.Accuracy, metadata.Metrics["accuracy"]);

        // Plain ML.NET: load and score a view that has only ImagePath.
        var model = new MLContext().Model.Load(zip, out var inputSchema);
        Assert.DoesNotContain(inputSchema, c => c.Name == "Label");
        var classifier = ImageClassifier.Load(new MLContext(), zip);
        var circle = Directory.GetFiles(Path.Combine(fixture.DataDir, "red_circle")).Order().First();
        var prediction = classifier.Predict(circle);
        Assert.Equal(3, prediction.Scores.Count);
        Assert.Equal(1.0, prediction.Scores.Sum(s => s.Value), 3);
        Assert.Equal(prediction.Label, prediction.Top(1)[0].Key);
    }

    [Fact]
    public void SaveWritesModelAndReportTogetherOrNeither()
    {
        using var dir = new TempDirectory();
        var result = new MLContext(1).TransferLearning().Train(Options(HeadTrainer.Lbfgs));
        var blocked = dir.Combine("report-is-a-folder");
        Directory.CreateDirectory(blocked);
        Assert.ThrowsAny<Exception>(() => result.Save(dir.Combine("model.zip"), blocked));
        Assert.False(File.Exists(dir.Combine("model.zip")));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
