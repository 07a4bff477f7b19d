using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;

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

    public EmbeddingExtractor(MLContext ml, ITransformer featurizer, string backboneSha256, ImageFeaturizerOptions? options = null)
    {
        _ml = ml;
        _featurizer = featurizer;
        _options = options ?? new ImageFeaturizerOptions();
        _cache = _options.CacheDirectory is { } dir ? new EmbeddingCache(dir, backboneSha256) : null;
    }

    /// <summary>How many of the last <see cref="Extract"/> call's images came from the cache.</summary>
    public int LastCacheHits { get; private set; }

    /// <summary>Returns one embedding per path, in order. Progress reports the number of images done so far.</summary>
    public float[][] Extract(IReadOnlyList<string> paths, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        var result = new float[paths.Count][];
        var hashes = new string[paths.Count];
        Parallel.For(0, paths.Count, new ParallelOptions { CancellationToken = cancel }, i => hashes[i] = EmbeddingCache.ContentHash(paths[i]));

        var todo = new List<int>();
        for (int i = 0; i < paths.Count; i++)
        {
            if (_cache is not null && _cache.TryGet(hashes[i], out var cached)) result[i] = cached;
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
                using var cursor = transformed.GetRowCursor(new[] { column });
                var getter = cursor.GetGetter<VBuffer<float>>(column);
                VBuffer<float> buffer = default;
                int k = 0;
                while (cursor.MoveNext())
                {
                    cancel.ThrowIfCancellationRequested();
                    getter(ref buffer);
                    var values = buffer.DenseValues().ToArray();
                    foreach (var i in part[k]) result[i] = values;
                    _cache?.Add(hashes[part[k][0]], values);
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
        if (!errors.IsEmpty) throw new MlNetTransferException($"Featurization failed: {errors.First().Message}", errors.First());
        return result;
    }
}
