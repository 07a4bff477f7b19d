namespace MlNetTransfer.FineTuning;

/// <summary>A <see cref="FineTuningTrainer"/> run that trains a few epochs at a time (<see cref="Advance"/>) and becomes a
/// <see cref="FineTuningResult"/> when it ends (<see cref="Complete"/>). Disposing it before then frees the module.</summary>
internal sealed class ResumableFineTuning : IResumableFineTuning
{
    private readonly FineTuneSession _session;
    private readonly OnnxTorchModule _module;
    private readonly Func<FineTuneRun, FineTuningResult> _package;
    private bool _completed;

    internal ResumableFineTuning(FineTuneSession session, OnnxTorchModule module, Func<FineTuneRun, FineTuningResult> package) =>
        (_session, _module, _package) = (session, module, package);

    /// <summary>True once the run has ended: all its epochs, early stopping, or a cancellation.</summary>
    public bool IsFinished => _session.IsFinished;

    /// <summary>Epochs trained so far with pretrained layers learning.</summary>
    public int FineTuningEpochs => _session.FineTuningEpochs;

    /// <summary>The run so far.</summary>
    public FineTuneRun Run => _session.Run;

    /// <summary>See <see cref="FineTuneSession.KeepHeadStart"/>.</summary>
    public bool KeepHeadStart { get => _session.KeepHeadStart; set => _session.KeepHeadStart = value; }

    /// <summary>See <see cref="FineTuneSession.StopsEarly"/>.</summary>
    public bool StopsEarly { get => _session.StopsEarly; set => _session.StopsEarly = value; }

    /// <summary>See <see cref="FineTuneSession.Replan"/>.</summary>
    public Func<int, double, int>? Replan { get => _session.Replan; set => _session.Replan = value; }

    /// <summary>See <see cref="FineTuneSession.HeadStart"/>.</summary>
    public HeadStartSnapshot? HeadStart => _session.HeadStart;

    /// <summary>See <see cref="FineTuneSession.StartFrom"/>.</summary>
    public void StartFrom(HeadStartSnapshot snapshot) => _session.StartFrom(snapshot);

    /// <summary>See <see cref="FineTuneSession.Advance"/>.</summary>
    public int Advance(int? fineTuningEpochs, IProgress<FineTuneProgress>? progress = null, CancellationToken cancel = default) =>
        _session.Advance(fineTuningEpochs, progress, cancel);

    /// <summary>Ends the run on its best epoch and packages it; the result owns the module from then on.</summary>
    public FineTuningResult Complete()
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var run = _session.Finish();
        _session.Dispose();
        _completed = true;
        return _package(run);
    }

    IFineTunedClassifier IResumableFineTuning.Complete() => Complete();
    object? IResumableFineTuning.HeadStart => HeadStart;
    void IResumableFineTuning.StartFrom(object headStart) => StartFrom((HeadStartSnapshot)headStart);

    public void Dispose()
    {
        if (_completed) return;
        _completed = true;
        _session.Dispose();
        _module.Dispose();
    }
}
