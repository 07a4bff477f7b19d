namespace MlNetTransfer.FineTuning;

/// <summary>
/// Early stopping's patience within one phase: epochs are counted since the phase's own best, not since the run's. A phase
/// that thaws layers starts below the head it began from (most of all a linear probe, fitted to its optimum) and climbs back;
/// counted against the run's best, such a phase was stopped while still improving every epoch. The weights kept are still
/// the run's best (<see cref="Improves"/> against the run's best decides that).
/// </summary>
internal sealed class PhasePatience(EarlyStopping rule)
{
    private double _bestLoss = double.PositiveInfinity, _bestAccuracy = double.NegativeInfinity;
    private int _epochs, _sinceBest;

    /// <summary>Records an epoch's validation; true when the phase should stop: <see cref="EarlyStopping.Patience"/> epochs
    /// without beating the phase's own best, not counting its first <see cref="EarlyStopping.StartFromEpoch"/>.</summary>
    public bool Observe(double loss, double accuracy)
    {
        _epochs++;
        if (Improves(rule, loss, accuracy, _bestLoss, _bestAccuracy)) (_bestLoss, _bestAccuracy, _sinceBest) = (loss, accuracy, 0);
        else _sinceBest++;
        return Math.Min(_sinceBest, _epochs - rule.StartFromEpoch) >= rule.Patience;
    }

    /// <summary>Whether an epoch's validation beats a best by the rule's metric and <see cref="EarlyStopping.MinDelta"/>.</summary>
    public static bool Improves(EarlyStopping rule, double loss, double accuracy, double bestLoss, double bestAccuracy) =>
        rule.Metric == EarlyStoppingMetric.Loss
            ? loss < bestLoss - rule.MinDelta
            : accuracy > bestAccuracy + rule.MinDelta || (accuracy == bestAccuracy && loss < bestLoss);
}
