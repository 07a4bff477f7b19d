using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>Early stopping's patience counts epochs since the phase's own best, from the phase's epoch StartFromEpoch + 1.</summary>
public sealed class PhasePatienceTests
{
    /// <summary>The epoch (1-based) at which <see cref="PhasePatience.Observe"/> first says stop, or 0 when it never does.</summary>
    private static int StopsAt(EarlyStopping rule, params (double Loss, double Accuracy)[] epochs)
    {
        var patience = new PhasePatience(rule);
        for (int e = 0; e < epochs.Length; e++)
            if (patience.Observe(epochs[e].Loss, epochs[e].Accuracy)) return e + 1;
        return 0;
    }

    private static (double, double)[] Losses(params double[] losses) => losses.Select(l => (l, double.NaN)).ToArray();

    [Fact]
    public void APhaseStillGainingOnItsOwnBestRunsOnThoughItHasNotReachedTheHeadItStartedFrom()
    {
        // A probe start's fine-tuning phase on hds_shapes (auto, seed 1): every loss above the probe's 0.248, the phase
        // gaining on itself. Counted against the probe it stopped at its 5th epoch.
        var rule = new EarlyStopping { Patience = 3, StartFromEpoch = 2, Metric = EarlyStoppingMetric.Loss };
        Assert.Equal(0, StopsAt(rule, Losses(0.418, 0.390, 0.330, 0.309, 0.313, 0.301, 0.290, 0.288)));
    }

    [Fact]
    public void APhaseThatStopsGainingStopsPatienceEpochsAfterItsBest()
    {
        var rule = new EarlyStopping { Patience = 3, StartFromEpoch = 2, Metric = EarlyStoppingMetric.Loss };
        Assert.Equal(6, StopsAt(rule, Losses(0.50, 0.45, 0.40, 0.41, 0.42, 0.43, 0.44, 0.45)));
        // A phase that never gains after its first epoch still runs StartFromEpoch + Patience epochs.
        Assert.Equal(5, StopsAt(rule, Losses(0.30, 0.31, 0.32, 0.33, 0.34, 0.35)));
        Assert.Equal(3, StopsAt(new EarlyStopping { Patience = 2, StartFromEpoch = 0, Metric = EarlyStoppingMetric.Loss }, Losses(0.30, 0.31, 0.32, 0.33)));
    }

    [Fact]
    public void ImprovementsSmallerThanMinDeltaDoNotCount()
    {
        var rule = new EarlyStopping { Patience = 2, StartFromEpoch = 0, MinDelta = 0.01f, Metric = EarlyStoppingMetric.Loss };
        Assert.Equal(3, StopsAt(rule, Losses(0.300, 0.295, 0.291, 0.289)));
        Assert.Equal(0, StopsAt(rule, Losses(0.300, 0.280, 0.260, 0.240)));
    }

    [Fact]
    public void OnAccuracyATieGoesToTheLowerLoss()
    {
        var rule = new EarlyStopping { Patience = 2, StartFromEpoch = 0, Metric = EarlyStoppingMetric.Accuracy };
        // Equal accuracy with a lower loss is a gain; a higher loss is not.
        Assert.Equal(0, StopsAt(rule, (0.40, 0.90), (0.39, 0.90), (0.41, 0.90), (0.38, 0.90)));
        Assert.Equal(3, StopsAt(rule, (0.40, 0.90), (0.41, 0.90), (0.30, 0.89)));
        Assert.True(PhasePatience.Improves(rule, loss: 0.5, accuracy: 0.91, bestLoss: 0.3, bestAccuracy: 0.90));
        Assert.False(PhasePatience.Improves(new EarlyStopping { Metric = EarlyStoppingMetric.Loss }, 0.3, 0.99, 0.3, 0.5));
    }
}
