using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Backbones;

namespace MlNetTransfer.Featurization;

/// <summary>
/// Featurizes a list of images once: cached embeddings are read back, the rest run through the fitted ML.NET
/// featurizer in parallel partitions (one cursor each) so that decoding overlaps inference, then are cached.
/// </summary>
public sealed class EmbeddingExtractor
{
    private readonly MLContext _ml;
    private readonly ITransformer _featurizer;
    private readonly ImageFeaturizerOptions _options;
    private readonly EmbeddingCache? _cache;
    private readonly MiddleLayerTap? _middle;
    private readonly EmbeddingCache? _middleCache;

    /// <param name="ml">The ML.NET context.</param>
    /// <param name="featurizer">The fitted featurizer (<see cref="ImageFeaturizer.FitForBulk"/>).</param>
    /// <param name="backboneSha256">The embedding cache's key.</param>
    /// <param name="options">Parallelism and the cache folder.</param>
    /// <param name="middle">The middle-layer tap the featurizer was fitted with, if any: its pooled output is read too
    /// (and cached under the tap's hash).</param>
    public EmbeddingExtractor(MLContext ml, ITransformer featurizer, string backboneSha256, ImageFeaturizerOptions? options = null, MiddleLayerTap? middle = null)
    {
        _ml = ml;
        _featurizer = featurizer;
        _options = options ?? new ImageFeaturizerOptions();
        _cache = _options.CacheDirectory is { } dir ? new EmbeddingCache(dir, backboneSha256) : null;
        _middle = middle;
        _middleCache = middle is not null && _options.CacheDirectory is { } d ? new EmbeddingCache(d, middle.Sha256) : null;
    }

    /// <summary>How many of the last <see cref="Extract"/> call's images came from the cache.</summary>
    public int LastCacheHits { get; private set; }

    /// <summary>The SHA-256 of each file's bytes read by the last <see cref="Extract"/> call, in path order (the cache's keys).</summary>
    public IReadOnlyList<string> LastContentHashes { get; private set; } = [];

    /// <summary>Returns one embedding per path, in order. Progress reports the number of images done so far.</summary>
    public float[][] Extract(IReadOnlyList<string> paths, IProgress<int>? progress = null, CancellationToken cancel = default)
        => ExtractWithMiddle(paths, progress, cancel).Embeddings;

    /// <summary>As <see cref="Extract"/>, plus the pooled middle layer of each image when the extractor has a tap (else null):
    /// both come out of the same pass through the network.</summary>
    public (float[][] Embeddings, float[][]? Middle) ExtractWithMiddle(IReadOnlyList<string> paths, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        var result = new float[paths.Count][];
        var middle = _middle is null ? null : new float[paths.Count][];
        var hashes = new string[paths.Count];
        Parallel.For(0, paths.Count, new ParallelOptions { CancellationToken = cancel }, i => hashes[i] = EmbeddingCache.ContentHash(paths[i]));
        LastContentHashes = hashes;

        var todo = new List<int>();
        for (int i = 0; i < paths.Count; i++)
        {
            if (_cache is not null && _cache.TryGet(hashes[i], out var cached)
                && (middle is null || _middleCache!.TryGet(hashes[i], out middle[i])))
                result[i] = cached;
            else todo.Add(i);
        }
        LastCacheHits = paths.Count - todo.Count;
        int done = LastCacheHits;
        progress?.Report(done);

        // Identical files under different names are featurized once.
        var unique = todo.GroupBy(i => hashes[i]).Select(g => g.ToArray()).ToList();
        var parts = Math.Max(1, Math.Min(_options.DegreeOfParallelism, unique.Count));
        var partitions = Enumerable.Range(0, parts).Select(p => unique.Where((_, k) => k % parts == p).ToList()).ToList();
        var errors = new ConcurrentQueue<Exception>();
        Parallel.ForEach(partitions, new ParallelOptions { MaxDegreeOfParallelism = parts, CancellationToken = cancel }, part =>
        {
            try
            {
                var rows = part.Select(g => new ImageFeaturizer.ImagePathRow { ImagePath = paths[g[0]] }).ToArray();
                var data = _ml.Data.LoadFromEnumerable(rows, ImageFeaturizer.SchemaFor(_ml, _options.ImagePathColumn));
                var transformed = _featurizer.Transform(data);
                var column = transformed.Schema[ImageFeaturizer.EmbeddingColumn];
                var middleColumn = middle is null ? (DataViewSchema.Column?)null : transformed.Schema[MiddleLayerTap.OutputName];
                using var cursor = transformed.GetRowCursor(middleColumn is { } m ? [column, m] : [column]);
                var getter = cursor.GetGetter<VBuffer<float>>(column);
                var middleGetter = middleColumn is { } mc ? cursor.GetGetter<VBuffer<float>>(mc) : null;
                VBuffer<float> buffer = default, middleBuffer = default;
                int k = 0;
                while (cursor.MoveNext())
                {
                    cancel.ThrowIfCancellationRequested();
                    getter(ref buffer);
                    var values = buffer.DenseValues().ToArray();
                    foreach (var i in part[k]) result[i] = values;
                    _cache?.Add(hashes[part[k][0]], values);
                    if (middleGetter is not null)
                    {
                        middleGetter(ref middleBuffer);
                        var pooled = middleBuffer.DenseValues().ToArray();
                        foreach (var i in part[k]) middle![i] = pooled;
                        _middleCache?.Add(hashes[part[k][0]], pooled);
                    }
                    k++;
                    progress?.Report(Interlocked.Add(ref done, part[k - 1].Length));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors.Enqueue(e);
            }
        });
        _cache?.Flush();
        _middleCache?.Flush();
        if (!errors.IsEmpty) throw new MlNetTransferException($"Featurization failed: {errors.First().Message}", errors.First());
        return (result, middle);
    }
}
