using System.Runtime.InteropServices;
using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Heads;
using MlNetTransfer.Serving;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Scale;

/// <summary>A generated data set with one undecodable file, and its unsharded featurization (the reference every sharded run must equal).</summary>
public sealed class ShardFixture : IDisposable
{
    private readonly TempDirectory _dir = new("mlnt-shards");

    public ShardFixture()
    {
        DataDir = SyntheticImageDataset.Write(_dir.Combine("shapes"), imagesPerClass: 20, size: 64, seed: 5);
        File.WriteAllText(Path.Combine(DataDir, "red_circle", "notes.jpg"), "not an image");
        Whole = _dir.Combine("whole");
        Reference = ShardedFeaturizationTests.Featurize(DataDir, Whole, ShardSpec.Whole);
    }

    public string DataDir { get; }
    public string Whole { get; }
    public ShardRunResult Reference { get; }
    public string Root => _dir.Path;

    public void Dispose() => _dir.Dispose();
}

public sealed class ShardedFeaturizationTests(ShardFixture fixture) : IClassFixture<ShardFixture>
{
    internal static ShardRunResult Featurize(string data, string outDir, ShardSpec shard, string backbone = BackboneResolver.SyntheticName)
    {
        var options = new ShardedFeaturizerOptions { DataPath = data, Backbone = backbone, OutputDirectory = outDir, Shard = shard };
        options.Featurizer.DegreeOfParallelism = 2;
        return new MLContext(1).TransferLearning().FeaturizeShard(options);
    }

    private static List<EmbeddingShardRow> Rows(string dir) =>
        Directory.GetFiles(dir, "embeddings-*.parquet").Order(StringComparer.Ordinal).SelectMany(f => GatheredEmbeddings.ReadRows(f)).ToList();

