namespace MlNetTransfer.Backbones.Onnx;

/// <summary>A tensor the inspector proposes to cut a network at, to use as the image embedding.</summary>
public sealed record EmbeddingCandidate
{
    /// <summary>The tensor to pass to <see cref="OnnxGraphCutter.Cut"/>.</summary>
    public required string TensorName { get; init; }

    /// <summary>Name of the node producing the tensor.</summary>
    public string? ProducerName { get; init; }

    /// <summary>Operator of that node, with its domain when not the default one, e.g. <c>com.microsoft.QLinearGlobalAveragePool</c>.</summary>
    public string? ProducerOp { get; init; }

    /// <summary>Why this tensor is proposed, in words.</summary>
    public required string Reason { get; init; }

    /// <summary>Shape measured by ONNX Runtime with batch size 1; null when the candidate was not measured.</summary>
    public long[]? Dims { get; init; }

    /// <summary>Measured element type, e.g. <c>float</c> or <c>uint8</c>; null when not measured.</summary>
    public string? ElementType { get; init; }

    /// <summary>Length D of the <c>[N, D]</c> embedding a cut here yields (after dequantizing, pooling, flattening); null when not measured.</summary>
    public int? EmbeddingSize { get; init; }

    /// <summary>Shape as text, e.g. <c>[1,1280,7,7]</c>, or <c>?</c> when not measured.</summary>
    public string DimsText => Dims is null ? "?" : "[" + string.Join(",", Dims) + "]";

    public override string ToString() =>
        $"{TensorName} {ElementType ?? ""} {DimsText} -> {(EmbeddingSize is { } d ? d.ToString() : "?")}-d, from {ProducerOp} '{ProducerName}': {Reason}";
}
