using System.Diagnostics;
using System.Text.Json.Serialization;
using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;

namespace MlNetTransfer.Featurization;

/// <summary>One image of an embeddings shard (one Parquet row).</summary>
public sealed class EmbeddingShardRow
{
    /// <summary>Path relative to the data root ('/' separators): the folder, or the manifest's folder.</summary>
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("label")] public string Label { get; set; } = "";

    /// <summary>"train", "val" or "test" when the data set is pre-split into folders; "" when the split is drawn at training.</summary>
    [JsonPropertyName("split")] public string Split { get; set; } = "";

    /// <summary>SHA-256 of the image file's bytes.</summary>
    [JsonPropertyName("content_sha256")] public string ContentSha256 { get; set; } = "";

    /// <summary>SHA-256 of the prepared backbone graph that computed the embedding.</summary>
    [JsonPropertyName("backbone_sha256")] public string BackboneSha256 { get; set; } = "";
    [JsonPropertyName("width")] public int Width { get; set; }
    [JsonPropertyName("height")] public int Height { get; set; }
    [JsonPropertyName("embedding")] public float[] Embedding { get; set; } = [];
}

/// <summary>What <see cref="ShardedFeaturizer.Run"/> featurizes and where it writes.</summary>
public sealed class ShardedFeaturizerOptions
{
    /// <summary>A folder of class sub-folders (or train/ val/ [test/]) or a CSV/TSV manifest, as for training. Required.</summary>
    public string DataPath { get; set; } = "";

    /// <summary>The backbone, as for training. Default <c>mobilenet_v2</c>.</summary>
    public string Backbone { get; set; } = "mobilenet_v2";

    public string? EmbeddingTensor { get; set; }

    public IList<string> Mirrors { get; set; } = new List<string>();

    /// <summary>The folder the shard files go to (shared by all shards of a run). Required.</summary>
    public string OutputDirectory { get; set; } = "";

    /// <summary>Which shard this process featurizes. Default the whole data set.</summary>
    public ShardSpec Shard { get; set; } = ShardSpec.Whole;

    /// <summary>The image → embedding pipeline. The embedding cache is off by default here: the shards are the store,
    /// and a per-machine cache of a million images would be read whole by every task.</summary>
    public ImageFeaturizerOptions Featurizer { get; set; } = new() { CacheDirectory = null };

    /// <summary>How many files are validated at once (the other settings of <see cref="DatasetOptions"/> apply at training).</summary>
    public int ValidationParallelism { get; set; } = -1;
}

/// <summary>The outcome of one shard's run.</summary>
/// <param name="Marker">The shard's marker (what was written, or found finished).</param>
/// <param name="AlreadyComplete">True when a finished shard was found and nothing was done.</param>
/// <param name="Redone">Why an existing shard was redone (it was half-written or damaged); null otherwise.</param>
/// <param name="ParquetPath">The shard's Parquet file.</param>
public sealed record ShardRunResult(ShardMarker Marker, bool AlreadyComplete, string? Redone, string ParquetPath);

/// <summary>
/// Featurizes one shard of a data set into <c>embeddings-iiiii-of-nnnnn.parquet</c> (path, label, split, content and backbone
/// SHA-256, size, embedding) plus its marker. The listing and its checks are the loader's (<see cref="ImageDatasetLoader"/>);
/// only the shard's own files are opened, validated (bad files are listed in the marker) and run through the same featurizer as
/// training (<see cref="ImageFeaturizer.FitForBulk"/>, <see cref="EmbeddingExtractor"/>). A finished shard is skipped on a rerun;
/// a half-written or damaged one is redone.
/// </summary>
public static class ShardedFeaturizer
{
    /// <summary>File name prefix of embeddings shards.</summary>
    public const string Prefix = "embeddings";
    public const string Kind = "embeddings";

