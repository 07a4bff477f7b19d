using System.Diagnostics;
using MlNetTransfer.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// One fine-tuning run (<see cref="FineTuner"/>) that can pause between epochs and go on later exactly as if it had not
/// paused: successive halving gives a candidate a few epochs per rung. Between <see cref="Advance"/> calls it keeps what
/// training depends on — the module's weights and batch-norm statistics, the optimizer's state, the step the learning-rate
/// schedule is at (planned over all of <see cref="FineTuneOptions.Epoch"/>), early stopping's best epoch and patience count,
/// and libtorch's random generator (dropout), which other runs in between would move — and lets go of what can be rebuilt
/// to the same values (decoded images, the frozen prefix's engine and its bottleneck caches), so paused runs hold little
/// memory. <see cref="Finish"/> ends it on the best epoch's weights.
/// </summary>
internal sealed class FineTuneSession : IDisposable
{
    private readonly FineTuneOptions _o;
    private readonly OnnxTorchModule _module;
    private readonly ImagePixelReader _reader;
    private readonly IReadOnlyList<string> _trainPaths, _validationPaths;
    private readonly IReadOnlyList<int> _trainLabels, _validationLabels;
    private readonly List<FineTunePhase> _phases;
    private int _totalEpochs;
    private int _callStart; // fine-tuning epochs before the current Advance call
    private readonly List<FineTuneEpoch> _epochs = [];
    private readonly Stopwatch _clock = new();
    private ImageSet? _train, _validation;
    private IProgress<FineTuneProgress>? _progress;
    private CancellationToken _cancel;
    private Dictionary<string, Tensor>? _best;
    private double _bestLoss = double.PositiveInfinity, _bestAccuracy = double.NegativeInfinity;
    private int _bestEpoch;
    private TimeSpan _phaseStarted;
    private int _epochsBeforePhase;
    private FrozenPrefix? _prefix;
    /// <summary>The int8 prefix the best epoch trained behind (<see cref="FrozenPrefixEngine.OnnxRuntimeInt8"/>) and the split it
    /// ends at, else null: the saved model keeps that prefix.</summary>
    private (Backbones.Onnx.Proto.ModelProto Model, OnnxForwardSplit Split)? _bestInt8Prefix;
    private string? _int8Fallback;
    private Reporting.HeadCrossValidationReport? _probeCrossValidation;
    private int _phaseIndex;
    private ActivePhase? _active;
    private Tensor? _randomState;
    private bool _stoppedEarly, _cancelled, _finished, _disposed;
    private readonly float[]? _classWeights;

    public FineTuneSession(FineTuneOptions options, OnnxTorchModule module, ImagePixelReader reader, IReadOnlyList<string> classes,
        IReadOnlyList<ImageExample> train, IReadOnlyList<ImageExample> validation)
    {
        _o = options;
        _module = module;
        _reader = reader;
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        int Label(ImageExample e) => index.TryGetValue(e.Label, out var i) ? i
            : throw new MlNetTransferException($"{e.Path}: label '{e.Label}' is not one of the {classes.Count} classes ({string.Join(", ", classes.Take(10))}).");
        _trainPaths = train.Select(e => e.Path).ToList();
        _trainLabels = train.Select(Label).ToList();
        _validationPaths = validation.Select(e => e.Path).ToList();
        _validationLabels = validation.Select(Label).ToList();
        _classWeights = options.ClassWeights is { } w ? classes.Select(c => w.TryGetValue(c, out var v) ? v : 1f).ToArray() : null;
        _phases = FineTunePhase.Plan(module, options).ToList();
        _totalEpochs = _phases.Sum(p => p.Epochs);
    }

    /// <summary>The training loss's per-class weights (<see cref="FineTuneOptions.ClassWeights"/>), or null for none; the
    /// validation loss that early stopping reads stays unweighted.</summary>
    private Tensor? ClassWeights() => _classWeights is null ? null : torch.tensor(_classWeights).to(_module.Device);

    /// <summary>Keep a <see cref="HeadStartSnapshot"/> when the head-only phase ends, for other runs to start from.</summary>
    public bool KeepHeadStart { get; set; }

    /// <summary>The state this run reached when its head-only phase ended (with <see cref="KeepHeadStart"/>); null before.</summary>
    public HeadStartSnapshot? HeadStart { get; private set; }

