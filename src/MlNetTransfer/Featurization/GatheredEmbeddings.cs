using MlNetTransfer.Data;
using Parquet;
using Parquet.Schema;

namespace MlNetTransfer.Featurization;

/// <summary>
/// Every shard of a sharded featurization read back and checked: all shards 0..n-1 present and finished, one backbone
/// hash, one listing, every listed file exactly once. The dataset is assembled with the loader's own split rules
/// (<see cref="ImageDatasetLoader"/>), so training from shards splits exactly as training from the images would.
/// </summary>
public sealed class GatheredEmbeddings
{
    private GatheredEmbeddings(ImageDataset dataset, Dictionary<string, float[]> embeddings, ShardMarker first, int shards)
    {
        Dataset = dataset;
        Embeddings = embeddings;
        Backbone = first.Backbone ?? "";
        BackboneSha256 = first.BackboneSha256 ?? "";
        EmbeddingSize = first.EmbeddingSize;
        Shards = shards;
    }

    /// <summary>The data set with absolute paths under the recorded data root (the images need not exist here).</summary>
    public ImageDataset Dataset { get; }

    /// <summary>Each usable image's embedding by its absolute path (as in <see cref="Dataset"/>).</summary>
    public IReadOnlyDictionary<string, float[]> Embeddings { get; }

    /// <summary>The backbone as the featurize command was given it, and its prepared graph's SHA-256.</summary>
    public string Backbone { get; }
    public string BackboneSha256 { get; }
    public int EmbeddingSize { get; }
    public int Shards { get; }

    /// <summary>Reads every embeddings shard in <paramref name="directory"/>; throws <see cref="MlNetTransferException"/> naming the
    /// shards that are missing, unfinished, damaged, from another backbone or from another listing.</summary>
    public static GatheredEmbeddings Load(string directory, DatasetOptions? options = null)
    {
        options ??= new DatasetOptions();
        options.Validate();
        var dir = Path.GetFullPath(directory);
        if (!Directory.Exists(dir)) throw new MlNetTransferException($"Embeddings folder '{dir}' does not exist.");
        const string prefix = ShardedFeaturizer.Prefix;
        var found = ShardFiles.Find(dir, prefix, ".parquet").Concat(ShardFiles.Find(dir, prefix, ".json")).ToList();
        if (found.Count == 0)
            throw new MlNetTransferException($"Embeddings folder '{dir}' holds no {prefix}-*-of-*.parquet shards; run 'mlnet-transfer featurize --out {dir}' first.");
        var counts = found.Select(f => f.Count).Distinct().Order().ToList();
        if (counts.Count > 1)
            throw new MlNetTransferException(
                $"Embeddings folder '{dir}' mixes runs of {string.Join(" and ", counts)} shards ({string.Join(", ", counts.Select(c => Path.GetFileName(found.First(f => f.Count == c).Path)))}); keep one run's shards per folder.");
        var count = counts[0];

        var markers = new ShardMarker[count];
        var problems = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var spec = new ShardSpec(i, count);
            if (ShardFiles.ReadComplete(dir, prefix, spec, out var problem) is { } marker) markers[i] = marker;
            else problems.Add($"shard {spec}: {problem}");
        }
        if (problems.Count > 0)
            throw new MlNetTransferException(
                $"Embeddings folder '{dir}' is incomplete: {string.Join("; ", problems)}. Rerun 'mlnet-transfer featurize' for those shards (finished ones are skipped).");

        var first = markers[0];
        var otherBackbone = markers.Where(m => m.BackboneSha256 != first.BackboneSha256).ToList();
        if (otherBackbone.Count > 0)
            throw new MlNetTransferException(
                $"Embeddings folder '{dir}' mixes backbones: {first.ParquetFile} has '{first.Backbone}' (SHA-256 {first.BackboneSha256}) but " +
                string.Join(", ", otherBackbone.Select(m => $"{m.ParquetFile} has '{m.Backbone}' (SHA-256 {m.BackboneSha256})")) +
                "; featurize every shard with the same backbone.");
        var info = first.Dataset ?? throw new MlNetTransferException($"{first.ParquetFile}: its marker records no data set; it is not an embeddings shard.");
        var otherListing = markers.Where(m => !SameListing(m.Dataset, info) || m.ListedFiles != first.ListedFiles).ToList();
        if (otherListing.Count > 0)
            throw new MlNetTransferException(
                $"Embeddings folder '{dir}': {string.Join(", ", otherListing.Select(m => m.ParquetFile))} listed a different data set than {first.ParquetFile} " +
                $"({info.Source}, {first.ListedFiles} files, classes {string.Join(", ", info.Classes)}); the data changed between tasks. Featurize again into an empty folder.");

