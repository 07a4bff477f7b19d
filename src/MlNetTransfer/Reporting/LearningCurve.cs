namespace MlNetTransfer.Reporting;

/// <summary>Per-epoch training history of one candidate. Values a trainer does not measure are null.</summary>
public sealed record LearningCurve
{
    public string Candidate { get; init; } = "";
    public IReadOnlyList<LearningCurvePoint> Points { get; init; } = [];
}

/// <summary>One epoch of a <see cref="LearningCurve"/>.</summary>
/// <param name="Epoch">Epoch number (1 = after the first pass).</param>
/// <param name="TrainLoss">Mean training loss over the epoch.</param>
/// <param name="ValidationLoss">Loss on the validation split after the epoch.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation split after the epoch.</param>
public sealed record LearningCurvePoint(int Epoch, double? TrainLoss, double? ValidationLoss, double? ValidationAccuracy);
