using TorchSharp;
using static TorchSharp.torch;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The values a fixed (frozen, deterministic) prefix hands to the rest of the network, computed once for every image of a
/// set and kept in memory, so each epoch runs only the suffix. Valid only while the prefix and the images do not change:
/// see <see cref="OnnxTorchModule.IsPrefixFixed"/> and <see cref="ImageAugmentation.Enabled"/>.
/// </summary>
internal sealed class BottleneckCache : IDisposable
{
    private readonly Dictionary<string, Tensor> _values;

    private BottleneckCache(OnnxForwardSplit split, Dictionary<string, Tensor> values, long bytes)
    {
        Split = split;
        _values = values;
        Bytes = bytes;
    }

    public OnnxForwardSplit Split { get; }

    /// <summary>Memory held, in bytes.</summary>
    public long Bytes { get; }

    /// <summary>Runs the prefix over every image in order; null when the values would take more than <paramref name="maxBytes"/>.
    /// <paramref name="imagesDone"/> hears the running count of images after each batch.</summary>
    public static BottleneckCache? Build(OnnxTorchModule module, FrozenPrefix prefix, ImageSet images, int batchSize, int parallelism,
        long maxBytes, CancellationToken cancel, Action<int>? imagesDone = null)
    {
        var split = prefix.Split;
        if (images.Count == 0) return null;
        var wasTraining = module.training;
        module.eval();
        var parts = split.Tensors.ToDictionary(t => t, _ => new List<Tensor>(), StringComparer.Ordinal);
        long bytes = 0;
        try
        {
            using var stream = new ImageBatchStream(images, Enumerable.Range(0, images.Count).ToList(), batchSize, augmentation: null, seed: 0, epoch: 0,
                parallelism, cancel);
            foreach (var batch in stream.Batches())
            {
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                foreach (var (name, value) in prefix.Run(batch.Pixels, batch.Count, images.Reader.Height, images.Reader.Width))
                {
                    var kept = value.detach().cpu().contiguous().clone().DetachFromDisposeScope();
                    parts[name].Add(kept);
                    bytes += kept.numel() * kept.element_size();
                }
                var done = parts.First().Value.Sum(t => t.shape[0]);
                if (bytes / (double)done * images.Count > maxBytes) return null;
                imagesDone?.Invoke((int)done);
            }
            // Owned by the cache, whatever dispose scope the caller is in.
            var values = parts.ToDictionary(p => p.Key, p => torch.cat(p.Value, 0).DetachFromDisposeScope(), StringComparer.Ordinal);
            return new BottleneckCache(split, values, bytes);
        }
        finally
        {
            foreach (var list in parts.Values) foreach (var t in list) t.Dispose();
            if (wasTraining) module.train();
        }
    }

    /// <summary>A cache of one value, <paramref name="tensor"/> as rows of floats already computed elsewhere (one row per image, in
    /// order); null when there are none.</summary>
    public static BottleneckCache? FromRows(OnnxForwardSplit split, string tensor, IReadOnlyList<float[]> rows)
    {
        if (rows.Count == 0) return null;
        var width = rows[0].Length;
        var flat = new float[(long)rows.Count * width];
        for (int i = 0; i < rows.Count; i++) rows[i].CopyTo(flat, (long)i * width);
        var value = torch.tensor(flat, [rows.Count, width]).DetachFromDisposeScope();
        return new BottleneckCache(split, new Dictionary<string, Tensor>(StringComparer.Ordinal) { [tensor] = value }, flat.LongLength * sizeof(float));
    }

    /// <summary>The cached values of the images at <paramref name="indices"/>, in that order (new tensors in the current dispose scope).</summary>
    public IReadOnlyDictionary<string, Tensor> Take(int[] indices)
    {
        using var index = torch.tensor(indices.Select(i => (long)i).ToArray());
        return _values.ToDictionary(v => v.Key, v => v.Value.index_select(0, index), StringComparer.Ordinal);
    }

    public void Dispose()
    {
        foreach (var v in _values.Values) v.Dispose();
        _values.Clear();
    }
}
