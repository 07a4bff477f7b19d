using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones;

/// <summary>
/// A prepared featurizer with a second output, <c>middle</c> float [N, C]: a middle layer's activations averaged over
/// height and width. The layer is computed on the way to the embedding anyway, so the extra output costs one pooling;
/// its <c>embedding</c> output is the featurizer's own. Made by <see cref="BackbonePreparer.TapMiddleLayer"/>; used by
/// the domain similarity to ask whether the network's top layers still beat its middle on a data set.
/// </summary>
public sealed record MiddleLayerTap
{
    /// <summary>Name of the pooled middle-layer output.</summary>
    public const string OutputName = "middle";

    /// <summary>The tapped tensor of the prepared featurizer graph.</summary>
    public required string Tensor { get; init; }

    /// <summary>Weight layers (convolutions, dense layers) before the tensor.</summary>
    public required int LayersBefore { get; init; }

    /// <summary>Weight layers of the whole featurizer.</summary>
    public required int Layers { get; init; }

    /// <summary>Fraction of the weight layers before the tensor.</summary>
    public double Depth => Layers == 0 ? 0 : (double)LayersBefore / Layers;

    /// <summary>Length C of the pooled vector (the layer's channels).</summary>
    public required int Size { get; init; }

    /// <summary>The featurizer graph with both outputs.</summary>
    public required ModelProto FeaturizerModel { get; init; }

    /// <summary>That graph as an ONNX file's bytes.</summary>
    public required byte[] FeaturizerBytes { get; init; }

    /// <summary>SHA-256 (lower-case hex) of <see cref="FeaturizerBytes"/>: the middle layer's cache key.</summary>
    public required string Sha256 { get; init; }
}
