namespace MlNetTransfer.FineTuning;

/// <summary>Progress of a fine-tuning run, reported after every batch and at the end of every epoch.</summary>
/// <param name="Phase">Current phase name (see <see cref="FineTuneEpoch.Phase"/>).</param>
/// <param name="Epoch">1-based epoch over the whole run.</param>
/// <param name="TotalEpochs">Planned epochs over the whole run (early stopping may end it sooner).</param>
/// <param name="Batch">Batches done in this epoch (a linear probe counts images embedded).</param>
/// <param name="Batches">Batches per epoch (a linear probe: training plus validation images).</param>
/// <param name="TrainLoss">Mean training loss so far in this epoch (NaN while a linear probe's embeddings are computed).</param>
/// <param name="ImagesPerSecond">Training throughput so far in this epoch.</param>
/// <param name="Remaining">Estimated time left for the planned epochs.</param>
/// <param name="Completed">Set once the epoch (validation included) is done: its metrics.</param>
public sealed record FineTuneProgress(
    string Phase, int Epoch, int TotalEpochs, int Batch, int Batches, double TrainLoss, double ImagesPerSecond, TimeSpan Remaining,
    FineTuneEpoch? Completed = null)
{
    /// <summary>One line for a console: epoch, loss, validation accuracy, speed, time left.</summary>
    public override string ToString()
    {
        var text = $"epoch {Epoch}/{TotalEpochs} ({Phase})";
        if (double.IsNaN(TrainLoss)) text += $" embedding images for the linear probe {Batch}/{Batches}";
        else text += $" loss {TrainLoss:0.000}";
        if (Completed is { } e && !double.IsNaN(e.ValidationAccuracy)) text += $" val acc {e.ValidationAccuracy:0.000}";
        else if (Completed is null && !double.IsNaN(TrainLoss)) text += $" batch {Batch}/{Batches}";
        return text + $" {ImagesPerSecond:0.0} img/s ETA {Format(Remaining)}";
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{t.Seconds}s";
}
