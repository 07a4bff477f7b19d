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

    /// <summary>The metric watched. Default <see cref="EarlyStoppingMetric.Loss"/>.</summary>
    public EarlyStoppingMetric Metric { get; set; } = EarlyStoppingMetric.Loss;
}
