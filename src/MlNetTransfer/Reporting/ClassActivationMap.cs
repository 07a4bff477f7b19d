using Microsoft.ML.Transforms.Image;

namespace MlNetTransfer.Reporting;

/// <summary>
/// Where in an image the evidence for one class lies, by Grad-CAM (Selvaraju et al. 2017): the activations of the
/// network's last layer with a spatial grid, each channel weighted by the spatial mean of the class score's gradient
/// with respect to it, summed, ReLU'd and divided by its maximum. Made by <see cref="ImageClassifier.Explain"/>.
/// </summary>
public sealed record ClassActivationMap
{
    /// <summary>The image explained (full path).</summary>
    public string ImagePath { get; init; } = "";

    /// <summary>The zip's own prediction for the image.</summary>
    public ImagePrediction Prediction { get; init; } = new();

    /// <summary>The class the map explains: the predicted one unless another was asked for.</summary>
    public string Class { get; init; } = "";

    /// <summary>The explained class's probability (the zip's Score).</summary>
    public float ClassProbability { get; init; }

    /// <summary>The ONNX tensor whose activations were weighted.</summary>
    public string Layer { get; init; } = "";

    /// <summary>The map's grid (the layer's spatial size); it covers the network's view (<see cref="ViewWidth"/> × <see cref="ViewHeight"/>).</summary>
    public int GridWidth { get; init; }
    public int GridHeight { get; init; }

    /// <summary>Row-major [<see cref="GridHeight"/>, <see cref="GridWidth"/>] values in [0, 1] (1 at the strongest
    /// evidence); all 0 when nothing in the image speaks for the class.</summary>
    public IReadOnlyList<float> Values { get; init; } = [];

    /// <summary>The network's input size and how the image was brought to it (what places the map on the image).</summary>
    public int InputWidth { get; init; }
    public int InputHeight { get; init; }
    public ImageResizingEstimator.ResizingKind Resizing { get; init; }

    /// <summary>The centre part of that input the network looks at, which the map covers: a backbone whose graph crops
    /// (mobilenet_v2: 224 × 224 of a 256 × 256 resize) looks at less than the input; else the whole input.</summary>
    public int ViewWidth { get; init; }
    public int ViewHeight { get; init; }

    /// <summary>The image (scaled so its longer side is at most <paramref name="maxSide"/> pixels, never enlarged; null:
    /// its own size) with the map drawn over the part the network saw: blue (0) to red (1), half transparent.</summary>
    public byte[] ToPng(int? maxSide = null) => HeatMapOverlay.Png(this, maxSide);

    /// <summary>Writes <see cref="ToPng"/> atomically: the file is complete or not there.</summary>
    public void SavePng(string path, int? maxSide = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var png = ToPng(maxSide);
        AtomicFile.WriteAllBytes(path, png);
    }
}