    private static byte[] Bits(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    [Fact]
    public void ShardsTogetherHoldExactlyTheUnshardedRowsBitForBit()
    {
        using var dir = new TempDirectory();
        var results = Enumerable.Range(0, 3).Select(i => Featurize(fixture.DataDir, dir.Path, new ShardSpec(i, 3))).ToList();

        var whole = Rows(fixture.Whole).ToDictionary(r => r.Path, StringComparer.Ordinal);
        var sharded = Rows(dir.Path);
        Assert.Equal(60, whole.Count);
        // Every image exactly once: no path twice, none missing, nothing extra.
        Assert.Equal(sharded.Count, sharded.Select(r => r.Path).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(whole.Keys.Order(StringComparer.Ordinal), sharded.Select(r => r.Path).Order(StringComparer.Ordinal));
        foreach (var row in sharded)
        {
            var reference = whole[row.Path];
            Assert.Equal(reference.Label, row.Label);
            Assert.Equal(reference.ContentSha256, row.ContentSha256);
            Assert.Equal(reference.BackboneSha256, row.BackboneSha256);
            Assert.Equal(Bits(reference.Embedding), Bits(row.Embedding));
        }
        // The content hash is the file's SHA-256, the one the embedding cache uses.
        var first = sharded[0];
        Assert.Equal(EmbeddingCache.ContentHash(Path.Combine(fixture.DataDir, first.Path)), first.ContentSha256);

        // Each shard holds the rows its hash assigns, and the bad file is listed once, by the shard that owns it.
        foreach (var r in results)
            Assert.All(GatheredEmbeddings.ReadRows(r.ParquetPath), row => Assert.Equal(r.Marker.Shard, ShardSpec.ShardOf(row.Path, 3)));
        var skipped = results.SelectMany(r => r.Marker.Skipped).ToList();
        var bad = Assert.Single(skipped);
        Assert.Equal("red_circle/notes.jpg", bad.Path);
        Assert.Contains("not an image", bad.Reason);
        Assert.Equal(fixture.Reference.Marker.Skipped.Single(), bad);
        Assert.Equal(61, results.Sum(r => r.Marker.FilesInShard));
        Assert.All(results, r => Assert.Equal(61, r.Marker.ListedFiles));
    }

    [Fact]
    public void TheColumnReaderReadsWhatTheSerializerWrote()
    {
        var general = ShardFiles.Read<EmbeddingShardRow>(fixture.Reference.ParquetPath);
        var columns = GatheredEmbeddings.ReadRows(fixture.Reference.ParquetPath);
        Assert.Equal(60, columns.Count);
        Assert.Equal(general.Count, columns.Count);
        for (var i = 0; i < general.Count; i++)
        {
            Assert.Equal((general[i].Path, general[i].Label, general[i].Split, general[i].ContentSha256, general[i].BackboneSha256, general[i].Width, general[i].Height),
                (columns[i].Path, columns[i].Label, columns[i].Split, columns[i].ContentSha256, columns[i].BackboneSha256, columns[i].Width, columns[i].Height));
            Assert.Equal(Bits(general[i].Embedding), Bits(columns[i].Embedding));
        }
        Assert.All(columns, r => Assert.True(r.Width > 0 && r.Height > 0));
        var notParquet = Path.Combine(fixture.Root, "not.parquet");
        File.WriteAllText(notParquet, "hello");
        Assert.Contains("not a readable embeddings shard", Assert.Throws<MlNetTransferException>(() => GatheredEmbeddings.ReadRows(notParquet)).Message);
    }

    [Fact]
    public void ARerunSkipsFinishedShardsAndRedoesAHalfWrittenOne()
    {
        using var dir = new TempDirectory();
        var first = Enumerable.Range(0, 2).Select(i => Featurize(fixture.DataDir, dir.Path, new ShardSpec(i, 2))).ToList();
        var finished = File.ReadAllBytes(first[0].ParquetPath);
        var truncatedBefore = File.ReadAllBytes(first[1].ParquetPath);
        File.WriteAllBytes(first[1].ParquetPath, truncatedBefore[..(truncatedBefore.Length / 2)]);
        // What a task killed mid-write leaves behind.
        var leftover = Path.Combine(dir.Path, ".embeddings-00001-of-00002.parquet.4242.0123456789abcdef.tmp");
        File.WriteAllText(leftover, "partial");

        var again0 = Featurize(fixture.DataDir, dir.Path, new ShardSpec(0, 2));
        Assert.True(again0.AlreadyComplete);
        Assert.Equal(finished, File.ReadAllBytes(first[0].ParquetPath));
        Assert.Equal(first[0].Marker.ParquetSha256, again0.Marker.ParquetSha256);
        Assert.Equal(first[0].Marker.CreatedUtc, again0.Marker.CreatedUtc);

        var again1 = Featurize(fixture.DataDir, dir.Path, new ShardSpec(1, 2));
        Assert.False(again1.AlreadyComplete);
        Assert.Contains("damaged", again1.Redone);
        Assert.False(File.Exists(leftover));
        var redone = GatheredEmbeddings.ReadRows(again1.ParquetPath);
        var before = GatheredEmbeddings.ReadRows(first[0].ParquetPath);
        Assert.Equal(first[1].Marker.Rows, redone.Count);
        Assert.Equal(60, redone.Count + before.Count);
        Assert.Empty(redone.Select(r => r.Path).Intersect(before.Select(r => r.Path)));

        // A Parquet file without its marker (killed between the two moves) is redone too.
        File.Delete(Path.ChangeExtension(again1.ParquetPath, ".json"));
        var third = Featurize(fixture.DataDir, dir.Path, new ShardSpec(1, 2));
        Assert.Contains("no completion marker", third.Redone);
        Assert.NotNull(GatheredEmbeddings.Load(dir.Path));
    }

    [Fact]
    public void AFolderHoldsOneShardCount()
    {
        using var dir = new TempDirectory();
        Featurize(fixture.DataDir, dir.Path, new ShardSpec(0, 2));
        var e = Assert.Throws<MlNetTransferException>(() => Featurize(fixture.DataDir, dir.Path, new ShardSpec(0, 3)));
        Assert.Contains("2-shard run", e.Message);
    }

    [Fact]
    public void GatherNamesAMissingShard()
    {
        using var dir = new TempDirectory();
        Featurize(fixture.DataDir, dir.Path, new ShardSpec(0, 3));
        Featurize(fixture.DataDir, dir.Path, new ShardSpec(2, 3));
        var e = Assert.Throws<MlNetTransferException>(() => GatheredEmbeddings.Load(dir.Path));
        Assert.Contains("shard 1/3: embeddings-00001-of-00003.parquet is missing", e.Message);
        Assert.DoesNotContain("shard 0/3", e.Message);

        var train = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(new TransferLearningOptions
        {
            EmbeddingsPath = dir.Path, Backbone = BackboneResolver.SyntheticName,
        }));
        Assert.Contains("embeddings-00001-of-00003.parquet", train.Message);
    }

    [Fact]
    public void GatherAndTrainRefuseAnotherBackbonesHashByName()
    {
        using var dir = new TempDirectory();
        // The same graph with other normalisation constants: another prepared graph, another SHA-256.
        var onnx = dir.Combine("other", "other.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(onnx)!);
        global::MlNetTransfer.Backbones.Onnx.OnnxModelFile.Save(BackboneResolver.Synthetic().Model, onnx);
        File.WriteAllText(BackboneResolver.SidecarPath(onnx), """{ "name": "other", "inputWidth": 64, "inputHeight": 64, "mean": [0.4,0.4,0.4], "std": [0.2,0.2,0.2] }""");

        var shards = dir.Combine("shards");
        var a = Featurize(fixture.DataDir, shards, new ShardSpec(0, 2));
        var b = Featurize(fixture.DataDir, shards, new ShardSpec(1, 2), backbone: onnx);
        Assert.NotEqual(a.Marker.BackboneSha256, b.Marker.BackboneSha256);
        var mixed = Assert.Throws<MlNetTransferException>(() => GatheredEmbeddings.Load(shards));
        Assert.Contains("mixes backbones", mixed.Message);
        Assert.Contains($"embeddings-00001-of-00002.parquet has '{onnx}' (SHA-256 {b.Marker.BackboneSha256})", mixed.Message);

        // Whole shards of one backbone, a model asked for with another: refused, since the zip would featurize differently.
        var wrong = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(new TransferLearningOptions
        {
            EmbeddingsPath = fixture.Whole, Backbone = onnx,
        }));
        Assert.Contains(fixture.Reference.Marker.BackboneSha256!, wrong.Message);
        Assert.Contains("--backbone synthetic-cnn", wrong.Message);
    }

    [Fact]
    public void GatheredShardsSplitExactlyAsTheLoaderDoes()
    {
        using var dir = new TempDirectory();
        for (var i = 0; i < 3; i++) Featurize(fixture.DataDir, dir.Path, new ShardSpec(i, 3));
        var options = new DatasetOptions { Seed = 7, TrainFraction = 0.7, ValidationFraction = 0.2, TestFraction = 0.1 };
        var gathered = GatheredEmbeddings.Load(dir.Path, options);
        var loaded = ImageDatasetLoader.Load(fixture.DataDir, options);
        Assert.Equal(loaded.Train, gathered.Dataset.Train);
        Assert.Equal(loaded.Validation, gathered.Dataset.Validation);
        Assert.Equal(loaded.Test, gathered.Dataset.Test);
        Assert.Equal(loaded.Skipped, gathered.Dataset.Skipped);
        Assert.Equal(loaded.SplitDescription, gathered.Dataset.SplitDescription);
        Assert.Equal(3, gathered.Shards);
    }

    [Fact]
    public void APreSplitFolderKeepsItsFoldersThroughTheShards()
    {
        using var dir = new TempDirectory();
        var data = dir.Combine("presplit");
        var files = Directory.GetFiles(fixture.DataDir, "synthetic_*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        foreach (var (file, k) in files.Select((f, k) => (f, k)))
        {
            var label = Path.GetFileName(Path.GetDirectoryName(file)!);
            var split = k % 4 == 0 ? "val" : "train";
            var target = Path.Combine(data, split, label, Path.GetFileName(file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        for (var i = 0; i < 2; i++) Featurize(data, dir.Combine("shards"), new ShardSpec(i, 2));
        var gathered = GatheredEmbeddings.Load(dir.Combine("shards"));
        var loaded = ImageDatasetLoader.Load(data);
        Assert.True(gathered.Dataset.IsPreSplit);
        Assert.Equal(loaded.Train, gathered.Dataset.Train);
        Assert.Equal(loaded.Validation, gathered.Dataset.Validation);
        Assert.Equal(loaded.Test, gathered.Dataset.Test);
        Assert.Equal(loaded.SplitDescription, gathered.Dataset.SplitDescription);
    }

    [Theory]
    [InlineData(HeadTrainer.Lbfgs)]
    [InlineData(HeadTrainer.Sdca)]
    public void AModelTrainedFromShardsPredictsLikeOneTrainedFromTheImages(HeadTrainer trainer)
    {
        using var dir = new TempDirectory();
        for (var i = 0; i < 2; i++) Featurize(fixture.DataDir, dir.Combine("shards"), new ShardSpec(i, 2));
        TransferLearningOptions Options() => new() { Backbone = BackboneResolver.SyntheticName, Head = { Trainer = trainer }, Featurizer = { CacheDirectory = null } };
        var fromImages = Options();
        fromImages.DataPath = fixture.DataDir;
        var fromShards = Options();
        fromShards.EmbeddingsPath = dir.Combine("shards");
        fromShards.Backbone = ""; // the one the shards name

        var a = new MLContext(1).TransferLearning().Train(fromImages);
        var b = new MLContext(1).TransferLearning().Train(fromShards);
        Assert.Equal(a.Report.Metrics.Accuracy, b.Report.Metrics.Accuracy);
        Assert.Equal(a.Report.Metrics.LogLoss, b.Report.Metrics.LogLoss);
        Assert.Equal((a.Report.Counts.Train, a.Report.Counts.Validation, a.Report.Counts.Test, a.Report.Counts.Skipped),
            (b.Report.Counts.Train, b.Report.Counts.Validation, b.Report.Counts.Test, b.Report.Counts.Skipped));
        Assert.Equal(a.Metadata.BackboneSha256, b.Metadata.BackboneSha256);
        Assert.Equal(dir.Combine("shards"), b.Report.Featurization.Shards);

        // The zip from shards featurizes new images itself: saved, loaded and run on files, it scores as the other.
        b.Save(dir.Combine("b.zip"));
        var loaded = ImageClassifier.Load(new MLContext(), dir.Combine("b.zip"));
        var images = Directory.GetFiles(fixture.DataDir, "synthetic_*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(15).ToList();
        var expected = a.ToClassifier().PredictBatch(images);
        var actual = loaded.PredictBatch(images);
        for (var i = 0; i < images.Count; i++)
        {
            Assert.Equal(expected[i].Label, actual[i].Label);
            Assert.Equal(expected[i].Scores.Select(s => s.Value), actual[i].Scores.Select(s => s.Value));
        }
    }

    [Fact]
    public void TrainingFromShardsIsAFeatureExtractorOnly()
    {
        var e = Assert.Throws<MlNetTransferException>(() => new MLContext(1).TransferLearning().Train(new TransferLearningOptions
        {
            EmbeddingsPath = fixture.Whole, Strategy = TransferLearningOptions.FineTuneStrategy,
        }));
        Assert.Contains("needs the images", e.Message);
    }

    [Fact]
    public void ShardedPredictionsCoverEveryImageOnceAndMatchTheUnshardedRun()
    {
        using var dir = new TempDirectory();
        var result = new MLContext(1).TransferLearning().Train(new TransferLearningOptions { EmbeddingsPath = fixture.Whole, Backbone = "" });
        result.Save(dir.Combine("m.zip"));
        using var classifier = ImageClassifier.Load(new MLContext(), dir.Combine("m.zip"));
        var results = Enumerable.Range(0, 3).Select(i => ShardedPredictor.Run(classifier,
            new ShardedPredictorOptions { InputPath = fixture.DataDir, OutputDirectory = dir.Combine("p"), Shard = new ShardSpec(i, 3) })).ToList();
        var whole = ShardedPredictor.Run(classifier, new ShardedPredictorOptions { InputPath = fixture.DataDir, OutputDirectory = dir.Combine("w") });

        var rows = results.SelectMany(r => ShardFiles.Read<PredictionShardRow>(r.ParquetPath)).ToList();
        var reference = ShardFiles.Read<PredictionShardRow>(whole.ParquetPath).ToDictionary(r => r.Path, StringComparer.Ordinal);
        Assert.Equal(60, reference.Count);
        Assert.Equal(reference.Keys.Order(StringComparer.Ordinal), rows.Select(r => r.Path).Order(StringComparer.Ordinal));
        foreach (var row in rows)
        {
            Assert.Equal(reference[row.Path].PredictedLabel, row.PredictedLabel);
            Assert.Equal(reference[row.Path].Scores, row.Scores);
        }
        Assert.Equal(classifier.Classes, whole.Marker.Classes);
        Assert.Equal("red_circle/notes.jpg", Assert.Single(results.SelectMany(r => r.Marker.Skipped)).Path);
        Assert.True(ShardedPredictor.Run(classifier,
            new ShardedPredictorOptions { InputPath = fixture.DataDir, OutputDirectory = dir.Combine("p"), Shard = new ShardSpec(1, 3) }).AlreadyComplete);
    }
}
