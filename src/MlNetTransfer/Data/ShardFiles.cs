using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Parquet;
using Parquet.Serialization;

namespace MlNetTransfer.Data;

/// <summary>What a finished shard says about itself: written beside its Parquet file, and only together with it, so its
/// presence (with a matching size and SHA-256) is the completion marker a rerun trusts; anything else is redone.</summary>
public sealed record ShardMarker
{
    public const string CurrentFormat = "mlnet-transfer-shard/1";

    public string Format { get; init; } = CurrentFormat;

    /// <summary><c>embeddings</c> or <c>predictions</c>.</summary>
    public required string Kind { get; init; }
    public required int Shard { get; init; }
    public required int ShardCount { get; init; }
    public required string ParquetFile { get; init; }
    public long ParquetBytes { get; init; }
    public string ParquetSha256 { get; init; } = "";
    public int Rows { get; init; }

    /// <summary>Files of the listing this shard owns: rows plus skipped files.</summary>
    public int FilesInShard { get; init; }

    /// <summary>Files the whole listing holds (every shard counts the same): the shards' <see cref="FilesInShard"/> add up to it.</summary>
    public int ListedFiles { get; init; }

    /// <summary>The shard's files that were not used, with the reason (paths relative to the data root).</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; init; } = [];

    /// <summary>Embeddings: the backbone's name as given and its prepared graph's SHA-256 (the embedding cache's key).
    /// Predictions: the model zip and the backbone SHA-256 it records.</summary>
    public string? Backbone { get; init; }
    public string? BackboneSha256 { get; init; }
    public int EmbeddingSize { get; init; }
    public string? Model { get; init; }

    /// <summary>The listing every shard of a run must share (embeddings).</summary>
    public ShardedDatasetInfo? Dataset { get; init; }

    /// <summary>Predictions: the class order of the <c>scores</c> column.</summary>
    public IReadOnlyList<string>? Classes { get; init; }

    public string Tool { get; init; } = "mlnet-transfer " + ProductVersion.Current;
    public string Host { get; init; } = Environment.MachineName;
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;
    public double Seconds { get; init; }
}

/// <summary>The listing facts of a sharded data set, identical in every shard of one run (checked at gather).</summary>
public sealed record ShardedDatasetInfo
{
    /// <summary>Absolute path of the folder or manifest when featurized; paths in the shards are relative to <see cref="Root"/>.</summary>
    public required string Source { get; init; }
    public required bool IsManifest { get; init; }
    public required IReadOnlyList<string> Classes { get; init; }

    /// <summary>Pre-split folders relative to the root (null when absent or not pre-split).</summary>
    public string? TrainFolder { get; init; }
    public string? ValFolder { get; init; }
    public string? TestFolder { get; init; }

    [JsonIgnore] public string Root => IsManifest ? Path.GetDirectoryName(Source)! : Source;
}

/// <summary>Naming, atomic writing and completion checks of one shard's Parquet file and its marker. Names are
/// <c>PREFIX-00002-of-00004.parquet</c> and <c>.json</c>; both are written to temporary files and moved into place
/// together (Parquet first), so a killed task leaves either a finished shard or none.</summary>
internal static class ShardFiles
{
    internal static readonly JsonSerializerOptions Json = Reporting.TrainingReport.JsonOptions;

    public static string BaseName(string prefix, ShardSpec shard) => $"{prefix}-{shard.Index:D5}-of-{shard.Count:D5}";

    public static string ParquetPath(string dir, string prefix, ShardSpec shard) => Path.Combine(dir, BaseName(prefix, shard) + ".parquet");

    public static string MarkerPath(string dir, string prefix, ShardSpec shard) => Path.Combine(dir, BaseName(prefix, shard) + ".json");

