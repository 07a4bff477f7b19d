namespace MlNetTransfer.Strategy;

/// <summary>
/// Predicts how long one fine-tuning epoch takes at a freeze depth, from epochs measured so far (at any depth) or, before
/// any, from the featurizer's throughput. Cost model: an epoch is a forward pass over the images (F) plus a backward pass
/// over the trainable part, about twice the forward cost of that part: F·(1 + 2·(1 − freeze)). Layers are not equally
/// expensive, so this is a planning estimate, not a promise; the budget's hard stop covers the rest.
/// </summary>
public sealed class EpochTimeEstimator
{
    private double? _forwardSeconds;
    private bool _measured;

    /// <summary>Whether any estimate is possible yet.</summary>
    public bool CanEstimate => _forwardSeconds is not null;

    /// <summary>Whether the estimate rests on a measured fine-tuning epoch (not only on featurization throughput).</summary>
    public bool IsMeasured => _measured;

    /// <summary>Seeds the estimate from inference throughput: <paramref name="imagesPerEpoch"/> images at
    /// <paramref name="imagesPerSecond"/> (ignored once an epoch has been measured, or when the throughput is unknown).</summary>
    public void SeedFromThroughput(int imagesPerEpoch, double imagesPerSecond)
    {
        if (_measured || imagesPerSecond <= 0 || imagesPerEpoch <= 0) return;
        _forwardSeconds = imagesPerEpoch / imagesPerSecond;
    }

    /// <summary>Records a measured epoch: <paramref name="seconds"/> at <paramref name="freezeFraction"/>. The latest measurement wins.</summary>
    public void Observe(double seconds, double freezeFraction)
    {
        if (!(seconds > 0)) return;
        _forwardSeconds = seconds / Factor(freezeFraction);
        _measured = true;
    }

    /// <summary>Estimated seconds per epoch at <paramref name="freezeFraction"/>, or null when nothing is known yet.</summary>
    public double? Estimate(double freezeFraction) => _forwardSeconds * Factor(freezeFraction);

    private static double Factor(double freeze) => 1 + 2 * (1 - Math.Clamp(freeze, 0, 1));
}
