using Microsoft.ML.Transforms.Image;

namespace MlNetTransfer.Featurization;

/// <summary>Options of the image → embedding pipeline.</summary>
public sealed class ImageFeaturizerOptions
{
    /// <summary>Input column holding image file paths. Default <c>ImagePath</c>.</summary>
    public string ImagePathColumn { get; set; } = "ImagePath";

    /// <summary>How images are brought to the backbone's input size. Default <see cref="ImageResizingEstimator.ResizingKind.IsoCrop"/>
    /// (keep aspect ratio, crop the centre), the usual evaluation transform of ImageNet models.</summary>
    public ImageResizingEstimator.ResizingKind Resizing { get; set; } = ImageResizingEstimator.ResizingKind.IsoCrop;

    /// <summary>How many images are decoded and run at once when featurizing a data set. Default: the number of cores,
    /// so decoding one image overlaps running the network on another.</summary>
    public int DegreeOfParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>ONNX Runtime threads per featurizing cursor while a data set is featurized. Default 1: with one cursor
    /// per core, each running decode + inference on its own core beats cursors competing for every core
    /// (measured in bench/FeaturizationBench). Null leaves ONNX Runtime's default. Saved models always use the default.</summary>
    public int? OnnxThreadsPerCursor { get; set; } = 1;

    /// <summary>Folder of the embedding cache; null disables caching. Default <see cref="EmbeddingCache.DefaultDirectory"/>.</summary>
    public string? CacheDirectory { get; set; } = EmbeddingCache.DefaultDirectory;
}