    /// <summary>The shard's marker when the shard is complete (marker readable, Parquet file present with the recorded
    /// size and SHA-256); otherwise null and why.</summary>
    public static ShardMarker? ReadComplete(string dir, string prefix, ShardSpec shard, out string? problem)
    {
        var (parquet, marker) = (ParquetPath(dir, prefix, shard), MarkerPath(dir, prefix, shard));
        problem = null;
        if (!File.Exists(marker))
        {
            problem = File.Exists(parquet) ? $"{Path.GetFileName(parquet)} has no completion marker {Path.GetFileName(marker)} (the task stopped before finishing)"
                : $"{Path.GetFileName(parquet)} is missing";
            return null;
        }
        ShardMarker? read;
        try
        {
            read = JsonSerializer.Deserialize<ShardMarker>(File.ReadAllText(marker), Json);
        }
        catch (JsonException e)
        {
            problem = $"{Path.GetFileName(marker)} is not a readable shard marker ({e.Message})";
            return null;
        }
        if (read is null || read.Format != ShardMarker.CurrentFormat)
        {
            problem = $"{Path.GetFileName(marker)} is not a {ShardMarker.CurrentFormat} marker";
            return null;
        }
        if (read.Shard != shard.Index || read.ShardCount != shard.Count)
        {
            problem = $"{Path.GetFileName(marker)} says shard {read.Shard}/{read.ShardCount}, not {shard}";
            return null;
        }
        if (!File.Exists(parquet))
        {
            problem = $"{Path.GetFileName(parquet)} is missing (its marker is there)";
            return null;
        }
        var length = new FileInfo(parquet).Length;
        if (length != read.ParquetBytes || Sha256(parquet) != read.ParquetSha256)
        {
            problem = $"{Path.GetFileName(parquet)} is damaged: {length} bytes, its marker records {read.ParquetBytes} bytes and another SHA-256";
            return null;
        }
        return read;
    }

    /// <summary>Writes the shard's rows and then its marker (with the Parquet file's size and hash filled in), atomically.</summary>
    public static ShardMarker Write<T>(string dir, string prefix, ShardSpec shard, IReadOnlyList<T> rows, ShardMarker marker)
    {
        Directory.CreateDirectory(dir);
        var (parquet, markerPath) = (ParquetPath(dir, prefix, shard), MarkerPath(dir, prefix, shard));
        ShardMarker final = marker;
        AtomicFile.WriteAll(
            (parquet, tmp =>
            {
                using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
                    ParquetSerializer.SerializeAsync(rows, fs).GetAwaiter().GetResult();
                final = marker with
                {
                    ParquetFile = Path.GetFileName(parquet), ParquetBytes = new FileInfo(tmp).Length, ParquetSha256 = Sha256(tmp), Rows = rows.Count,
                };
            }),
            (markerPath, tmp => File.WriteAllText(tmp, JsonSerializer.Serialize(final, Json))));
        return final;
    }

    public static IList<T> Read<T>(string path) where T : class, new()
    {
        try
        {
            using var fs = File.OpenRead(path);
            return ParquetSerializer.DeserializeAsync<T>(fs).GetAwaiter().GetResult().Data;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new MlNetTransferException($"{path}: not a readable shard ({e.Message}).", e);
        }
    }

    /// <summary>Removes a shard's leftovers before it is redone: the temporary files of a task that was killed, and a
    /// Parquet file or marker that did not check out.</summary>
    public static void Clear(string dir, string prefix, ShardSpec shard)
    {
        if (!Directory.Exists(dir)) return;
        var name = BaseName(prefix, shard);
        foreach (var tmp in Directory.EnumerateFiles(dir, $".{name}.*.tmp")) File.Delete(tmp);
        File.Delete(ParquetPath(dir, prefix, shard));
        File.Delete(MarkerPath(dir, prefix, shard));
    }

    /// <summary>Every shard file name under <paramref name="dir"/> with this prefix, parsed: (index, count, path).</summary>
    public static IEnumerable<(int Index, int Count, string Path)> Find(string dir, string prefix, string extension)
    {
        foreach (var file in Directory.EnumerateFiles(dir, $"{prefix}-*-of-*{extension}").Order(StringComparer.Ordinal))
        {
            var parts = Path.GetFileName(file)[(prefix.Length + 1)..^extension.Length].Split("-of-");
            if (parts.Length == 2 && int.TryParse(parts[0], out var index) && int.TryParse(parts[1], out var count)) yield return (index, count, file);
        }
    }

    public static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
