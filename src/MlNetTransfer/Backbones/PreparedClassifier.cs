using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones;

/// <summary>
/// A pretrained network used as it was trained, as a classifier: input <c>pixels</c> float [N, 3, H, W] (raw 0..255
/// R, G, B planes), output <c>probabilities</c> float [N, classes].
/// </summary>
public sealed record PreparedClassifier
{
    /// <summary>Name of the model's input.</summary>
    public const string InputName = PreprocessingBaker.PixelsInput;

    /// <summary>Name of the model's output.</summary>
    public const string OutputName = BackbonePreparer.ProbabilitiesOutput;

    /// <summary>The classifier graph.</summary>
    internal ModelProto ClassifierModel { get; init; } = null!;

    /// <summary>The classifier serialized as an ONNX file's bytes.</summary>
    public required byte[] ClassifierBytes { get; init; }

    /// <summary>Number of classes.</summary>
    public required int ClassCount { get; init; }

    /// <summary>The spec used, with <see cref="BackboneSpec.ClassifierTensor"/> set to the tensor actually used.</summary>
    public required BackboneSpec Spec { get; init; }

    /// <summary>SHA-256 (lower-case hex) of <see cref="ClassifierBytes"/>.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Writes the classifier to an ONNX file atomically.</summary>
    public void SaveClassifier(string path) => AtomicFile.WriteAllBytes(path, ClassifierBytes);
}
