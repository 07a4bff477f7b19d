namespace MlNetTransfer.Strategy;

/// <summary>The same k-NN probe on the backbone's embeddings and on a weak baseline representation of the same images.</summary>
public sealed record ProbeComparisonResult
{
    public ProbeResult Embedding { get; init; } = new();
    public ProbeResult Baseline { get; init; } = new();

    /// <summary>
    /// Share of the baseline's errors the embeddings remove: (embedding − baseline) / (1 − baseline), on balanced
    /// accuracy. 1 means the embeddings make no errors; 0 means they do no better than raw pixels; negative, worse.
    /// When the baseline is already perfect there is nothing to gain and the value is 0.
    /// </summary>
    public double ErrorReduction { get; init; }
}

/// <summary>
/// Transferability as a probe gain: if a network's features suit a data set, a k-NN classifier on them beats the same
/// classifier on raw downsampled pixels (<see cref="PixelBaseline"/>) by a wide margin; on a domain the network never
/// saw (grey product sketches, say) raw pixels already carry most of what its features do.
/// </summary>
public static class ProbeComparison
{
    public static ProbeComparisonResult Compare(float[][] embeddings, float[][] baseline, int[] labels, KnnProbeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        if (baseline.Length != embeddings.Length)
            throw new MlNetTransferException($"Probe comparison: {embeddings.Length} embeddings but {baseline.Length} baseline rows; they must describe the same images.");
        var onEmbeddings = KnnProbe.CrossValidate(embeddings, labels, options);
        var onBaseline = KnnProbe.CrossValidate(baseline, labels, options);
        return new ProbeComparisonResult
        {
            Embedding = onEmbeddings,
            Baseline = onBaseline,
            ErrorReduction = ErrorReduction(onEmbeddings.BalancedAccuracy, onBaseline.BalancedAccuracy),
        };
    }

    public static double ErrorReduction(double embedding, double baseline)
        => baseline >= 1 ? 0 : (embedding - baseline) / (1 - baseline);
}
