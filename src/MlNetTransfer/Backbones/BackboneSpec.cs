using System.Text.Json.Serialization;

namespace MlNetTransfer.Backbones;

/// <summary>
/// What the project needs to know about a pretrained network to use it as a featurizer: data, not code
/// (it is read from <c>models/catalog.json</c> or a JSON file beside a user's model, or inferred by inspection).
/// Preprocessing contract: a pixel p in 0..255 becomes <c>(p * PixelScale - Mean[c]) / Std[c]</c>, fed in
/// <see cref="ChannelOrder"/> and <see cref="Layout"/>.
/// </summary>
public sealed record BackboneSpec
{
    /// <summary>Catalog name or file name, e.g. <c>mobilenet_v2</c>.</summary>
    public string Name { get; init; } = "backbone";

    /// <summary>Input image width in pixels. Default 224.</summary>
    public int InputWidth { get; init; } = 224;

    /// <summary>Input image height in pixels. Default 224.</summary>
    public int InputHeight { get; init; } = 224;

    /// <summary>Share of the resized image the network sees: images are resized (keeping aspect, centre-cropped) to
    /// <see cref="ResizeWidth"/>×<see cref="ResizeHeight"/> = input size / CropFraction, and the graph cuts the centre
    /// input-size window — torchvision's evaluation transform (Resize 256, CenterCrop 224) is 0.875. Default 1 (no crop).</summary>
    public float CropFraction { get; init; } = 1f;

    [JsonIgnore]
    public int ResizeWidth => (int)MathF.Round(InputWidth / CropFraction);

    [JsonIgnore]
    public int ResizeHeight => (int)MathF.Round(InputHeight / CropFraction);

    /// <summary><c>NCHW</c> (PyTorch, ONNX zoo) or <c>NHWC</c> (TensorFlow, Keras). Default NCHW.</summary>
    public string Layout { get; init; } = "NCHW";

    /// <summary><c>RGB</c> or <c>BGR</c> (Caffe-era models). Default RGB.</summary>
    public string ChannelOrder { get; init; } = "RGB";

    /// <summary>Multiplies raw 0..255 pixels first. Default 1/255.</summary>
    public float PixelScale { get; init; } = 1f / 255f;

    /// <summary>Per-channel mean subtracted after scaling, in <see cref="ChannelOrder"/>. Default ImageNet's (0.485, 0.456, 0.406).</summary>
    public float[] Mean { get; init; } = [0.485f, 0.456f, 0.406f];

    /// <summary>Per-channel standard deviation divided by after the mean, in <see cref="ChannelOrder"/>. Default ImageNet's (0.229, 0.224, 0.225).</summary>
    public float[] Std { get; init; } = [0.229f, 0.224f, 0.225f];

    /// <summary>Graph input fed with the image; null means the graph's only non-initializer input.</summary>
    public string? InputName { get; init; }

    /// <summary>Tensor to cut at (the embedding); null means detect it (the input of the final classifier).</summary>
    public string? EmbeddingTensor { get; init; }

    /// <summary>Output tensor of the original classifier (logits or probabilities), where the model has one.</summary>
    public string? ClassifierTensor { get; init; }

    /// <summary>Whether <see cref="ClassifierTensor"/> already holds probabilities (a softmax), not logits.</summary>
    public bool ClassifierOutputsProbabilities { get; init; }

    /// <summary>Path of a text file with one class name per line for the original classifier.</summary>
    public string? LabelsFile { get; init; }

    /// <summary>What the network was trained on, e.g. <c>ImageNet-1k natural photos</c>.</summary>
    public string SourceDomain { get; init; } = "unknown";

    [JsonIgnore]
    public bool IsChannelsLast => string.Equals(Layout, "NHWC", StringComparison.OrdinalIgnoreCase);

    /// <summary>Checks the values a user can get wrong in a JSON file, naming the field.</summary>
    public void Validate()
    {
        if (InputWidth <= 0 || InputHeight <= 0) throw new MlNetTransferException($"Backbone '{Name}': input size {InputWidth}x{InputHeight} is not positive.");
        if (!IsChannelsLast && !string.Equals(Layout, "NCHW", StringComparison.OrdinalIgnoreCase))
            throw new MlNetTransferException($"Backbone '{Name}': layout '{Layout}' must be NCHW or NHWC.");
        if (!string.Equals(ChannelOrder, "RGB", StringComparison.OrdinalIgnoreCase) && !string.Equals(ChannelOrder, "BGR", StringComparison.OrdinalIgnoreCase))
            throw new MlNetTransferException($"Backbone '{Name}': channel order '{ChannelOrder}' must be RGB or BGR.");
        if (Mean.Length != 3 || Std.Length != 3) throw new MlNetTransferException($"Backbone '{Name}': mean and std need 3 values each.");
        if (CropFraction is <= 0 or > 1) throw new MlNetTransferException($"Backbone '{Name}': crop fraction {CropFraction} must be in (0, 1].");
        if (Std.Any(s => s == 0)) throw new MlNetTransferException($"Backbone '{Name}': std must not be zero.");
    }
}
