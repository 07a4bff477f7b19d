namespace MlNetTransfer.FineTuning;

/// <summary>Random changes applied to training images only (validation and prediction see the plain resize).
/// Defaults are the usual light ImageNet fine-tuning set.</summary>
public sealed class ImageAugmentation
{
    /// <summary>Whether training images are augmented at all. Default true. Off, every epoch sees the same pixels, which is
    /// what lets a frozen prefix's activations be cached (<see cref="FineTuneOptions.UseBottleneckCache"/>).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Random resized crop: the crop covers this fraction of the image's area at least (at most all of it). Default 0.35.
    /// 1 disables cropping (the plain resize is used).</summary>
    public float MinCropArea { get; set; } = 0.35f;

    /// <summary>Random resized crop: aspect ratios (width/height) drawn log-uniformly from [1/x, x]. Default 4/3.</summary>
    public float MaxCropAspectRatio { get; set; } = 4f / 3f;

    /// <summary>Mirror left-right with probability 1/2. Default true (turn off for text, digits or anything handed).</summary>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Brightness factor drawn from [1-x, 1+x]. Default 0.2.</summary>
    public float Brightness { get; set; } = 0.2f;

    /// <summary>Contrast factor (blend with the image's mean grey) drawn from [1-x, 1+x]. Default 0.2.</summary>
    public float Contrast { get; set; } = 0.2f;

    /// <summary>Saturation factor (blend with the pixel's grey) drawn from [1-x, 1+x]. Default 0.2.</summary>
    public float Saturation { get; set; } = 0.2f;

    /// <summary>The settings in one line, as the report records them: <c>off</c>, or each change with its range.</summary>
    public string Describe()
    {
        if (!Enabled) return "off";
        var parts = new List<string>();
        if (MinCropArea < 1) parts.Add(FormattableString.Invariant($"random resized crop (area {MinCropArea:0.##}-1, aspect 1/{MaxCropAspectRatio:0.##}-{MaxCropAspectRatio:0.##})"));
        if (HorizontalFlip) parts.Add("horizontal flip");
        if (Brightness > 0 || Contrast > 0 || Saturation > 0)
            parts.Add(FormattableString.Invariant($"colour jitter (brightness {Brightness:0.##}, contrast {Contrast:0.##}, saturation {Saturation:0.##})"));
        return parts.Count == 0 ? "none (all changes turned off)" : string.Join(", ", parts);
    }

    internal ImageAugmentation WithMinCropArea(float area)
    {
        var copy = (ImageAugmentation)MemberwiseClone();
        copy.MinCropArea = area;
        return copy;
    }

    internal void Validate()
    {
        if (MinCropArea is <= 0 or > 1) throw new MlNetTransferException($"Augmentation MinCropArea is {MinCropArea}; it must be in (0, 1].");
        if (MaxCropAspectRatio < 1) throw new MlNetTransferException($"Augmentation MaxCropAspectRatio is {MaxCropAspectRatio}; it must be at least 1.");
        foreach (var (name, value) in new[] { ("Brightness", Brightness), ("Contrast", Contrast), ("Saturation", Saturation) })
            if (value is < 0 or >= 1) throw new MlNetTransferException($"Augmentation {name} is {value}; it must be in [0, 1).");
    }
}