    /// <summary>
    /// Starts this run from another run's head-only phase instead of training its own: that phase trains only the new head,
    /// on the frozen network, with the head's own rate, so it does not depend on the freeze depth or the fine-tuning learning
    /// rate, and runs that differ only in those would repeat it exactly. The run then goes on as if it had trained the phase
    /// itself (the same weights, best epoch, learning curve and random generator state). Refused unless the snapshot came
    /// from a run with the same head settings, before this run trained anything.
    /// </summary>
    public void StartFrom(HeadStartSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (_epochs.Count > 0 || _phaseIndex > 0 || _phases.Count == 0 || _phases[0].Name != FineTunePhase.HeadPhase)
            throw new InvalidOperationException("A run starts from another's head phase only before it trains, and only when it has one.");
        if (snapshot.Key != HeadPhaseKey())
            throw new InvalidOperationException("The snapshot's head phase was trained with other settings.");
        using (torch.no_grad())
            foreach (var (name, value) in _module.state_dict()) value.copy_(snapshot.State[name]);
        _best = snapshot.Best.ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope(), StringComparer.Ordinal);
        (_bestLoss, _bestAccuracy, _bestEpoch, _bestInt8Prefix) = (snapshot.BestLoss, snapshot.BestAccuracy, snapshot.BestEpoch, snapshot.BestInt8Prefix);
        _probeCrossValidation = snapshot.ProbeCrossValidation;
        _epochs.AddRange(snapshot.Epochs);
        _randomState = snapshot.RandomState.clone().DetachFromDisposeScope();
        _phaseIndex = 1;
    }

    /// <summary>Everything the head-only phase depends on: equal keys, equal phases.</summary>
    private string HeadPhaseKey()
    {
        var o = _o;
        var probe = o.LinearProbe is { } p ? $"{p.Trainer}/{p.L2Regularization}/{p.L1Regularization}/{p.Normalization}/{p.MaximumIterations}" : "random";
        var early = o.EarlyStoppingCriteria is { } e ? $"{e.Metric}/{e.Patience}/{e.StartFromEpoch}/{e.MinDelta}" : "none";
        return string.Join("|", _phases[0].Epochs, _phases[0].HeadLearningRate, probe, o.Seed, o.BatchSize, o.HeadDropout, o.LabelSmoothing, o.Schedule,
            o.WarmupFraction, o.Optimizer, o.EffectiveWeightDecay, o.Momentum, early, o.UseBottleneckCache, o.BottleneckCacheMaxMegabytes,
            o.FrozenPrefixEngine, o.Device, o.NumberOfThreads, _trainPaths.Count, _validationPaths.Count, string.Join(",", _trainPaths.Take(3)));
    }

    /// <summary>Whether early stopping's patience may end the run (default true). Off, the run trains its schedule to the end
    /// and still keeps its best epoch by the early-stopping metric.</summary>
    public bool StopsEarly { get; set; } = true;

    /// <summary>Re-plans the run's length as it trains: after each epoch where layers learn, except the first of an
    /// <see cref="Advance"/> call (which decodes every image again, so its time overstates the rest), called with the
    /// fine-tuning epochs so far and the seconds of the fastest of them (the others carry one-off costs: decoding, allocation,
    /// warm-up); the schedule is then shortened to the epochs it returns (<see cref="Shorten"/>: never lengthened). Null
    /// (default): the plan stands.</summary>
    public Func<int, double, int>? Replan { get; set; }

    /// <summary>True once every phase has ended (all epochs, or early stopping), or a cancellation ended the run.</summary>
    public bool IsFinished => _finished || _phaseIndex >= _phases.Count;

    /// <summary>Epochs trained so far in phases where pretrained layers learn (the head-only warm-up or probe not counted).</summary>
    public int FineTuningEpochs => _epochs.Count(e => e.Phase != FineTunePhase.HeadPhase);

    /// <summary>The run so far: epochs, best epoch, how it ended (if it has).</summary>
    public FineTuneRun Run => new()
    {
        Epochs = _epochs.ToList(),
        Phases = _phases,
        BestEpoch = _bestEpoch,
        StoppedEarly = _stoppedEarly,
        Cancelled = _cancelled,
        PretrainedGroups = _module.ParameterGroups.Count(g => !g.IsHead),
        Seconds = _clock.Elapsed.TotalSeconds,
        Int8Prefix = _best is not null ? _bestInt8Prefix : null,
        Int8PrefixFallback = _int8Fallback,
        ChannelsLastFallback = _module.ChannelsLastFallback,
        ProbeCrossValidation = _probeCrossValidation,
    };

    private ImageSet Train => _train ??= new ImageSet(_trainPaths, _trainLabels, _reader, _o.Augments ? 0 : MaxCacheBytes,
        _o.Augments ? (long)_o.DecodedImageCacheMegabytes << 20 : 0); // augmented images differ every epoch: only plain ones are kept decoded
    private ImageSet Validation => _validation ??= new ImageSet(_validationPaths, _validationLabels, _reader, MaxCacheBytes);
    private bool HasValidation => _validationPaths.Count > 0;
    private EarlyStopping? Early => HasValidation ? _o.EarlyStoppingCriteria : null;

    /// <summary>The rule for a phase's best epoch and patience. The head's warm-up is judged by loss whatever the metric: it
    /// hands the layers a starting point, and by accuracy it stopped and handed on a half-trained head (hds_shapes three-way
    /// split, seed 42: warm-up stopped at 16 of 20 epochs, epoch 13 kept, fine-tuning began 7 images lower).</summary>
    private EarlyStopping? EarlyFor(FineTunePhase phase) => phase.Name == FineTunePhase.HeadPhase ? Early?.On(EarlyStoppingMetric.Loss) : Early;
    private long MaxCacheBytes => (long)_o.BottleneckCacheMaxMegabytes << 20;

    /// <summary>Trains on: the head-only phase (warm-up or probe) whole, then up to <paramref name="fineTuningEpochs"/> more epochs
    /// of the phases where pretrained layers learn (null: to the end). Stops sooner when the run ends. Cancelling stops at the
    /// next batch and ends the run on the best epoch so far (it cannot go on: the cut epoch moved the weights); with no
    /// epoch completed it throws <see cref="OperationCanceledException"/>.</summary>
    /// <returns>Epochs of pretrained-layer training this call ran.</returns>
    public int Advance(int? fineTuningEpochs, IProgress<FineTuneProgress>? progress = null, CancellationToken cancel = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (fineTuningEpochs is < 0) throw new ArgumentOutOfRangeException(nameof(fineTuningEpochs), fineTuningEpochs, "must not be negative");
        if (IsFinished) return 0;
        (_progress, _cancel) = (progress, cancel);
        var before = FineTuningEpochs;
        _callStart = before;
        _clock.Start();
        using var heap = _o.RetainNativeMemory ? NativeHeap.Retain() : null;
        if (_o.NumberOfThreads is { } threads) torch.set_num_threads(threads);
        // Dropout draws from libtorch's one generator: a run gets back its own state, whatever ran while it was paused.
        if (_randomState is null) torch.manual_seed(_o.Seed);
        else torch.set_rng_state(_randomState);
        try
        {
            while (_phaseIndex < _phases.Count)
            {
                var left = fineTuningEpochs is { } n ? n - (FineTuningEpochs - before) : int.MaxValue;
                if (left <= 0 && _phases[_phaseIndex].Name != FineTunePhase.HeadPhase) break;
                if (!ContinuePhase(left)) break;
            }
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested && _best is not null)
        {
            _cancelled = true;
            End();
        }
        finally
        {
            _clock.Stop();
            _randomState?.Dispose();
            _randomState = torch.get_rng_state().DetachFromDisposeScope();
            Release();
        }
        return FineTuningEpochs - before;
    }

    /// <summary>
    /// Plans the rest of the run over <paramref name="fineTuningEpochs"/> epochs of pretrained-layer training instead of the
    /// epochs it was planned over, so that a run the budget will stop early still ends its learning-rate schedule: the cosine
    /// is recomputed over the shorter length (the rate drops to where that schedule is at the current step; it never rises).
    /// Only for a run with one such phase (not chain-thaw); never lengthens it or cuts epochs it already trained.
    /// </summary>
    /// <returns>The epochs it is now planned over.</returns>
    public int Shorten(int fineTuningEpochs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var last = _phases.Count - 1;
        if (IsFinished || _phases.Count(p => p.Name != FineTunePhase.HeadPhase) != 1 || _phases[last].Name == FineTunePhase.HeadPhase)
            return FineTuningEpochs;
        var epochs = Math.Clamp(fineTuningEpochs, Math.Max(1, FineTuningEpochs), _phases[last].Epochs);
        _phases[last] = _phases[last] with { Epochs = epochs };
        _totalEpochs = _phases.Sum(p => p.Epochs);
        if (_phaseIndex == last && _active is { } a) a.TotalSteps = (long)a.Batches * epochs;
        return epochs;
    }

    /// <summary>Ends the run on the best epoch's weights (the module is left whole: every layer trainable, eval mode) and returns it.</summary>
    public FineTuneRun Finish()
    {
        if (!_finished) End();
        return Run;
    }

    private void End()
    {
        _active?.Dispose();
        _active = null;
        _phaseIndex = _phases.Count;
        Restore();
        foreach (var g in _module.ParameterGroups) g.Trainable = true;
        _module.eval();
        Release();
        _finished = true;
    }

    /// <summary>Lets go of what is rebuilt on the next <see cref="Advance"/> to the same values: decoded images, caches, the prefix engine.</summary>
    private void Release()
    {
        _active?.ReleaseResources();
        _prefix = null;
        _train?.Dispose();
        _validation?.Dispose();
        (_train, _validation) = (null, null);
    }

    public void Dispose()
    {
        _disposed = true;
        _active?.Dispose();
        _active = null;
        Release();
        if (_best is not null) foreach (var t in _best.Values) t.Dispose();
        _best = null;
        _randomState?.Dispose();
        _randomState = null;
        HeadStart?.Dispose();
        HeadStart = null;
    }

    /// <summary>The state of the phase in progress, kept across pauses.</summary>
    private sealed class ActivePhase(FineTunePhase phase, OnnxForwardSplit split, bool prefixFixed) : IDisposable
    {
        public FineTunePhase Phase { get; } = phase;
        public OnnxForwardSplit Split { get; } = split;
        public bool PrefixFixed { get; } = prefixFixed;
        public optim.Optimizer? Optimizer { get; set; }
        public List<(ParamGroup Group, double BaseRate)> Groups { get; set; } = [];
        public long Step;
        public long TotalSteps { get; set; }
        public int Batches { get; set; }
        public int EpochsDone { get; set; }
        public PhasePatience? Patience { get; set; }
        public FrozenPrefix? Prefix { get; set; }
        public BottleneckCache? TrainCache { get; set; }
        public BottleneckCache? ValidationCache { get; set; }
        public bool ResourcesReady { get; set; }

        public void ReleaseResources()
        {
            TrainCache?.Dispose();
            ValidationCache?.Dispose();
            Prefix?.Dispose();
            (TrainCache, ValidationCache, Prefix, ResourcesReady) = (null, null, null, false);
        }

        public void Dispose()
        {
            ReleaseResources();
            Optimizer?.Dispose();
            Optimizer = null;
        }
    }

    /// <summary>Trains the current phase on, at most <paramref name="left"/> counted epochs; true when the phase ended (so the
    /// next one may start), false when it paused.</summary>
    private bool ContinuePhase(int left)
    {
        var phase = _phases[_phaseIndex];
        var a = _active ??= BeginPhase(phase);
        if (phase.IsLinearProbe)
        {
            RunLinearProbe(phase, a.Split);
            EndPhase();
            if (KeepHeadStart && HeadStart is null) HeadStart = TakeHeadStart();
            return true;
        }
        try
        {
            return ContinueTraining(phase, a, left);
        }
        finally
        {
            if (KeepHeadStart && HeadStart is null && phase.Name == FineTunePhase.HeadPhase && _phaseIndex > 0) HeadStart = TakeHeadStart();
        }
    }

    private HeadStartSnapshot TakeHeadStart()
    {
        using var noGrad = torch.no_grad();
        return new HeadStartSnapshot
        {
            Key = HeadPhaseKey(),
            State = _module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal),
            Best = _best!.ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope(), StringComparer.Ordinal),
            BestLoss = _bestLoss,
            BestAccuracy = _bestAccuracy,
            BestEpoch = _bestEpoch,
            BestInt8Prefix = _bestInt8Prefix,
            ProbeCrossValidation = _probeCrossValidation,
            Epochs = _epochs.ToList(),
            RandomState = torch.get_rng_state().DetachFromDisposeScope(),
        };
    }

    private bool ContinueTraining(FineTunePhase phase, ActivePhase a, int left)
    {
        var counted = phase.Name != FineTunePhase.HeadPhase;
        var augment = _o.Augments && phase.Augment;
        var parallelism = _o.DecodeParallelism;
        var stop = false;
        while (a.EpochsDone < phase.Epochs && !stop)
        {
            if (counted && left <= 0) return false;
            _cancel.ThrowIfCancellationRequested();
            if (!a.ResourcesReady)
            {
                // Worth caching only when the prefix holds frozen layers (before the first one it is just input normalisation,
                // and the decoded images are already kept in memory).
                var cacheable = _o.UseBottleneckCache && a.PrefixFixed;
                a.Prefix = UsePrefix(a.Split, a.PrefixFixed);
                a.TrainCache = cacheable && !augment ? Given(a.Split, train: true) ?? BottleneckCache.Build(_module, a.Prefix, Train, _o.BatchSize, parallelism, MaxCacheBytes, _cancel) : null;
                a.ValidationCache = cacheable && HasValidation ? Given(a.Split, train: false) ?? BottleneckCache.Build(_module, a.Prefix, Validation, _o.BatchSize, parallelism, MaxCacheBytes, _cancel) : null;
                a.ResourcesReady = true;
            }
            var e = a.EpochsDone + 1;
            var epochNumber = _epochs.Count + 1;
            var started = _clock.Elapsed;
            var (loss, accuracy, imagesPerSecond, rate) = TrainEpoch(phase, epochNumber, a, augment);
            var validated = EndEpoch(phase, e, epochNumber, started, a.Split, a.ValidationCache, loss, accuracy, imagesPerSecond, rate, a.TrainCache is not null, a.Batches);
            a.EpochsDone = e;
            if (counted) left--;
            if (counted && Replan is { } replan && FineTuningEpochs - _callStart > 1)
            {
                Shorten(replan(FineTuningEpochs, _epochs.Where(x => x.Phase != FineTunePhase.HeadPhase).Min(x => x.Seconds)));
                phase = _phases[_phaseIndex];
            }
            if (StopsEarly && EarlyFor(phase) is { } early && (a.Patience ??= new PhasePatience(early)).Observe(validated.ValidationLoss, validated.ValidationAccuracy) && e < phase.Epochs)
            {
                _stoppedEarly = true;
                stop = true;
            }
        }
        EndPhase();
        return true;
    }

    private ActivePhase BeginPhase(FineTunePhase phase)
    {
        _phaseStarted = _clock.Elapsed;
        _epochsBeforePhase = _epochs.Count;
        // The first epoch where layers learn then becomes the best so far, whatever the head phase validated.
        if (!_o.KeepsHeadStartEpoch && phase.Name != FineTunePhase.HeadPhase && _epochs.All(e => e.Phase == FineTunePhase.HeadPhase))
            (_bestLoss, _bestAccuracy) = (double.PositiveInfinity, double.NegativeInfinity);
        foreach (var g in _module.ParameterGroups) g.Trainable = phase.TrainableGroups.Contains(g.Index);
        var split = _module.SplitBefore(phase.TrainableGroups.Min());
        var active = new ActivePhase(phase, split, split.FirstGroup > 0 && _module.IsPrefixFixed(split));
        if (!phase.IsLinearProbe)
        {
            (active.Optimizer, active.Groups) = CreateOptimizer(phase);
            active.Batches = (_trainPaths.Count + _o.BatchSize - 1) / _o.BatchSize;
            active.TotalSteps = (long)active.Batches * phase.Epochs;
        }
        return active;
    }

    /// <summary>The next phase starts from the best weights so far (chain-thaw), and the run ends on them.</summary>
    private void EndPhase()
    {
        _active?.Dispose();
        _active = null;
        _prefix = null;
        Restore();
        _phaseIndex++;
    }

    /// <summary>Validates, keeps the weights when they are the best so far, records and reports the epoch; returns it.</summary>
    private FineTuneEpoch EndEpoch(FineTunePhase phase, int phaseEpoch, int epochNumber, TimeSpan started, OnnxForwardSplit split, BottleneckCache? validationCache,
        double loss, double accuracy, double imagesPerSecond, double rate, bool cached, int batches)
    {
        var (valLoss, valAccuracy) = HasValidation ? Validate(split, validationCache) : (double.NaN, double.NaN);
        var best = IsImprovement(phase, valLoss, valAccuracy);
        if (best) Remember(epochNumber, valLoss, valAccuracy);
        var epoch = new FineTuneEpoch
        {
            Epoch = epochNumber,
            Phase = phase.Name,
            PhaseEpoch = phaseEpoch,
            TrainLoss = loss,
            TrainAccuracy = accuracy,
            ValidationLoss = valLoss,
            ValidationAccuracy = valAccuracy,
            LearningRate = rate,
            TrainableGroups = phase.TrainableGroups.Count,
            BottleneckCached = cached,
            FrozenPrefix = cached || _prefix is null || _prefix.Split.FirstGroup == 0 ? null : _prefix.Engine,
            ImagesPerSecond = imagesPerSecond,
            Seconds = (_clock.Elapsed - started).TotalSeconds,
            IsBest = best,
        };
        _epochs.Add(epoch);
        _o.MetricsCallback?.Invoke(epoch);
        _progress?.Report(new FineTuneProgress(phase.Name, epochNumber, _totalEpochs, batches, batches, loss, imagesPerSecond, Remaining(epochNumber, 1), epoch));
        return epoch;
    }

    /// <summary>The head as a linear probe (<see cref="FineTuneOptions.LinearProbe"/>): everything before it is frozen and sees
    /// plain images, so the embeddings are computed once and ML.NET's trainer fits the head on them; recorded as one epoch.</summary>
    private void RunLinearProbe(FineTunePhase phase, OnnxForwardSplit split)
    {
        var started = _clock.Elapsed;
        double Seconds() => Math.Max((_clock.Elapsed - started).TotalSeconds, 1e-9);
        // Progress while the frozen network embeds the images: the probe's only slow part.
        var epochNumber = _epochs.Count + 1;
        var total = Train.Count + Validation.Count;
        void Embedded(int offset, int images) => _progress?.Report(new FineTuneProgress(phase.Name, epochNumber, _totalEpochs, offset + images, total,
            double.NaN, (offset + images) / Seconds(), Remaining(epochNumber - 1, (offset + images) / (double)total)));
        // Always cached (embeddings are small next to images): the probe needs them all at once.
        using var prefix = UsePrefix(split, prefixFixed: true);
        using var trainCache = Given(split, train: true) ?? BottleneckCache.Build(_module, prefix, Train, _o.BatchSize, _o.DecodeParallelism, long.MaxValue, _cancel, n => Embedded(0, n))!;
        using var validationCache = HasValidation
            ? Given(split, train: false) ?? BottleneckCache.Build(_module, prefix, Validation, _o.BatchSize, _o.DecodeParallelism, MaxCacheBytes, _cancel, n => Embedded(Train.Count, n)) : null;
        _cancel.ThrowIfCancellationRequested();
        var head = _module.Head!;
        var all = Enumerable.Range(0, Train.Count).ToArray();
        var labels = Train.Labels.Select(l => (long)l).ToArray();
        double loss, accuracy;
        using (var scope = torch.NewDisposeScope())
        {
            var crossing = trainCache.Take(all);
            var flat = crossing[_module.EmbeddingTensor!].flatten(1).cpu().contiguous();
            var width = (int)flat.shape[1];
            var values = flat.data<float>().ToArray();
            var embeddings = all.Select(i => values.AsSpan(i * width, width).ToArray()).ToList();
            var probe = LinearProbe.Fit(embeddings, Train.Labels, (int)head.weight!.shape[0], _o.LinearProbe!, _o.Seed);
            var (weights, bias) = (probe.Weights, probe.Bias);
            _probeCrossValidation = probe.CrossValidation;
            using (torch.no_grad())
            {
                head.weight!.copy_(torch.tensor(weights.SelectMany(w => w).ToArray(), [weights.Length, width]));
                head.bias!.copy_(torch.tensor(bias));
            }
            // What the probe scores on its own training embeddings (no dropout), as the training epochs would report it.
            _module.eval();
            using var noGrad = torch.no_grad();
            var logits = _module.ForwardSuffix(crossing, split);
            var y = torch.tensor(labels).to(_module.Device);
            loss = F.cross_entropy(logits, y, ClassWeights(), label_smoothing: _o.LabelSmoothing).item<float>();
            accuracy = logits.argmax(1).eq(y).sum().item<long>() / (double)labels.Length;
        }
        var imagesPerSecond = Train.Count / Seconds();
        EndEpoch(phase, 1, epochNumber, started, split, validationCache, loss, accuracy, imagesPerSecond, 0, cached: true, batches: total);
    }

    private (double Loss, double Accuracy, double ImagesPerSecond, double Rate) TrainEpoch(FineTunePhase phase, int epochNumber, ActivePhase a, bool augment)
    {
        var (split, cache, optimizer, groups, batches, totalSteps) = (a.Split, a.TrainCache, a.Optimizer!, a.Groups, a.Batches, a.TotalSteps);
        _module.train();
        var order = Enumerable.Range(0, Train.Count).ToArray();
        new Random(ImageBatchStream.SampleSeed(_o.Seed, epochNumber, -1)).Shuffle(order);
        using var stream = cache is null
            ? new ImageBatchStream(Train, order, _o.BatchSize, augment ? _o.Augmentation : null, _o.Seed, epochNumber, _o.DecodeParallelism, _cancel)
            : null;
        IEnumerable<int[]> Chunks() { for (int s = 0; s < order.Length; s += _o.BatchSize) yield return order[s..Math.Min(order.Length, s + _o.BatchSize)]; }
        IEnumerable<(int[] Indices, float[]? Pixels, long[] Labels)> source = stream is not null
            ? stream.Batches().Select(b => (b.Indices, (float[]?)b.Pixels, b.Labels))
            : Chunks().Select(ix => (ix, (float[]?)null, ix.Select(i => (long)Train.Labels[i]).ToArray()));

        double lossSum = 0, rate = 0;
        long correct = 0, seen = 0;
        int batch = 0;
        var clock = Stopwatch.StartNew();
        foreach (var (indices, pixels, labels) in source)
        {
            _cancel.ThrowIfCancellationRequested();
            var factor = LearningRateSchedules.Factor(_o.Schedule, a.Step, totalSteps, _o.WarmupFraction);
            rate = 0;
            foreach (var (group, baseRate) in groups)
            {
                group.LearningRate = baseRate * factor;
                rate = Math.Max(rate, group.LearningRate);
            }
            using (var scope = torch.NewDisposeScope())
            {
                var y = torch.tensor(labels).to(_module.Device);
                var logits = pixels is not null
                    ? Logits(pixels, labels.Length)
                    : _module.ForwardSuffix(cache!.Take(indices), split);
                var loss = F.cross_entropy(logits, y, ClassWeights(), label_smoothing: _o.LabelSmoothing);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>() * labels.Length;
                correct += logits.detach().argmax(1).eq(y).sum().item<long>();
            }
            seen += labels.Length;
            a.Step++;
            batch++;
            _progress?.Report(new FineTuneProgress(phase.Name, epochNumber, _totalEpochs, batch, batches, lossSum / seen,
                seen / clock.Elapsed.TotalSeconds, Remaining(epochNumber - 1, batch / (double)batches)));
        }
        return (lossSum / seen, correct / (double)seen, seen / clock.Elapsed.TotalSeconds, rate);
    }

    /// <summary>The embeddings <see cref="FineTuneOptions.HeadInputs"/> gives, as the cache of a split in front of the head alone;
    /// null when none were given, the split is elsewhere, or they do not fit this run's images or head.</summary>
    private BottleneckCache? Given(OnnxForwardSplit split, bool train)
    {
        if (_o.HeadInputs is not { } given || split.Tensors.Count != 1 || split.Tensors[0] != _module.EmbeddingTensor || _module.Head is not { } head) return null;
        var (rows, count) = train ? (given.Train, _trainPaths.Count) : (given.Validation, _validationPaths.Count);
        return rows.Count == count && rows.All(r => r.Length == head.weight!.shape[1]) ? BottleneckCache.FromRows(split, split.Tensors[0], rows) : null;
    }

    /// <summary>The phase's frozen prefix runner (kept for <see cref="Logits"/> until the phase ends and disposes it).</summary>
    private FrozenPrefix UsePrefix(OnnxForwardSplit split, bool prefixFixed)
    {
        // The prefix still holds pretrained weights (so the int8 graph computes it) unless an earlier phase trained one of its layers.
        var pretrained = !_phases.Take(_phaseIndex).Any(p => p.TrainableGroups.Any(g => g < split.FirstGroup));
        _prefix = FrozenPrefix.Create(_module, split, prefixFixed ? _o.FrozenPrefixEngine : FrozenPrefixEngine.TorchSharp, _o.NumberOfThreads, pretrained);
        _int8Fallback ??= _prefix.Int8Fallback;
        return _prefix;
    }

    /// <summary>The network on a batch of pixels: the frozen prefix on its engine, the rest in the module.</summary>
    private Tensor Logits(float[] pixels, int count)
    {
        if (_prefix is { Engine: not FrozenPrefixEngine.TorchSharp } prefix)
            return _module.ForwardSuffix(prefix.Run(pixels, count, _reader.Height, _reader.Width), prefix.Split);
        return _module.forward(torch.tensor(pixels, [count, 3, _reader.Height, _reader.Width]));
    }

    private (double Loss, double Accuracy) Validate(OnnxForwardSplit split, BottleneckCache? cache)
    {
        _module.eval();
        double lossSum = 0;
        long correct = 0;
        using var noGrad = torch.no_grad();
        void Score(Tensor logits, long[] labels)
        {
            var y = torch.tensor(labels).to(_module.Device);
            lossSum += F.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(y).sum().item<long>();
        }
        var order = Enumerable.Range(0, Validation.Count).ToArray();
        if (cache is not null)
        {
            for (int s = 0; s < order.Length; s += _o.BatchSize)
            {
                using var scope = torch.NewDisposeScope();
                var indices = order[s..Math.Min(order.Length, s + _o.BatchSize)];
                Score(_module.ForwardSuffix(cache.Take(indices), split), indices.Select(i => (long)Validation.Labels[i]).ToArray());
            }
        }
        else
        {
            using var stream = new ImageBatchStream(Validation, order, _o.BatchSize, null, 0, 0, _o.DecodeParallelism, _cancel);
            foreach (var b in stream.Batches())
            {
                using var scope = torch.NewDisposeScope();
                Score(Logits(b.Pixels, b.Count), b.Labels);
            }
        }
        return (lossSum / Validation.Count, correct / (double)Validation.Count);
    }

    private bool IsImprovement(FineTunePhase phase, double loss, double accuracy)
    {
        if (EarlyFor(phase) is not { } early) return true; // nothing to compare on: the latest epoch is the one kept
        return PhasePatience.Improves(early, loss, accuracy, _bestLoss, _bestAccuracy);
    }

    /// <summary>Keeps a copy of every parameter and buffer (batch-norm statistics included) of the best epoch.</summary>
    private void Remember(int epoch, double loss, double accuracy)
    {
        _bestEpoch = epoch;
        _bestInt8Prefix = _prefix?.Int8Model is { } int8 ? (int8, _prefix.Split) : null;
        _bestLoss = loss;
        _bestAccuracy = accuracy;
        using var noGrad = torch.no_grad();
        if (_best is null)
        {
            _best = _module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal);
            return;
        }
        foreach (var (name, value) in _module.state_dict()) _best[name].copy_(value);
    }

    private void Restore()
    {
        if (_best is null) return;
        using var noGrad = torch.no_grad();
        foreach (var (name, value) in _module.state_dict()) value.copy_(_best[name]);
    }

    /// <summary>Discriminative rates (head: the phase's head rate; pretrained: LearningRate × factor), decay on weights only.</summary>
    private (optim.Optimizer Optimizer, List<(ParamGroup Group, double BaseRate)> Groups) CreateOptimizer(FineTunePhase phase)
    {
        var decay = _o.EffectiveWeightDecay;
        var sets = new List<(List<Parameter> Parameters, double Rate, double Decay, bool IsHead)>();
        foreach (var isHead in new[] { true, false })
        {
            var parameters = _module.ParameterGroups.Where(g => g.IsHead == isHead && phase.TrainableGroups.Contains(g.Index)).SelectMany(g => g.Parameters).ToList();
            var rate = isHead ? phase.HeadLearningRate : _o.LearningRate * _o.PretrainedLearningRateFactor;
            var weights = parameters.Where(p => p.dim() > 1).ToList();
            var others = parameters.Where(p => p.dim() <= 1).ToList();
            if (weights.Count > 0) sets.Add((weights, rate, decay, isHead));
            if (others.Count > 0) sets.Add((others, rate, 0, isHead));
        }
        var groups = new List<(ParamGroup, double)>();
        optim.Optimizer optimizer;
        if (_o.Optimizer == FineTuneOptimizer.AdamW)
        {
            var paramGroups = sets.Select(s => new AdamW.ParamGroup(s.Parameters, lr: s.Rate, weight_decay: s.Decay)).ToList();
            optimizer = torch.optim.AdamW(paramGroups, phase.HeadLearningRate);
            groups.AddRange(paramGroups.Zip(sets, (g, s) => ((ParamGroup)g, s.Rate)));
        }
        else
        {
            var paramGroups = sets.Select(s => new SGD.ParamGroup(s.Parameters, lr: s.Rate, momentum: _o.Momentum, weight_decay: s.Decay)).ToList();
            optimizer = torch.optim.SGD(paramGroups, phase.HeadLearningRate, momentum: _o.Momentum);
            groups.AddRange(paramGroups.Zip(sets, (g, s) => ((ParamGroup)g, s.Rate)));
        }
        return (optimizer, groups);
    }

    /// <summary>Time left for the planned epochs, from the average epoch so far (or the current epoch's pace).</summary>
    private TimeSpan Remaining(int epochsDone, double fractionOfNext)
    {
        var done = epochsDone + fractionOfNext;
        if (done <= 0) return TimeSpan.Zero;
        // The current phase's pace: epochs of the cached head phase cost a fraction of the fine-tuning ones after it.
        var inPhase = done - _epochsBeforePhase;
        var perEpoch = inPhase > 0 ? (_clock.Elapsed - _phaseStarted).TotalSeconds / inPhase : _clock.Elapsed.TotalSeconds / done;
        return TimeSpan.FromSeconds(Math.Max(0, (_totalEpochs - done) * perEpoch));
    }
}

/// <summary>A run's state at the end of its head-only phase (<see cref="FineTuneSession.StartFrom"/>).</summary>
internal sealed class HeadStartSnapshot : IDisposable
{
    public required string Key { get; init; }
    public required Dictionary<string, Tensor> State { get; init; }
    public required Dictionary<string, Tensor> Best { get; init; }
    public double BestLoss { get; init; }
    public double BestAccuracy { get; init; }
    public int BestEpoch { get; init; }
    public (Backbones.Onnx.Proto.ModelProto Model, OnnxForwardSplit Split)? BestInt8Prefix { get; init; }
    public Reporting.HeadCrossValidationReport? ProbeCrossValidation { get; init; }
    public required IReadOnlyList<FineTuneEpoch> Epochs { get; init; }
    public required Tensor RandomState { get; init; }

    public void Dispose()
    {
        foreach (var t in State.Values.Concat(Best.Values)) t.Dispose();
        RandomState.Dispose();
    }
}
