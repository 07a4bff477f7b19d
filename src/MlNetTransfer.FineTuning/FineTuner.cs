using MlNetTransfer.Data;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The training loop: trains an <see cref="OnnxTorchModule"/> with a new head on labelled image files, phase by phase
/// (<see cref="FineTunePhasePlanning.Plan"/>), in place. Images are decoded and augmented on a producer task while the previous
/// batch trains; a fixed prefix is computed once when that gives the same result (bottleneck cache); after each epoch the
/// validation set decides whether these weights are the best so far, and the best are what the module holds at the end —
/// also when the run is cancelled.
/// </summary>
public sealed class FineTuner
{
    private readonly FineTuneOptions _options;

    public FineTuner(FineTuneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains <paramref name="module"/> in place.</summary>
    /// <param name="module">A module with a new head whose input is the <c>pixels</c> the <paramref name="reader"/> produces.</param>
    /// <param name="reader">Decodes images to the module's input size.</param>
    /// <param name="classes">Class names; a label's position here is its class index (the head's output index).</param>
    /// <param name="train">Training images.</param>
    /// <param name="validation">Validation images (may be empty: then no early stopping, and the last epoch is kept).</param>
    /// <param name="progress">Per-batch and per-epoch progress.</param>
    /// <param name="cancel">Stops at the next batch; the module keeps the best completed epoch. Throws
    /// <see cref="OperationCanceledException"/> only when no epoch completed.</param>
    public FineTuneRun Train(OnnxTorchModule module, ImagePixelReader reader, IReadOnlyList<string> classes, IReadOnlyList<ImageExample> train,
        IReadOnlyList<ImageExample> validation, IProgress<FineTuneProgress>? progress = null, CancellationToken cancel = default)
    {
        using var session = Start(module, reader, classes, train, validation);
        session.Advance(null, progress, cancel);
        return session.Finish();
    }

    /// <summary>A run that trains in steps (<see cref="FineTuneSession.Advance"/>): what successive halving gives each rung.
    /// Arguments as <see cref="Train"/>; the caller disposes the session (not the module).</summary>
    internal FineTuneSession Start(OnnxTorchModule module, ImagePixelReader reader, IReadOnlyList<string> classes, IReadOnlyList<ImageExample> train,
        IReadOnlyList<ImageExample> validation)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(reader);
        if (train.Count == 0) throw new MlNetTransferException("Fine-tuning: there are no training images.");
        var classCount = module.Head?.weight?.shape[0] ?? throw new MlNetTransferException("Fine-tuning needs a module with a new head.");
        if (classCount != classes.Count) throw new MlNetTransferException($"Fine-tuning: the head has {classCount} outputs but there are {classes.Count} classes.");
        return new FineTuneSession(_options, module, reader, classes, train, validation);
    }
}
