using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Scale;

/// <summary><c>auto</c> trained from embeddings shards: its head candidates as on the images, what it cannot do said plainly.</summary>
public sealed class AutoFromShardsTests(ShardFixture fixture) : IClassFixture<ShardFixture>
{
    private static readonly string[] FineTuningRows = ["fine-tune-top/freeze-70", "fine-tune-earlier/freeze-42", "fine-tune-all/freeze-0"];

    // The console wraps long messages at its width: compare words, not lines.
    private static string Words(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private List<string> Images() => Directory.GetFiles(fixture.DataDir, "synthetic_*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

    /// <summary>Every image of two classes and a quarter of the third's (paths relative to the manifest): imbalanced, so
    /// classes are weighted and candidates rank by macro-F1.</summary>
    private string ImbalancedManifest(string file)
    {
        var rows = Images().GroupBy(f => Path.GetFileName(Path.GetDirectoryName(f)!)).OrderBy(g => g.Key, StringComparer.Ordinal)
            .SelectMany((g, k) => g.Where((_, i) => k != 0 || i % 4 == 0).Select(f => $"{Path.GetRelativePath(Path.GetDirectoryName(file)!, f)},{g.Key}"));
        File.WriteAllLines(file, ["path,label", .. rows]);
        return file;
    }

    private static TransferLearningOptions Options()
    {
        var options = new TransferLearningOptions
        {
            Backbone = BackboneResolver.SyntheticName,
            Strategy = TransferLearningOptions.AutoStrategy,
            // Far more than the heads need, whatever else the machine runs: no head's cross-validation may be cut short, or the
            // two runs' scores could differ for want of time rather than of images.
            Budget = TimeSpan.FromHours(1),
            Seed = 3,
            Featurizer = { CacheDirectory = null, DegreeOfParallelism = 2 },
        };
        return options.WithSixtyTwentyTwenty();
    }

    [Fact]
    public void AutoFromShardsScoresItsHeadsAsAutoOnTheImagesAndSaysWhatItLeftOut()
    {
        using var dir = new TempDirectory();
        var manifest = ImbalancedManifest(dir.Combine("imbalanced.csv"));
        var shards = dir.Combine("shards");
        for (var i = 0; i < 2; i++) ShardedFeaturizationTests.Featurize(manifest, shards, new ShardSpec(i, 2));

        var onImages = Options();
        onImages.DataPath = manifest;
        onImages.Auto.FineTune = false; // auto's head candidates, the part shards can train
        var fromShards = Options();
        fromShards.EmbeddingsPath = shards;
        fromShards.Backbone = ""; // the one the shards name
        Assert.True(fromShards.Auto.FineTune);

        var a = new MLContext(1).TransferLearning().Train(onImages);
        var b = new MLContext(1).TransferLearning().Train(fromShards);

        // Same split, same weights, same ranking rule.
        Assert.Equal((a.Report.Counts.Train, a.Report.Counts.Validation, a.Report.Counts.Test), (b.Report.Counts.Train, b.Report.Counts.Validation, b.Report.Counts.Test));
        Assert.True(b.Report.ClassBalance!.Applied, b.Report.ClassBalance.Note);
        Assert.Equal(a.Report.ClassBalance!.Weights, b.Report.ClassBalance.Weights);
        var (boardA, boardB) = (a.Report.Leaderboard!, b.Report.Leaderboard!);
        Assert.True(boardA.RankedByMacroF1);
        Assert.True(boardB.RankedByMacroF1);

        // Every head of the search, scored as on the images.
        var heads = boardA.Entries;
        Assert.Equal(fromShards.Auto.Heads.Select(h => $"feature-extractor/{h.ToString().ToLowerInvariant()}").Order(), heads.Select(e => e.Candidate).Order());
        foreach (var head in heads)
        {
            var fromShard = Assert.Single(boardB.Entries, e => e.Candidate == head.Candidate);
            Assert.Equal(CandidateStatus.Completed, fromShard.Status);
            Assert.Equal(0, fromShard.Rung);
            Assert.NotNull(head.Score);
            Assert.Equal(head.Score, fromShard.Score);
            Assert.Equal(head.MacroF1, fromShard.MacroF1);
        }
        Assert.Equal(boardA.Winner, boardB.Winner);
        Assert.Equal(a.Report.Trainer.L2Regularization, b.Report.Trainer.L2Regularization);
        Assert.Equal(a.Report.Metrics.Accuracy, b.Report.Metrics.Accuracy);
        Assert.Equal(a.Report.Metrics.LogLoss, b.Report.Metrics.LogLoss);

        // Fine-tuning could not run: a row per scenario saying why, none of them passed off as a budget skip.
        var notRun = boardB.Entries.Where(e => e.Rung != 0).ToList();
        Assert.Equal(FineTuningRows.Order(), notRun.Select(e => e.Candidate).Order());
        Assert.All(notRun, e =>
        {
            Assert.Equal(CandidateStatus.NotRun, e.Status);
            Assert.Null(e.Score);
            Assert.Equal("fine-tuning needs the images (it trains the network on their pixels), and this run has only their embeddings", e.Note);
        });
        Assert.Equal(0, b.Report.Budget!.SkippedCandidates);
        Assert.StartsWith("Heads only: fine-tuning needs the images", boardB.Note);
        Assert.Contains($"Trained from the embeddings shards in {shards}; train with --data", boardB.Note);
        // The domain similarity: what the embeddings allowed, what they did not, and no scenario chosen from half of it.
        Assert.Contains("LogME", boardB.Note);
        Assert.Contains("5-NN probe", boardB.Note);
        Assert.Contains("not computed: the LogME gain and the probe error reduction", boardB.Note);
        Assert.Contains("top-layer gain", boardB.Note);
        Assert.Contains("source-head confidence", boardB.Note);
        Assert.Null(b.Report.Scenario);
        Assert.Null(b.Report.Search);
        Assert.NotNull(a.Report.Scenario);
        Assert.Equal(shards, b.Report.Featurization.Shards);
        Assert.Equal("auto", b.Report.Strategy);

        // The winner's zip featurizes images itself, and predicts them as the model trained on the images does.
        b.Save(dir.Combine("model.zip"), dir.Combine("report.json"));
        Assert.Equal(CandidateStatus.NotRun, TrainingReport.Load(dir.Combine("report.json")).Leaderboard!.Entries.First(e => e.Rung == 1).Status);
        using var loaded = ImageClassifier.Load(new MLContext(), dir.Combine("model.zip"));
        var images = Images();
        var expected = a.ToClassifier().PredictBatch(images);
        var actual = loaded.PredictBatch(images);
        for (var i = 0; i < images.Count; i++)
        {
            Assert.Equal(expected[i].Label, actual[i].Label);
            Assert.Equal(expected[i].Confidence, actual[i].Confidence, 5);
        }
    }

    [Fact]
    public void AutoFromShardsRefusesMissingShardsAndAnotherBackboneByName()
    {
        using var dir = new TempDirectory();
        ShardedFeaturizationTests.Featurize(fixture.DataDir, dir.Path, new ShardSpec(0, 2));
        var missing = Options();
        missing.EmbeddingsPath = dir.Path;
        missing.Backbone = "";
        var e = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(missing));
        Assert.Contains("shard 1/2: embeddings-00001-of-00002.parquet is missing", e.Message);

        var other = dir.Combine("other", "other.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(other)!);
        global::MlNetTransfer.Backbones.Onnx.OnnxModelFile.Save(BackboneResolver.Synthetic().Model, other);
        File.WriteAllText(BackboneResolver.SidecarPath(other), """{ "name": "other", "inputWidth": 64, "inputHeight": 64, "mean": [0.4,0.4,0.4], "std": [0.2,0.2,0.2] }""");
        var wrong = Options();
        wrong.EmbeddingsPath = fixture.Whole;
        wrong.Backbone = other;
        var refused = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(wrong));
        Assert.Contains(fixture.Reference.Marker.BackboneSha256!, refused.Message);
        Assert.Contains("--backbone synthetic-cnn", refused.Message);

        // Fine-tuning strategies still need the images; auto is named as the way to search from shards.
        var fineTune = Options();
        fineTune.EmbeddingsPath = fixture.Whole;
        fineTune.Strategy = TransferLearningOptions.ChainThawStrategy;
        var needsImages = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(fineTune));
        Assert.Contains("needs the images", needsImages.Message);
        Assert.Contains("--strategy feature-extractor or auto", needsImages.Message);
    }

