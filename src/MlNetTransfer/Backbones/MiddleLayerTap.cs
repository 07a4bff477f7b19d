using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones;

/// <summary>One tapped layer: a tensor of the featurizer graph and where its pooled values sit in the <c>middle</c> output.</summary>
/// <param name="Tensor">The tensor.</param>
/// <param name="LayersBefore">Weight layers (convolutions, dense layers) before it.</param>
/// <param name="Layers">Weight layers of the whole featurizer.</param>
/// <param name="Offset">Index of its first value in the <c>middle</c> output.</param>
/// <param name="Size">Its channel count: how many values it contributes.</param>
public sealed record TappedLayer(string Tensor, int LayersBefore, int Layers, int Offset, int Size)
{
    /// <summary>Fraction of the weight layers before the tensor.</summary>
    public double Depth => Layers == 0 ? 0 : (double)LayersBefore / Layers;
}

/// <summary>
/// A prepared featurizer with a second output, <c>middle</c> float [N, C1 + C2 + …]: one or more middle layers'
/// activations, each averaged over height and width, side by side. The layers are computed on the way to the embedding
/// anyway, so the extra output costs one pooling per layer; its <c>embedding</c> output is the featurizer's own. Made by
/// <see cref="BackbonePreparer.TapMiddleLayers"/>; used by the domain similarity to ask whether the network's top
/// layers still beat its middle on a data set.
/// </summary>
public sealed record MiddleLayerTap
{
    /// <summary>Name of the pooled middle-layer output.</summary>
    public const string OutputName = "middle";

    /// <summary>The tapped layers, from the input side, in the order of their values in the output.</summary>
    public required IReadOnlyList<TappedLayer> Layers { get; init; }

    /// <summary>Length of the <c>middle</c> output: the tapped layers' channels together.</summary>
    public int Size => Layers.Sum(l => l.Size);

    /// <summary>The featurizer graph with both outputs.</summary>
    internal ModelProto FeaturizerModel { get; init; } = null!;

    /// <summary>That graph as an ONNX file's bytes.</summary>
    public required byte[] FeaturizerBytes { get; init; }

    /// <summary>SHA-256 (lower-case hex) of <see cref="FeaturizerBytes"/>: the middle layers' cache key.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Cuts rows of the <c>middle</c> output into one matrix per tapped layer, in <see cref="Layers"/> order.</summary>
    public IReadOnlyList<float[][]> Split(float[][] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        foreach (var row in rows)
            if (row.Length != Size) throw new MlNetTransferException($"Middle layers: a row has {row.Length} values; the tap's output has {Size}.");
        return Layers.Select(l => rows.Select(r => r.AsSpan(l.Offset, l.Size).ToArray()).ToArray()).ToList();
    }
}
