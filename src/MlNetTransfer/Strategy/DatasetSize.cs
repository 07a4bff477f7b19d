namespace MlNetTransfer.Strategy;

/// <summary>Options of <see cref="DatasetSize"/>.</summary>
public sealed class DatasetSizeOptions
{
    /// <summary>
    /// A data set is "large" from this many training images per class (on average) up. Default 500. Below a few hundred
    /// images per class, updating millions of pretrained weights overfits within a few epochs and a head on frozen
    /// features is hard to beat (the seeds' "small" case: a few hundred labelled images in all); from several hundred per
    /// class up, fine-tuning has enough examples to adapt the upper layers without memorising them.
    /// </summary>
    public int LargeImagesPerClass { get; set; } = 500;
}

/// <summary>How much labelled data there is to learn from: the size axis of the <see cref="ScenarioMatrix"/>.
/// Count the images the model trains on (the training split), not the ones held out.</summary>
public sealed record DatasetSize
{
    public int Total { get; init; }
    public int Classes { get; init; }

    /// <summary>Mean images per class (Total / Classes).</summary>
    public double ImagesPerClass { get; init; }

    /// <summary>Images in the smallest class.</summary>
    public int SmallestClass { get; init; }

    /// <summary>The threshold used: large from this many images per class.</summary>
    public int LargeImagesPerClass { get; init; }

    public bool IsLarge { get; init; }

    /// <summary>From per-class image counts (e.g. the training split's).</summary>
    public static DatasetSize FromCounts(IReadOnlyCollection<int> perClass, DatasetSizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(perClass);
        options ??= new DatasetSizeOptions();
        if (options.LargeImagesPerClass < 1)
            throw new MlNetTransferException($"Dataset size: LargeImagesPerClass is {options.LargeImagesPerClass}; it must be at least 1.");
        if (perClass.Count == 0) throw new MlNetTransferException("Dataset size: no classes.");
        if (perClass.Any(c => c < 0)) throw new MlNetTransferException("Dataset size: a class has a negative image count.");
        var total = perClass.Sum();
        var mean = (double)total / perClass.Count;
        return new DatasetSize
        {
            Total = total,
            Classes = perClass.Count,
            ImagesPerClass = mean,
            SmallestClass = perClass.Min(),
            LargeImagesPerClass = options.LargeImagesPerClass,
            IsLarge = mean >= options.LargeImagesPerClass,
        };
    }

    /// <summary>From one label per training image.</summary>
    public static DatasetSize FromLabels(IEnumerable<int> labels, DatasetSizeOptions? options = null)
        => FromCounts(labels.GroupBy(l => l).Select(g => g.Count()).ToArray(), options);
}
