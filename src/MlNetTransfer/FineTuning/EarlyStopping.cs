namespace MlNetTransfer.FineTuning;

/// <summary>What early stopping watches on the validation set after each epoch.</summary>
public enum EarlyStoppingMetric
{
    /// <summary>Validation cross-entropy (lower is better): stop "when validation loss starts to increase".</summary>
    Loss,

    /// <summary>Validation accuracy (higher is better; ties broken by loss).</summary>
    Accuracy,
}

/// <summary>Early stopping on the validation set (named after ML.NET's <c>ImageClassificationTrainer.EarlyStopping</c>): stop
/// a phase when the metric has not improved on that phase's own best by more than <see cref="MinDelta"/> for
/// <see cref="Patience"/> epochs, and restore the weights of the run's best epoch. Counted per phase (as Keras counts per
/// <c>fit</c>): a phase that thaws layers usually starts below the head it began from and climbs back, and counted against
/// that head it was stopped while still improving. Measured under auto on hds_shapes (seed 1): probe starts that lost 6
/// validation images on their first fine-tuning epoch were stopped after 5 epochs still gaining, and the frozen head was
/// kept (0.917).</summary>
public sealed class EarlyStopping
{
    /// <summary>Smallest change that counts as an improvement. Default 0.</summary>
    public float MinDelta { get; set; }

    /// <summary>Epochs without improving on the phase's best before the phase stops (and a run's last phase, the run). Default 3.</summary>
    public int Patience { get; set; } = 3;

    /// <summary>Epochs at the start of each phase that do not count toward <see cref="Patience"/> (Keras's
    /// <c>start_from_epoch</c>): a phase that thaws layers starts at its highest learning rate, right after the warm-up,
    /// on augmented images the head never saw, so its first epochs are expected to validate worse than the warmed-up head.
    /// Measured on hds_shapes under auto: fine-tune-top stopped after 3 epochs at 0.925 while the same data fine-tuned
    /// from earlier layers was still improving at its 6th epoch (0.950). The best epoch is still the one kept.
    /// Default 2, so a phase that never improves runs 2 + <see cref="Patience"/> epochs.</summary>
    public int StartFromEpoch { get; set; } = 2;

    /// <summary>The metric watched; it also picks the epoch a run keeps. Default <see cref="EarlyStoppingMetric.Accuracy"/> (as
    /// ML.NET's <c>ImageClassificationTrainer</c>), ties broken by the lower loss: the rule the leaderboard, auto and
    /// <c>experiment</c> rank runs by, so a run keeps the epoch they would pick. Measured under auto (hds_shapes, seeds 42/1/2):
    /// by loss the last run kept epochs 1–3 validation images under its most accurate one.</summary>
    public EarlyStoppingMetric Metric { get; set; } = EarlyStoppingMetric.Accuracy;

    /// <summary>This rule watching <paramref name="metric"/> instead, every other setting the same.</summary>
    internal EarlyStopping On(EarlyStoppingMetric metric)
    {
        if (metric == Metric) return this;
        var copy = (EarlyStopping)MemberwiseClone();
        copy.Metric = metric;
        return copy;
    }
}