        var examples = new List<(ImageExample Example, string Split)>();
        var embeddings = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var skipped = new List<SkippedFile>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var marker in markers)
        {
            var rows = ReadRows(Path.Combine(dir, marker.ParquetFile));
            if (rows.Count != marker.Rows)
                throw new MlNetTransferException($"{marker.ParquetFile}: {rows.Count} rows, its marker records {marker.Rows}.");
            foreach (var row in rows)
            {
                if (row.BackboneSha256 != first.BackboneSha256)
                    throw new MlNetTransferException($"{marker.ParquetFile}: row '{row.Path}' was computed by backbone SHA-256 {row.BackboneSha256}, not {first.BackboneSha256}.");
                if (row.Embedding.Length != first.EmbeddingSize)
                    throw new MlNetTransferException($"{marker.ParquetFile}: row '{row.Path}' has {row.Embedding.Length} values, the backbone's embedding has {first.EmbeddingSize}.");
                if (!seen.TryAdd(row.Path, marker.ParquetFile))
                    throw new MlNetTransferException($"'{row.Path}' is in both {seen[row.Path]} and {marker.ParquetFile}; each image belongs to one shard.");
                var path = Path.GetFullPath(row.Path, info.Root);
                examples.Add((new ImageExample(path, row.Label) { Width = row.Width, Height = row.Height }, row.Split));
                embeddings[path] = row.Embedding;
            }
            skipped.AddRange(marker.Skipped.Select(s => s with { Path = Path.GetFullPath(s.Path, info.Root) }));
        }
        var accounted = markers.Sum(m => m.FilesInShard);
        if (accounted != first.ListedFiles)
            throw new MlNetTransferException($"Embeddings folder '{dir}': the shards hold {accounted} files but the listing had {first.ListedFiles}.");

        var listing = new ImageDatasetLoader.DatasetListing
        {
            Source = info.Source,
            IsManifest = info.IsManifest,
            Classes = info.Classes,
            TrainRoot = info.TrainFolder is { } t ? Path.GetFullPath(t, info.Root) : null,
            ValRoot = info.ValFolder is { } v ? Path.GetFullPath(v, info.Root) : null,
            TestRoot = info.TestFolder is { } s ? Path.GetFullPath(s, info.Root) : null,
            Candidates = [],
            Skipped = [],
        };
        var dataset = ImageDatasetLoader.Assemble(listing, examples, skipped, options);
        return new GatheredEmbeddings(dataset, embeddings, first, count);
    }

    /// <summary>Reads an embeddings shard column by column, the embedding column as one flat float buffer cut into rows
    /// (Parquet.Net's object deserializer walks every float of every list on its own).</summary>
    public static List<EmbeddingShardRow> ReadRows(string path)
    {
        try
        {
            using var fs = File.OpenRead(path);
            var reader = ParquetReader.CreateAsync(fs).GetAwaiter().GetResult();
            try
            {
                return ReadRows(path, reader);
            }
            finally
            {
                reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception e) when (e is not MlNetTransferException and not OutOfMemoryException)
        {
            throw new MlNetTransferException($"{path}: not a readable embeddings shard ({e.Message}).", e);
        }
    }

    private static List<EmbeddingShardRow> ReadRows(string path, ParquetReader reader)
    {
        var fields = reader.Schema.Fields;
        DataField Column(string name) => fields.FirstOrDefault(f => f.Name == name) as DataField
            ?? throw new MlNetTransferException($"{path}: no '{name}' column; it is not an embeddings shard.");
        var embedding = (fields.FirstOrDefault(f => f.Name == "embedding") as ListField)?.Item as DataField
            ?? throw new MlNetTransferException($"{path}: no 'embedding' list column; it is not an embeddings shard.");
        var rows = new List<EmbeddingShardRow>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var n = checked((int)group.RowCount);
            string?[] Strings(string name)
            {
                var values = new string?[n];
                group.ReadAsync(Column(name), values.AsMemory()).GetAwaiter().GetResult();
                return values;
            }
            int[] Ints(string name)
            {
                var values = new int[n];
                group.ReadAsync<int>(Column(name), values.AsMemory()).GetAwaiter().GetResult();
                return values;
            }
            var (paths, labels, splits, contents, backbones) = (Strings("path"), Strings("label"), Strings("split"), Strings("content_sha256"), Strings("backbone_sha256"));
            var (widths, heights) = (Ints("width"), Ints("height"));

            var total = checked((int)(group.GetMetadata(embedding)?.MetaData?.NumValues ?? 0));
            var (flat, definitions, repetitions) = (new float[total], new int[total], new int[total]);
            group.ReadRawAsync<float>(embedding, flat, definitions, repetitions).GetAwaiter().GetResult();
            // Below the full definition level is an empty list or a missing value: no embedding has either.
            for (var level = 0; level < embedding.MaxDefinitionLevel; level++)
                if (Array.IndexOf(definitions, level) >= 0) throw new MlNetTransferException($"{path}: an embedding is empty or holds a missing value.");
            if (n > 0 && total % n != 0)
                throw new MlNetTransferException($"{path}: {total} embedding values do not divide into {n} rows of one size.");
            var dim = n == 0 ? 0 : total / n;
            for (var i = 0; i < n; i++)
                rows.Add(new EmbeddingShardRow
                {
                    Path = paths[i] ?? "", Label = labels[i] ?? "", Split = splits[i] ?? "", ContentSha256 = contents[i] ?? "", BackboneSha256 = backbones[i] ?? "",
                    Width = widths[i], Height = heights[i], Embedding = flat.AsSpan(i * dim, dim).ToArray(),
                });
        }
        return rows;
    }

    private static bool SameListing(ShardedDatasetInfo? a, ShardedDatasetInfo b) =>
        a is not null && a.Source == b.Source && a.IsManifest == b.IsManifest && a.Classes.SequenceEqual(b.Classes)
        && a.TrainFolder == b.TrainFolder && a.ValFolder == b.ValFolder && a.TestFolder == b.TestFolder;
}