    public static ShardRunResult Run(MLContext ml, ShardedFeaturizerOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        if (string.IsNullOrWhiteSpace(options.DataPath)) throw new MlNetTransferException("No data given: set DataPath (--data) to an image folder or a CSV/TSV manifest.");
        if (string.IsNullOrWhiteSpace(options.OutputDirectory)) throw new MlNetTransferException("No output folder given (--out).");
        var sw = Stopwatch.StartNew();
        var (dir, shard) = (Path.GetFullPath(options.OutputDirectory), options.Shard);
        RequireSameShardCount(dir, Prefix, shard);

        progress?.Report(new TrainingProgress(TrainingProgress.Loading, 0, 0, $"Listing {options.DataPath}"));
        var listing = ImageDatasetLoader.List(options.DataPath);

        progress?.Report(new TrainingProgress(TrainingProgress.Preparing, 0, 0, $"Preparing backbone {options.Backbone}"));
        var resolved = BackboneResolver.Resolve(options.Backbone, new BackboneResolveOptions { Mirrors = options.Mirrors, EmbeddingTensor = options.EmbeddingTensor });
        var backbone = BackbonePreparer.Prepare(resolved.Model, resolved.Spec);
        var info = DatasetInfo(listing);

        var parquet = ShardFiles.ParquetPath(dir, Prefix, shard);
        string? redone = null;
        if (ShardFiles.ReadComplete(dir, Prefix, shard, out var problem) is { } done)
        {
            if (done.BackboneSha256 != backbone.Sha256 || done.Dataset?.Source != info.Source)
                throw new MlNetTransferException(
                    $"{ShardFiles.MarkerPath(dir, Prefix, shard)} is a finished shard of {done.Dataset?.Source} with backbone '{done.Backbone}' (SHA-256 {done.BackboneSha256}); " +
                    $"this run featurizes {info.Source} with '{options.Backbone}' (SHA-256 {backbone.Sha256}). Use another --out folder, or delete that one.");
            return new ShardRunResult(done, AlreadyComplete: true, Redone: null, parquet);
        }
        if (File.Exists(parquet) || File.Exists(ShardFiles.MarkerPath(dir, Prefix, shard))) redone = problem;
        ShardFiles.Clear(dir, Prefix, shard);

        var mine = listing.Candidates.Where(c => shard.Owns(Relative(listing.Root, c.Path))).ToList();
        var skipped = listing.Skipped.Where(s => shard.Owns(Relative(listing.Root, s.Path))).ToList();
        var examples = ImageDatasetLoader.Validate(mine, skipped, new DatasetOptions { MaxDegreeOfParallelism = options.ValidationParallelism },
            progress is null ? null : new InlineProgress<int>(p => progress.Report(new TrainingProgress(TrainingProgress.Loading, p, 100))));

        var extractor = new EmbeddingExtractor(ml, ImageFeaturizer.FitForBulk(ml, backbone, options.Featurizer), backbone.Sha256, options.Featurizer);
        var embeddings = extractor.Extract(examples.Select(e => e.Example.Path).ToList(),
            progress is null ? null : new InlineProgress<int>(n => progress.Report(new TrainingProgress(TrainingProgress.Featurizing, n, examples.Count))), cancel);
        var hashes = extractor.LastContentHashes;
        cancel.ThrowIfCancellationRequested();

        var rows = examples.Select((e, i) => new EmbeddingShardRow
        {
            Path = Relative(listing.Root, e.Example.Path),
            Label = e.Example.Label,
            Split = e.Split,
            ContentSha256 = hashes[i],
            BackboneSha256 = backbone.Sha256,
            Width = e.Example.Width,
            Height = e.Example.Height,
            Embedding = embeddings[i],
        }).OrderBy(r => r.Path, StringComparer.Ordinal).ToList();

        progress?.Report(new TrainingProgress(TrainingProgress.Saving, 0, 1, Path.GetFileName(parquet)));
        var marker = ShardFiles.Write(dir, Prefix, shard, rows, new ShardMarker
        {
            Kind = Kind,
            Shard = shard.Index,
            ShardCount = shard.Count,
            ParquetFile = Path.GetFileName(parquet),
            FilesInShard = mine.Count + listing.Skipped.Count(s => shard.Owns(Relative(listing.Root, s.Path))),
            ListedFiles = listing.Candidates.Count + listing.Skipped.Count,
            Skipped = skipped.Select(s => s with { Path = Relative(listing.Root, s.Path) }).ToList(),
            Backbone = options.Backbone,
            BackboneSha256 = backbone.Sha256,
            EmbeddingSize = backbone.EmbeddingSize,
            Dataset = info,
            Seconds = sw.Elapsed.TotalSeconds,
        });
        progress?.Report(new TrainingProgress(TrainingProgress.Saving, 1, 1, Path.GetFileName(parquet)));
        return new ShardRunResult(marker, AlreadyComplete: false, redone, parquet);
    }

    internal static ShardedDatasetInfo DatasetInfo(ImageDatasetLoader.DatasetListing listing) => new()
    {
        Source = listing.Source,
        IsManifest = listing.IsManifest,
        Classes = listing.Classes,
        TrainFolder = listing.TrainRoot is { } t ? Relative(listing.Root, t) : null,
        ValFolder = listing.ValRoot is { } v ? Relative(listing.Root, v) : null,
        TestFolder = listing.TestRoot is { } s ? Relative(listing.Root, s) : null,
    };

    internal static string Relative(string root, string path) => ShardSpec.Normalize(Path.GetRelativePath(root, path));

    /// <summary>A folder holds the shards of one run: mixing shard counts would leave files in two shards or none.</summary>
    internal static void RequireSameShardCount(string dir, string prefix, ShardSpec shard)
    {
        if (!Directory.Exists(dir)) return;
        var other = ShardFiles.Find(dir, prefix, ".json").FirstOrDefault(f => f.Count != shard.Count);
        if (other.Path is not null)
            throw new MlNetTransferException(
                $"{dir} already holds shards of a {other.Count}-shard run ({Path.GetFileName(other.Path)}); this is shard {shard}. " +
                "Every task of one run must use the same shard count: use another --out folder, or delete that one.");
    }
}
