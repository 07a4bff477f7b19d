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
/// when the metric has not improved by more than <see cref="MinDelta"/> for <see cref="Patience"/> epochs, and restore the
/// weights of the best epoch.</summary>
public sealed class EarlyStopping
{
    /// <summary>Smallest change that counts as an improvement. Default 0.</summary>
    public float MinDelta { get; set; }

    /// <summary>Epochs without improvement before training stops. Default 3.</summary>
    public int Patience { get; set; } = 3;

    /// <summary>Epochs at the start of each phase that do not count toward <see cref="Patience"/> (Keras's
    /// <c>start_from_epoch</c>): a phase that thaws layers starts at its highest learning rate, right after the warm-up,
    /// on augmented images the head never saw, so its first epochs are expected to validate worse than the warmed-up head.
    /// Measured on hds_shapes under auto: fine-tune-top stopped after 3 epochs at 0.925 while the same data fine-tuned
    /// from earlier layers was still improving at its 6th epoch (0.950). The best epoch is still the one kept.
    /// Default 2, so a phase that never improves runs 2 + <see cref="Patience"/> epochs.</summary>
    public int StartFromEpoch { get; set; } = 2;

    /// <summary>The metric watched. Default <see cref="EarlyStoppingMetric.Loss"/>.</summary>
    public EarlyStoppingMetric Metric { get; set; } = EarlyStoppingMetric.Loss;
}
