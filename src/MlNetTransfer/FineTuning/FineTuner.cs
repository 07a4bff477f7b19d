using System.Diagnostics;
using MlNetTransfer.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The training loop: trains an <see cref="OnnxTorchModule"/> with a new head on labelled image files, phase by phase
/// (<see cref="FineTunePhase.Plan"/>), in place. Images are decoded and augmented on a producer task while the previous
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
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(reader);
        if (train.Count == 0) throw new MlNetTransferException("Fine-tuning: there are no training images.");
        var classCount = module.Head?.weight?.shape[0] ?? throw new MlNetTransferException("Fine-tuning needs a module with a new head.");
        if (classCount != classes.Count) throw new MlNetTransferException($"Fine-tuning: the head has {classCount} outputs but there are {classes.Count} classes.");

        var run = new Run(_options, module, reader, classes, train, validation, progress, cancel);
        return run.Execute();
    }

    /// <summary>One training run's state.</summary>
    private sealed class Run
    {
        private readonly FineTuneOptions _o;
        private readonly OnnxTorchModule _module;
        private readonly ImagePixelReader _reader;
        private readonly ImageSet _train;
        private readonly ImageSet _validation;
        private readonly IProgress<FineTuneProgress>? _progress;
        private readonly CancellationToken _cancel;
        private readonly IReadOnlyList<FineTunePhase> _phases;
        private readonly int _totalEpochs;
        private readonly List<FineTuneEpoch> _epochs = [];
        private readonly Stopwatch _clock = new();
        private Dictionary<string, Tensor>? _best;
        private double _bestLoss = double.PositiveInfinity, _bestAccuracy = double.NegativeInfinity;
        private int _bestEpoch;
        private TimeSpan _phaseStarted;
        private int _epochsBeforePhase;
        private FrozenPrefix? _prefix;
        /// <summary>Groups a phase has trained so far: a prefix holding one no longer has the pretrained (int8) weights.</summary>
        private readonly HashSet<int> _trained = [];
        private (Backbones.Onnx.Proto.ModelProto Model, OnnxForwardSplit Split)? _bestInt8Prefix;
        private string? _int8Fallback;

        public Run(FineTuneOptions options, OnnxTorchModule module, ImagePixelReader reader, IReadOnlyList<string> classes,
            IReadOnlyList<ImageExample> train, IReadOnlyList<ImageExample> validation, IProgress<FineTuneProgress>? progress, CancellationToken cancel)
        {
            _o = options;
            _module = module;
            _reader = reader;
            _progress = progress;
            _cancel = cancel;
            var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
            int Label(ImageExample e) => index.TryGetValue(e.Label, out var i) ? i
                : throw new MlNetTransferException($"{e.Path}: label '{e.Label}' is not one of the {classes.Count} classes ({string.Join(", ", classes.Take(10))}).");
            var maxBytes = (long)options.BottleneckCacheMaxMegabytes << 20;
            // Augmented training images differ every epoch; only plain ones are worth keeping decoded.
            _train = new ImageSet(train.Select(e => e.Path).ToList(), train.Select(Label).ToList(), reader, options.Augments ? 0 : maxBytes,
                options.Augments ? (long)options.DecodedImageCacheMegabytes << 20 : 0);
            _validation = new ImageSet(validation.Select(e => e.Path).ToList(), validation.Select(Label).ToList(), reader, maxBytes);
            _phases = FineTunePhase.Plan(module, options);
            _totalEpochs = _phases.Sum(p => p.Epochs);
        }

        private bool HasValidation => _validation.Count > 0;
        private EarlyStopping? Early => HasValidation ? _o.EarlyStoppingCriteria : null;
        private long MaxCacheBytes => (long)_o.BottleneckCacheMaxMegabytes << 20;

        public FineTuneRun Execute()
        {
            _clock.Start();
            using var heap = _o.RetainNativeMemory ? NativeHeap.Retain() : null;
            if (_o.NumberOfThreads is { } threads) torch.set_num_threads(threads);
            torch.manual_seed(_o.Seed);
            var stoppedEarly = false;
            var cancelled = false;
            try
            {
                foreach (var phase in _phases)
                {
                    stoppedEarly |= RunPhase(phase);
                    // The next phase starts from the best weights so far (chain-thaw), and the run ends on them.
                    Restore();
                }
            }
            catch (OperationCanceledException) when (_cancel.IsCancellationRequested && _best is not null)
            {
                cancelled = true;
                Restore();
            }
            finally
            {
                foreach (var g in _module.ParameterGroups) g.Trainable = true;
                _module.eval();
                _train.Dispose();
                _validation.Dispose();
                if (_best is not null) foreach (var t in _best.Values) t.Dispose();
            }
            return new FineTuneRun
            {
                Epochs = _epochs,
                Phases = _phases,
                BestEpoch = _bestEpoch,
                StoppedEarly = stoppedEarly,
                Cancelled = cancelled,
                PretrainedGroups = _module.ParameterGroups.Count(g => !g.IsHead),
                Seconds = _clock.Elapsed.TotalSeconds,
                Int8Prefix = _best is null ? null : _bestInt8Prefix,
                Int8PrefixFallback = _int8Fallback,
            };
        }

        /// <summary>Trains one phase; true when early stopping ended it before its last epoch.</summary>
        private bool RunPhase(FineTunePhase phase)
        {
            StartPhase();
            foreach (var g in _module.ParameterGroups) g.Trainable = phase.TrainableGroups.Contains(g.Index);
            var split = _module.SplitBefore(phase.TrainableGroups.Min());
            if (phase.IsLinearProbe)
            {
                RunLinearProbe(phase, split);
                return false;
            }
            // Worth caching only when the prefix holds frozen layers (before the first one it is just input normalisation,
            // and the decoded images are already kept in memory).
            var prefixFixed = split.FirstGroup > 0 && _module.IsPrefixFixed(split);
            using var prefix = UsePrefix(split, prefixFixed, phase.TrainableGroups);
            var cacheable = _o.UseBottleneckCache && prefixFixed;
            var parallelism = _o.DecodeParallelism;
            var augment = _o.Augments && phase.Augment;
            using var trainCache = cacheable && !augment
                ? BottleneckCache.Build(_module, prefix, _train, _o.BatchSize, parallelism, MaxCacheBytes, _cancel) : null;
            using var validationCache = cacheable && HasValidation
                ? BottleneckCache.Build(_module, prefix, _validation, _o.BatchSize, parallelism, MaxCacheBytes, _cancel) : null;

            var (optimizer, groups) = CreateOptimizer(phase);
            using var _ = optimizer;
            var batches = (_train.Count + _o.BatchSize - 1) / _o.BatchSize;
            long totalSteps = (long)batches * phase.Epochs, step = 0;
            int sinceBest = 0;
            for (int e = 1; e <= phase.Epochs; e++)
            {
                _cancel.ThrowIfCancellationRequested();
                var epochNumber = _epochs.Count + 1;
                var started = _clock.Elapsed;
                var (loss, accuracy, imagesPerSecond, rate) = TrainEpoch(phase, epochNumber, split, trainCache, augment, optimizer, groups, batches, ref step, totalSteps);
                var best = EndEpoch(phase, e, epochNumber, started, split, validationCache, loss, accuracy, imagesPerSecond, rate, trainCache is not null, batches);
                sinceBest = best ? 0 : sinceBest + 1;
                if (Early is { } early && Math.Min(sinceBest, e - early.StartFromEpoch) >= early.Patience && e < phase.Epochs) return true;
            }
            return false;
        }

        /// <summary>Validates, keeps the weights when they are the best so far, records and reports the epoch; true when best.</summary>
        private bool EndEpoch(FineTunePhase phase, int phaseEpoch, int epochNumber, TimeSpan started, OnnxForwardSplit split, BottleneckCache? validationCache,
            double loss, double accuracy, double imagesPerSecond, double rate, bool cached, int batches)
        {
            var (valLoss, valAccuracy) = HasValidation ? Validate(split, validationCache) : (double.NaN, double.NaN);
            var best = IsImprovement(valLoss, valAccuracy);
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
            return best;
        }

        /// <summary>The head as a linear probe (<see cref="FineTuneOptions.LinearProbe"/>): everything before it is frozen and sees
        /// plain images, so the embeddings are computed once and ML.NET's trainer fits the head on them; recorded as one epoch.</summary>
        private void RunLinearProbe(FineTunePhase phase, OnnxForwardSplit split)
        {
            var started = _clock.Elapsed;
            double Seconds() => Math.Max((_clock.Elapsed - started).TotalSeconds, 1e-9);
            // Progress while the frozen network embeds the images: the probe's only slow part.
            var epochNumber = _epochs.Count + 1;
            var total = _train.Count + _validation.Count;
            void Embedded(int offset, int images) => _progress?.Report(new FineTuneProgress(phase.Name, epochNumber, _totalEpochs, offset + images, total,
                double.NaN, (offset + images) / Seconds(), Remaining(epochNumber - 1, (offset + images) / (double)total)));
            // Always cached (embeddings are small next to images): the probe needs them all at once.
            using var prefix = UsePrefix(split, prefixFixed: true, phase.TrainableGroups);
            using var trainCache = BottleneckCache.Build(_module, prefix, _train, _o.BatchSize, _o.DecodeParallelism, long.MaxValue, _cancel, n => Embedded(0, n))!;
            using var validationCache = HasValidation
                ? BottleneckCache.Build(_module, prefix, _validation, _o.BatchSize, _o.DecodeParallelism, MaxCacheBytes, _cancel, n => Embedded(_train.Count, n)) : null;
            _cancel.ThrowIfCancellationRequested();
            var head = _module.Head!;
            var all = Enumerable.Range(0, _train.Count).ToArray();
            var labels = _train.Labels.Select(l => (long)l).ToArray();
            double loss, accuracy;
            using (var scope = torch.NewDisposeScope())
            {
                var crossing = trainCache.Take(all);
                var flat = crossing[_module.EmbeddingTensor!].flatten(1).cpu().contiguous();
                var width = (int)flat.shape[1];
                var values = flat.data<float>().ToArray();
                var embeddings = all.Select(i => values.AsSpan(i * width, width).ToArray()).ToList();
                var (weights, bias, _) = LinearProbe.Fit(embeddings, _train.Labels, (int)head.weight!.shape[0], _o.LinearProbe!, _o.Seed);
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
                loss = F.cross_entropy(logits, y, label_smoothing: _o.LabelSmoothing).item<float>();
                accuracy = logits.argmax(1).eq(y).sum().item<long>() / (double)labels.Length;
            }
            var imagesPerSecond = _train.Count / Seconds();
            EndEpoch(phase, 1, epochNumber, started, split, validationCache, loss, accuracy, imagesPerSecond, 0, cached: true, batches: total);
        }

        private (double Loss, double Accuracy, double ImagesPerSecond, double Rate) TrainEpoch(FineTunePhase phase, int epochNumber, OnnxForwardSplit split,
            BottleneckCache? cache, bool augment, optim.Optimizer optimizer, List<(ParamGroup Group, double BaseRate)> groups, int batches, ref long step, long totalSteps)
        {
            _module.train();
            var order = Enumerable.Range(0, _train.Count).ToArray();
            new Random(ImageBatchStream.SampleSeed(_o.Seed, epochNumber, -1)).Shuffle(order);
            using var stream = cache is null
                ? new ImageBatchStream(_train, order, _o.BatchSize, augment ? _o.Augmentation : null, _o.Seed, epochNumber, _o.DecodeParallelism, _cancel)
                : null;
            IEnumerable<int[]> Chunks() { for (int s = 0; s < order.Length; s += _o.BatchSize) yield return order[s..Math.Min(order.Length, s + _o.BatchSize)]; }
            IEnumerable<(int[] Indices, float[]? Pixels, long[] Labels)> source = stream is not null
                ? stream.Batches().Select(b => (b.Indices, (float[]?)b.Pixels, b.Labels))
                : Chunks().Select(ix => (ix, (float[]?)null, ix.Select(i => (long)_train.Labels[i]).ToArray()));

            double lossSum = 0, rate = 0;
            long correct = 0, seen = 0;
            int batch = 0;
            var clock = Stopwatch.StartNew();
            foreach (var (indices, pixels, labels) in source)
            {
                _cancel.ThrowIfCancellationRequested();
                var factor = LearningRateSchedules.Factor(_o.Schedule, step, totalSteps, _o.WarmupFraction);
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
                    var loss = F.cross_entropy(logits, y, label_smoothing: _o.LabelSmoothing);
                    optimizer.zero_grad();
                    loss.backward();
                    optimizer.step();
                    lossSum += loss.item<float>() * labels.Length;
                    correct += logits.detach().argmax(1).eq(y).sum().item<long>();
                }
                seen += labels.Length;
                step++;
                batch++;
                _progress?.Report(new FineTuneProgress(phase.Name, epochNumber, _totalEpochs, batch, batches, lossSum / seen,
                    seen / clock.Elapsed.TotalSeconds, Remaining(epochNumber - 1, batch / (double)batches)));
            }
            return (lossSum / seen, correct / (double)seen, seen / clock.Elapsed.TotalSeconds, rate);
        }

        /// <summary>The phase's frozen prefix runner (kept for <see cref="Logits"/> until the phase ends and disposes it).</summary>
        private FrozenPrefix UsePrefix(OnnxForwardSplit split, bool prefixFixed, IEnumerable<int> phaseGroups)
        {
            var pretrained = !_trained.Any(g => g < split.FirstGroup);
            _trained.UnionWith(phaseGroups);
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
            var order = Enumerable.Range(0, _validation.Count).ToArray();
            if (cache is not null)
            {
                for (int s = 0; s < order.Length; s += _o.BatchSize)
                {
                    using var scope = torch.NewDisposeScope();
                    var indices = order[s..Math.Min(order.Length, s + _o.BatchSize)];
                    Score(_module.ForwardSuffix(cache.Take(indices), split), indices.Select(i => (long)_validation.Labels[i]).ToArray());
                }
            }
            else
            {
                using var stream = new ImageBatchStream(_validation, order, _o.BatchSize, null, 0, 0, _o.DecodeParallelism, _cancel);
                foreach (var b in stream.Batches())
                {
                    using var scope = torch.NewDisposeScope();
                    Score(Logits(b.Pixels, b.Count), b.Labels);
                }
            }
            return (lossSum / _validation.Count, correct / (double)_validation.Count);
        }

        private bool IsImprovement(double loss, double accuracy)
        {
            if (Early is not { } early) return true; // nothing to compare on: the latest epoch is the one kept
            return early.Metric == EarlyStoppingMetric.Loss
                ? loss < _bestLoss - early.MinDelta
                : accuracy > _bestAccuracy + early.MinDelta || (accuracy == _bestAccuracy && loss < _bestLoss);
        }

        /// <summary>Keeps a copy of every parameter and buffer (batch-norm statistics included) of the best epoch.</summary>
        private void Remember(int epoch, double loss, double accuracy)
        {
            _bestEpoch = epoch;
            // The model is saved with the prefix these weights trained behind.
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

        private void StartPhase()
        {
            _phaseStarted = _clock.Elapsed;
            _epochsBeforePhase = _epochs.Count;
        }
    }
}
