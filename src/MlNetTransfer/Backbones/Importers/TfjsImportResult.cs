using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Importers;

/// <summary>The outcome of importing a TensorFlow.js layers model.</summary>
public sealed class TfjsImportResult
{
    /// <summary>The ONNX model (opset 13): input NHWC float32 <c>[N,H,W,C]</c>, outputs named by the Keras output layers, in Keras shapes.</summary>
    internal ModelProto Model { get; init; } = null!;

    /// <summary>
    /// A suggested spec: NHWC, RGB, the input size, the input name, the embedding and classifier tensors.
    /// Its normalisation is a guess (RGB scaled to [0,1], mean 0, std 1; right for nsfwjs, while Google's
    /// mobilenet_v1 wants [-1,1]): the model file does not record it, so a catalog entry should override it.
    /// </summary>
    public required BackboneSpec Spec { get; init; }

    /// <summary>The ONNX graph input names (usually one).</summary>
    public required IReadOnlyList<string> InputNames { get; init; }

    /// <summary>The ONNX graph output names: the Keras output layer names.</summary>
    public required IReadOnlyList<string> OutputNames { get; init; }

    /// <summary>
    /// The likely embedding: the output of the last global pooling layer, or failing that of the first layer that turns
    /// the feature map into a vector (e.g. <c>Flatten</c> after an average pooling); null when there is neither.
    /// </summary>
    public string? EmbeddingTensor { get; init; }

    /// <summary>The classifier output (the first graph output).</summary>
    public required string ClassifierTensor { get; init; }

    /// <summary>Every layer's output tensor in the graph, in the order they were converted.</summary>
    public required IReadOnlyList<TfjsLayerTensor> Layers { get; init; }
}
