namespace MlNetTransfer.Strategy;

/// <summary>One of the source classes the backbone's own head most often picks on the user's images.</summary>
/// <param name="Index">Class index in the head's output.</param>
/// <param name="Name">Class name, or <c>#index</c> when no names were given.</param>
/// <param name="Share">Fraction of images whose top-1 prediction is this class.</param>
public sealed record SourceClassShare(int Index, string Name, double Share);

/// <summary>
/// How the backbone's original classifier (e.g. its ImageNet head) reacts to the user's images. On images like its
/// training data it is confident (high top probability, low entropy) and spreads its answers over the appropriate
/// classes; on a foreign domain it hedges, and tends to push many different images into a few catch-all classes.
/// </summary>
public sealed record SourceHeadStatistics
{
    public int Images { get; init; }

    /// <summary>Number of classes of the original head.</summary>
    public int SourceClasses { get; init; }

    /// <summary>Mean over images of the largest class probability.</summary>
    public double MeanMaxProbability { get; init; }

    /// <summary>Mean over images of the prediction entropy divided by ln(classes): 0 is certain, 1 is uniform.</summary>
    public double MeanNormalizedEntropy { get; init; }

    /// <summary>How many different source classes occur as a top-1 prediction.</summary>
    public int DistinctTop1Classes { get; init; }

    /// <summary>The most frequent top-1 classes, most frequent first.</summary>
    public IReadOnlyList<SourceClassShare> MostFrequentTop1 { get; init; } = [];

    /// <param name="probabilities">One row per image: the head's class probabilities (each row non-negative, summing to 1).</param>
    /// <param name="classNames">Optional names of the source classes, for <see cref="MostFrequentTop1"/>.</param>
    /// <param name="top">How many of the most frequent top-1 classes to keep. Default 5.</param>
    public static SourceHeadStatistics Compute(float[][] probabilities, IReadOnlyList<string>? classNames = null, int top = 5)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        if (probabilities.Length == 0) throw new MlNetTransferException("Source head statistics: no predictions given.");
        var classes = probabilities[0]?.Length ?? 0;
        if (classes < 2) throw new MlNetTransferException($"Source head statistics: rows have {classes} classes; at least 2 are needed.");
        if (classNames is not null && classNames.Count != classes)
            throw new MlNetTransferException($"Source head statistics: {classNames.Count} class names for a head of {classes} classes.");

        double maxSum = 0, entropySum = 0;
        var top1 = new int[probabilities.Length];
        for (int i = 0; i < probabilities.Length; i++)
        {
            var row = probabilities[i];
            if (row is null || row.Length != classes)
                throw new MlNetTransferException($"Source head statistics: row {i} has {row?.Length ?? 0} values, row 0 has {classes}.");
            double sum = 0, entropy = 0, max = -1;
            for (int c = 0; c < classes; c++)
            {
                double p = row[c];
                if (!(p >= 0) || !double.IsFinite(p))
                    throw new MlNetTransferException($"Source head statistics: row {i}, class {c} is {row[c]}; probabilities must be finite and non-negative (logits need a softmax first).");
                sum += p;
                if (p > 0) entropy -= p * Math.Log(p);
                if (p > max) { max = p; top1[i] = c; }
            }
            if (Math.Abs(sum - 1) > 1e-2)
                throw new MlNetTransferException($"Source head statistics: row {i} sums to {sum:0.###}, not 1; pass probabilities (a softmax of the logits).");
            maxSum += max / sum;
            entropySum += (entropy / sum + Math.Log(sum)) / Math.Log(classes);
        }

        var counts = top1.GroupBy(c => c).Select(g => (Index: g.Key, Count: g.Count())).OrderByDescending(g => g.Count).ThenBy(g => g.Index).ToList();
        return new SourceHeadStatistics
        {
            Images = probabilities.Length,
            SourceClasses = classes,
            MeanMaxProbability = maxSum / probabilities.Length,
            MeanNormalizedEntropy = entropySum / probabilities.Length,
            DistinctTop1Classes = counts.Count,
            MostFrequentTop1 = counts.Take(top)
                .Select(g => new SourceClassShare(g.Index, classNames?[g.Index] ?? $"#{g.Index}", (double)g.Count / probabilities.Length)).ToList(),
        };
    }
}
