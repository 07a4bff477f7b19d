using System.Diagnostics;
using System.Text.Json.Serialization;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;

namespace MlNetTransfer.Serving;

/// <summary>One image of a predictions shard (one Parquet row).</summary>
public sealed class PredictionShardRow
{
    /// <summary>Path relative to the input folder (or the manifest's folder), '/' separators.</summary>
    [JsonPropertyName("path")] public string Path { get; set; } = "";

    /// <summary>The manifest's label for the image; "" for a folder input.</summary>
    [JsonPropertyName("label")] public string Label { get; set; } = "";
    [JsonPropertyName("predicted_label")] public string PredictedLabel { get; set; } = "";
    [JsonPropertyName("confidence")] public float Confidence { get; set; }

    /// <summary>Every class's probability, in the order of the marker's <c>classes</c> (the model's class order).</summary>
    [JsonPropertyName("scores")] public float[] Scores { get; set; } = [];
}

/// <summary>Options of <see cref="ShardedPredictor.Run"/>.</summary>
public sealed class ShardedPredictorOptions
{
    /// <summary>A folder (every file under it, recursively) or a CSV/TSV manifest of path,label rows. Required.</summary>
    public string InputPath { get; set; } = "";

    /// <summary>The folder the shards go to (shared by all shards of a run). Required.</summary>
    public string OutputDirectory { get; set; } = "";

    public ShardSpec Shard { get; set; } = ShardSpec.Whole;

    /// <summary>Images per <see cref="ImageClassifier.PredictBatch"/> call. Default 32.</summary>
    public int BatchSize { get; set; } = 32;
}

/// <summary>
/// Batch prediction of one shard of a large input into <c>predictions-iiiii-of-nnnnn.parquet</c> (path, label, predicted label,
/// confidence, per-class scores) plus its marker, with the same shard assignment, atomic write and rerun rules as
/// <see cref="Featurization.ShardedFeaturizer"/>. Files that are not decodable images are listed in the marker and skipped.
/// </summary>
public static class ShardedPredictor
{
    public const string Prefix = "predictions";
    public const string Kind = "predictions";

    public static ShardRunResult Run(ImageClassifier classifier, ShardedPredictorOptions options, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        if (string.IsNullOrWhiteSpace(options.OutputDirectory)) throw new MlNetTransferException("No output folder given (--out).");
        var sw = Stopwatch.StartNew();
        var (dir, shard) = (Path.GetFullPath(options.OutputDirectory), options.Shard);
        Featurization.ShardedFeaturizer.RequireSameShardCount(dir, Prefix, shard);
        var (root, files) = List(options.InputPath);

        var parquet = ShardFiles.ParquetPath(dir, Prefix, shard);
        if (ShardFiles.ReadComplete(dir, Prefix, shard, out var problem) is { } done)
        {
            if (done.Model != classifier.ModelSha256)
                throw new MlNetTransferException(
                    $"{ShardFiles.MarkerPath(dir, Prefix, shard)} is a finished shard of another model (SHA-256 {done.Model}); use another --out folder, or delete that one.");
            return new ShardRunResult(done, AlreadyComplete: true, Redone: null, parquet);
        }
        var redone = File.Exists(parquet) || File.Exists(ShardFiles.MarkerPath(dir, Prefix, shard)) ? problem : null;
        ShardFiles.Clear(dir, Prefix, shard);

        var mine = files.Where(f => shard.Owns(Relative(root, f.Path))).ToList();
        var images = new List<(string Path, string Label)>();
        var skipped = new List<SkippedFile>();
        foreach (var (path, label) in mine)
        {
            var check = ImageFileValidator.Validate(path);
            if (check.IsValid) images.Add((path, label));
            else skipped.Add(new SkippedFile(Relative(root, path), check.Reason ?? "not an image") { Label = label.Length > 0 ? label : null });
        }

        var rows = new List<PredictionShardRow>(images.Count);
        foreach (var chunk in images.Chunk(Math.Max(1, options.BatchSize)))
        {
            cancel.ThrowIfCancellationRequested();
            var predictions = classifier.PredictBatch(chunk.Select(c => c.Path));
            for (var i = 0; i < chunk.Length; i++)
                rows.Add(new PredictionShardRow
                {
                    Path = Relative(root, chunk[i].Path),
                    Label = chunk[i].Label,
                    PredictedLabel = predictions[i].Label,
                    Confidence = predictions[i].Confidence,
                    Scores = predictions[i].Scores.Select(s => s.Value).ToArray(),
                });
            progress?.Report(rows.Count);
        }
        rows.Sort((a, b) => StringComparer.Ordinal.Compare(a.Path, b.Path));
        var marker = ShardFiles.Write(dir, Prefix, shard, rows, new ShardMarker
        {
            Kind = Kind,
            Shard = shard.Index,
            ShardCount = shard.Count,
            ParquetFile = Path.GetFileName(parquet),
            FilesInShard = mine.Count,
            ListedFiles = files.Count,
            Skipped = skipped,
            Model = classifier.ModelSha256,
            Backbone = classifier.Metadata.Backbone,
            BackboneSha256 = classifier.Metadata.BackboneSha256,
            Classes = classifier.Classes,
            Seconds = sw.Elapsed.TotalSeconds,
        });
        return new ShardRunResult(marker, AlreadyComplete: false, redone, parquet);
    }

    /// <summary>The input's files with their manifest labels ("" for a folder), and the folder their paths are relative to.</summary>
    private static (string Root, List<(string Path, string Label)> Files) List(string input)
    {
        if (string.IsNullOrWhiteSpace(input)) throw new MlNetTransferException("No input given (--input).");
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(input));
        if (Directory.Exists(full))
        {
            var files = Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(f => (f, "")).ToList();
            if (files.Count == 0) throw new MlNetTransferException($"{full}: the folder holds no files.");
            return (full, files);
        }
        if (File.Exists(full) && Path.GetExtension(full).ToLowerInvariant() is ".csv" or ".tsv" or ".txt")
            return (Path.GetDirectoryName(full)!, ImageManifest.Read(full).Select(r => (r.Path, r.Label)).ToList());
        throw new MlNetTransferException(File.Exists(full)
            ? $"{full}: sharded prediction takes a folder or a CSV/TSV manifest of path,label rows, not a single file."
            : $"{full}: no such file or folder.");
    }

    private static string Relative(string root, string path) => ShardSpec.Normalize(Path.GetRelativePath(root, path));
}
