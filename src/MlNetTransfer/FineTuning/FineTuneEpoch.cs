namespace MlNetTransfer.FineTuning;

/// <summary>What one training epoch measured (a point of the learning curve).</summary>
public sealed record FineTuneEpoch
{
    /// <summary>1-based epoch number over the whole run (all phases).</summary>
    public int Epoch { get; init; }

    /// <summary>The phase it belongs to: <c>fine-tune</c>, or for chain-thaw <c>head</c>, <c>block 1/4</c>, ..., <c>all</c>.</summary>
    public string Phase { get; init; } = "";

    /// <summary>1-based epoch number within its phase.</summary>
    public int PhaseEpoch { get; init; }

    /// <summary>Mean training loss (with label smoothing) over the epoch's batches.</summary>
    public double TrainLoss { get; init; }

    /// <summary>Accuracy on the (augmented) training batches as they were seen.</summary>
    public double TrainAccuracy { get; init; }

    /// <summary>Validation cross-entropy (no smoothing); NaN without a validation set.</summary>
    public double ValidationLoss { get; init; } = double.NaN;

    /// <summary>Validation accuracy; NaN without a validation set.</summary>
    public double ValidationAccuracy { get; init; } = double.NaN;

    /// <summary>Highest learning rate in use at the epoch's last step (the head's, when it trains).</summary>
    public double LearningRate { get; init; }

    /// <summary>Parameter groups trained in this epoch (the head included).</summary>
    public int TrainableGroups { get; init; }

    /// <summary>True when the frozen prefix's activations came from the bottleneck cache.</summary>
    public bool BottleneckCached { get; init; }

    /// <summary>What ran the frozen layers in front of the trained ones this epoch; null when none were frozen (or their
    /// output came from the bottleneck cache).</summary>
    public FrozenPrefixEngine? FrozenPrefix { get; init; }

    /// <summary>Training images per second over the epoch (training steps, excluding validation).</summary>
    public double ImagesPerSecond { get; init; }

    /// <summary>Wall time of the epoch, validation included.</summary>
    public double Seconds { get; init; }

    /// <summary>True when this epoch's weights were the best so far.</summary>
    public bool IsBest { get; init; }
}
