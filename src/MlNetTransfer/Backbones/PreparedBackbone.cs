using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones;

/// <summary>
/// A pretrained network made into an image featurizer: input <c>pixels</c> float [N, 3, H, W] (raw 0..255 R, G, B
/// planes, as ML.NET's ExtractPixels emits them), output <c>embedding</c> float [N, D].
/// </summary>
public sealed record PreparedBackbone
{
    /// <summary>Name of the featurizer's input.</summary>
    public const string InputName = PreprocessingBaker.PixelsInput;

    /// <summary>Name of the featurizer's output.</summary>
    public const string OutputName = OnnxGraphCutter.EmbeddingOutput;

    /// <summary>The featurizer graph.</summary>
    internal ModelProto FeaturizerModel { get; init; } = null!;

    /// <summary>The featurizer serialized as an ONNX file's bytes.</summary>
    public required byte[] FeaturizerBytes { get; init; }

    /// <summary>Length D of the embedding.</summary>
    public required int EmbeddingSize { get; init; }

    /// <summary>The spec used, with <see cref="BackboneSpec.EmbeddingTensor"/> set to the tensor actually cut at.</summary>
    public required BackboneSpec Spec { get; init; }

    /// <summary>SHA-256 (lower-case hex) of <see cref="FeaturizerBytes"/>: identifies the featurizer in saved models and caches.</summary>
    public required string Sha256 { get; init; }

    /// <summary>What the inspector found in the original network.</summary>
    public required OnnxModelInfo OriginalInfo { get; init; }

    /// <summary>When <see cref="FeaturizerModel"/> is the dequantized float twin of an int8 network and it was asked for: the
    /// int8 network's own featurizer (same input and output), which a frozen fine-tuning prefix can run; else null.</summary>
    internal ModelProto? QuantizedFeaturizerModel { get; init; }

    /// <summary>Input image height in pixels.</summary>
    public int ImageHeight => Spec.ResizeHeight;

    /// <summary>Input image width in pixels.</summary>
    public int ImageWidth => Spec.ResizeWidth;

    /// <summary>Writes the featurizer to an ONNX file atomically.</summary>
    public void SaveFeaturizer(string path) => AtomicFile.WriteAllBytes(path, FeaturizerBytes);
}