    [Fact]
    public void CommandLineFeaturizesTwoShardsAndAutoTrainsFromThem()
    {
        using var dir = new TempDirectory();
        var shards = dir.Combine("shards");
        foreach (var shard in new[] { "0/2", "1/2" })
        {
            var run = CliRunner.Run(dir.Path, "featurize", "--data", fixture.DataDir, "--backbone", BackboneResolver.SyntheticName, "--out", shards, "--shard", shard, "--threads", "2");
            Assert.True(run.ExitCode == 0, run.All);
        }
        var model = dir.Combine("out", "model.zip");
        var train = CliRunner.Run(dir.Path, "train", "--embeddings", shards, "--strategy", "auto", "--budget", "1h", "--out", model);
        Assert.True(train.ExitCode == 0, train.All);
        Assert.Contains("Heads only: fine-tuning needs the images", Words(train.StdOut));

        var report = TrainingReport.Load(dir.Combine("out", "report.json"));
        Assert.Equal("auto", report.Strategy);
        var board = report.Leaderboard!;
        Assert.Equal(4, board.Entries.Count(e => e.Rung == 0 && e.Status == CandidateStatus.Completed));
        Assert.Equal(FineTuningRows.Order(), board.Entries.Where(e => e.Status == CandidateStatus.NotRun).Select(e => e.Candidate).Order());
        Assert.StartsWith("feature-extractor/", board.Winner);
        Assert.True(File.Exists(dir.Combine("out", "report.html")));
        Assert.Equal(BackboneResolver.SyntheticName, ModelMetadata.Read(model)!.Backbone);
        using var classifier = ImageClassifier.Load(new MLContext(), model);
        Assert.All(classifier.PredictBatch(Images().Take(6).ToList()), p => Assert.Contains(p.Label, SyntheticImageDataset.Classes));
    }
}
