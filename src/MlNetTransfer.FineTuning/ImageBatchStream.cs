using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace MlNetTransfer.FineTuning;

/// <summary>One batch of decoded images: <see cref="Count"/> images of <c>pixels</c> planes back to back, their labels and
/// their positions in the data set.</summary>
internal sealed record PixelBatch(float[] Pixels, long[] Labels, int[] Indices)
{
    public int Count => Labels.Length;
}

/// <summary>Labelled images for training: paths, class indices, and memory caches so later epochs skip decoding: the
/// evaluation view's planes (when they are read without augmentation), and for augmentation each image decoded once and
/// shrunk to a little above the input size (<see cref="ImagePixelReader.DecodeForAugmentation"/>), within a byte budget.</summary>
internal sealed class ImageSet : IDisposable
{
    private readonly byte[]?[]? _planes;
    private readonly SkiaSharp.SKImage?[] _sources;
    private readonly long _maxSourceBytes;
    private long _sourceBytes;

    public ImageSet(IReadOnlyList<string> paths, IReadOnlyList<int> labels, ImagePixelReader reader, long maxCachedBytes, long maxSourceBytes = 0)
    {
        if (paths.Count != labels.Count) throw new ArgumentException("Every image needs a label.");
        Paths = paths;
        Labels = labels;
        Reader = reader;
        // Decoded planes are one byte per value: cache them when the whole set fits the budget.
        if ((long)paths.Count * reader.Length <= maxCachedBytes) _planes = new byte[paths.Count][];
        _sources = new SkiaSharp.SKImage?[maxSourceBytes > 0 ? paths.Count : 0];
        _maxSourceBytes = maxSourceBytes;
    }

    /// <summary>Memory held by images kept for augmentation, in bytes.</summary>
    public long SourceBytes => Interlocked.Read(ref _sourceBytes);

    /// <summary>A random training view of image <paramref name="index"/>, drawn from its kept decoded copy (decoded and kept
    /// on first use while the budget allows; decoded for this view alone once it is spent).</summary>
    public void ReadAugmented(int index, Span<float> destination, ImageAugmentation augmentation, Random random)
    {
        if (_sources.Length > 0 && Volatile.Read(ref _sources[index]) is { } kept)
        {
            Reader.ReadAugmented(kept, destination, augmentation, random);
            return;
        }
        var source = Reader.DecodeForAugmentation(Paths[index]);
        var bytes = (long)source.Width * source.Height * 4;
        var keep = _sources.Length > 0 && Interlocked.Add(ref _sourceBytes, bytes) <= _maxSourceBytes;
        if (!keep && _sources.Length > 0) Interlocked.Add(ref _sourceBytes, -bytes);
        if (keep && Interlocked.CompareExchange(ref _sources[index], source, null) is null)
        {
            Reader.ReadAugmented(source, destination, augmentation, random);
            return;
        }
        if (keep) Interlocked.Add(ref _sourceBytes, -bytes); // another thread kept its copy first
        using (source) Reader.ReadAugmented(source, destination, augmentation, random);
    }

    public void Dispose()
    {
        for (int i = 0; i < _sources.Length; i++) Interlocked.Exchange(ref _sources[i], null)?.Dispose();
        _sourceBytes = 0;
    }

    public IReadOnlyList<string> Paths { get; }
    public IReadOnlyList<int> Labels { get; }
    public ImagePixelReader Reader { get; }
    public int Count => Paths.Count;

    /// <summary>The evaluation view of image <paramref name="index"/> into <paramref name="destination"/>.</summary>
    public void ReadPlain(int index, Span<float> destination)
    {
        byte[] planes;
        if (_planes is not null && Volatile.Read(ref _planes[index]) is { } cached) planes = cached;
        else
        {
            planes = new byte[Reader.Length];
            Reader.Read(Paths[index], planes);
            if (_planes is not null) Volatile.Write(ref _planes[index], planes);
        }
        for (int i = 0; i < planes.Length; i++) destination[i] = planes[i];
    }
}

/// <summary>
/// Decodes (and augments) batches on a producer task while the caller trains on the previous ones: each batch's images are
/// decoded in parallel, and up to <c>capacity</c> batches wait ready. Augmentation draws from a generator seeded by
/// (seed, epoch, image), so a run is reproducible whatever the thread timing.
/// </summary>
internal sealed class ImageBatchStream : IDisposable
{
    private readonly BlockingCollection<PixelBatch> _ready;
    private readonly CancellationTokenSource _stop;
    private readonly Task _producer;

    public ImageBatchStream(ImageSet set, IReadOnlyList<int> order, int batchSize, ImageAugmentation? augmentation, int seed, int epoch,
        int parallelism, CancellationToken cancel, int capacity = 3)
    {
        _ready = new BlockingCollection<PixelBatch>(capacity);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var token = _stop.Token;
        _producer = Task.Run(() =>
        {
            try
            {
                var length = set.Reader.Length;
                var parallel = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = token };
                for (int start = 0; start < order.Count; start += batchSize)
                {
                    var indices = order.Skip(start).Take(batchSize).ToArray();
                    var pixels = new float[indices.Length * length];
                    try
                    {
                        Parallel.For(0, indices.Length, parallel, i =>
                        {
                            var span = pixels.AsSpan(i * length, length);
                            if (augmentation is null) set.ReadPlain(indices[i], span);
                            else set.ReadAugmented(indices[i], span, augmentation, new Random(SampleSeed(seed, epoch, indices[i])));
                        });
                    }
                    catch (AggregateException e) when (e.InnerExceptions.Count > 0)
                    {
                        // The first failing image's own error (it names the file), not the parallel loop's wrapper.
                        ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                    }
                    _ready.Add(new PixelBatch(pixels, indices.Select(i => (long)set.Labels[i]).ToArray(), indices), token);
                }
            }
            finally
            {
                _ready.CompleteAdding();
            }
        }, token);
    }

    /// <summary>The batches in order; rethrows a decoding failure of the producer.</summary>
    public IEnumerable<PixelBatch> Batches()
    {
        foreach (var batch in _ready.GetConsumingEnumerable(_stop.Token)) yield return batch;
        _producer.GetAwaiter().GetResult();
    }

    internal static int SampleSeed(int seed, int epoch, int index) => StableMix(seed, epoch, index);

    /// <summary>A process-independent mix (HashCode is randomised per process, which would break reproducibility across runs).</summary>
    private static int StableMix(int a, int b, int c)
    {
        unchecked
        {
            uint h = 2166136261;
            foreach (var v in new[] { a, b, c })
            {
                h = (h ^ (uint)v) * 16777619;
                h ^= h >> 15;
            }
            return (int)(h & 0x7FFFFFFF);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _producer.Wait(); }
        catch (AggregateException) { } // the producer's failure was already reported by Batches(), or the run was cancelled
        _stop.Dispose();
        _ready.Dispose();
    }
}
