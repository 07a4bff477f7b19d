using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The training loop on a generated CNN and generated images: learning, freezing, early stopping, chain-thaw,
/// bottleneck cache, seeds and cancellation.</summary>
[Collection(ExactTrainingCollection.Name)]
public sealed class FineTunerTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private FineTuneRun Train(OnnxTorchModule module, FineTuneOptions options, CancellationToken cancel = default) =>
        new FineTuner(options).Train(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation, cancel: cancel);

    private static OnnxTorchModule Module(FineTuneOptions options) => FineTuningTrainer.CreateModule(FineTuneFixture.Prepared(), 3, options);

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    [Fact]
    public void ValidationAccuracyImprovesOverEpochs()
    {
        var options = FineTuneFixture.Options(epochs: 6);
        using var module = Module(options);
        var run = Train(module, options);
        Assert.Equal(6, run.Epochs.Count);
        var first = run.Epochs[0];
        var last = run.Epochs[^1];
        Assert.True(last.ValidationAccuracy > first.ValidationAccuracy, $"val accuracy {first.ValidationAccuracy} → {last.ValidationAccuracy}");
        Assert.True(last.ValidationAccuracy >= 0.8, $"val accuracy {last.ValidationAccuracy}");
        Assert.True(last.TrainLoss < first.TrainLoss, $"train loss {first.TrainLoss} → {last.TrainLoss}");
        Assert.All(run.Epochs, e => Assert.True(e.Seconds > 0 && e.ImagesPerSecond > 0 && double.IsFinite(e.ValidationLoss)));
    }

    [Fact]
    public void FrozenLayersAndTheirBatchNormStatisticsDoNotChange()
    {
        var options = FineTuneFixture.Options(epochs: 2);
        options.Augmentation.Enabled = true; // so the frozen prefix runs inside every training step (no bottleneck cache)
        options.FreezeFraction = 0.5;        // 6 layers: block1 conv/bn, block2 conv/bn frozen... the first 3 groups
        using var module = Module(options);
        var before = FineTuneFixture.Snapshot(module);
        var run = Train(module, options);
        Assert.All(run.Epochs, e => Assert.False(e.BottleneckCached));
        var after = FineTuneFixture.Snapshot(module);

        var groups = module.ParameterGroups;
        var frozen = groups.Where(g => !run.Phases[0].TrainableGroups.Contains(g.Index)).ToList();
        var trainable = groups.Where(g => run.Phases[0].TrainableGroups.Contains(g.Index)).ToList();
        Assert.Equal(3, frozen.Count);
        Assert.Equal(["block1/conv", "block1/bn", "block2/conv"], frozen.Select(g => g.NodeName));
        string Slot(string onnxName) => before.Keys.Single(k => k.Replace('.', '_') == onnxName.Replace('/', '_').Replace('.', '_'));
        foreach (var g in frozen)
            foreach (var t in g.TensorNames)
                Assert.Equal(before[Slot(t)], after[Slot(t)]);
        foreach (var g in trainable.Where(g => !g.IsHead))
            Assert.Contains(g.TensorNames, t => MaxDifference(before[Slot(t)], after[Slot(t)]) > 0);
        Assert.NotEqual(before["head.weight"], after["head.weight"]);

        // Running statistics: block1/bn is frozen (kept), block3/bn trains (updated from the batches).
        Assert.Equal(before[Slot("block1/bn/mean")], after[Slot("block1/bn/mean")]);
        Assert.Equal(before[Slot("block1/bn/var")], after[Slot("block1/bn/var")]);
        Assert.True(MaxDifference(before[Slot("block3/bn/mean")], after[Slot("block3/bn/mean")]) > 0);
    }

    [Fact]
    public void EarlyStoppingEndsTheRunAndRestoresTheBestEpoch()
    {
        var options = FineTuneFixture.Options(epochs: 12);
        options.FreezeFraction = 0;
        options.LearningRate = 0.3f;               // far too high: validation loss soon climbs
        options.PretrainedLearningRateFactor = 1;
        options.Schedule = LearningRateSchedule.Constant;
        options.EarlyStoppingCriteria = new EarlyStopping { Patience = 2, StartFromEpoch = 0, Metric = EarlyStoppingMetric.Loss };
        using var module = Module(options);
        var run = Train(module, options);

        Assert.True(run.StoppedEarly);
        Assert.True(run.Epochs.Count < 12);
        Assert.True(run.BestEpoch < run.Epochs.Count, $"best epoch {run.BestEpoch} of {run.Epochs.Count}");
        Assert.Equal(run.Epochs.Count, run.BestEpoch + options.EarlyStoppingCriteria.Patience);
        var best = run.Best!;
        Assert.Equal(run.Epochs.Min(e => e.ValidationLoss), best.ValidationLoss);
        // The module holds the best epoch's weights: evaluating it again gives that epoch's validation loss.
        var (loss, accuracy) = data.Evaluate(module);
        Assert.Equal(best.ValidationLoss, loss, 4);
        Assert.Equal(best.ValidationAccuracy, accuracy, 4);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void EpochsBeforeStartFromEpochDoNotCountTowardPatience(int startFrom)
    {
        var options = FineTuneFixture.Options(epochs: 12);
        options.FreezeFraction = 0;
        options.LearningRate = 0.3f;               // far too high: validation loss soon climbs
        options.PretrainedLearningRateFactor = 1;
        options.Schedule = LearningRateSchedule.Constant;
        options.EarlyStoppingCriteria = new EarlyStopping { Patience = 2, StartFromEpoch = startFrom, Metric = EarlyStoppingMetric.Loss };
        using var module = Module(options);
        var run = Train(module, options);

        Assert.True(run.StoppedEarly);
        // Patience counts only epochs after the first startFrom ones: the run ends patience epochs after the later of
        // its best epoch and epoch startFrom.
        Assert.Equal(Math.Max(run.BestEpoch, startFrom) + 2, run.Epochs.Count);
        Assert.Equal(run.Epochs.Min(e => e.ValidationLoss), run.Best!.ValidationLoss);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithoutTheHeadStartEpochTheRunKeepsItsBestEpochWhereLayersLearned(bool keepsHeadStart)
    {
        var options = FineTuneFixture.Options(epochs: 3);
        options.HeadWarmupEpochs = 3;
        options.FreezeFraction = 0;
        options.LearningRate = 0.3f;               // far too high for the layers: every fine-tuning epoch validates worse than the head
        options.PretrainedLearningRateFactor = 1;
        options.Schedule = LearningRateSchedule.Constant;
        options.EarlyStoppingCriteria = new EarlyStopping { Patience = 5, StartFromEpoch = 0, Metric = EarlyStoppingMetric.Loss };
        options.KeepsHeadStartEpoch = keepsHeadStart;
        using var module = Module(options);
        var run = Train(module, options);

        var head = run.Epochs.Where(e => e.Phase == FineTunePhase.HeadPhase).ToList();
        var tuned = run.Epochs.Where(e => e.Phase != FineTunePhase.HeadPhase).ToList();
        Assert.Equal(3, head.Count);
        Assert.Equal(3, tuned.Count);
        // The setting only matters when the head validated better than every epoch after it: check this run is such a case.
        Assert.True(head.Min(e => e.ValidationLoss) < tuned.Min(e => e.ValidationLoss), "the fine-tuning epochs should validate worse than the head");
        var kept = keepsHeadStart ? head : tuned;
        Assert.Equal(kept.MinBy(e => e.ValidationLoss)!.Epoch, run.BestEpoch);
        // The module holds the kept epoch's weights.
        var (loss, _) = data.Evaluate(module);
        Assert.Equal(run.Best!.ValidationLoss, loss, 4);
    }

    [Fact]
    public void OnAccuracyTheRunKeepsItsMostAccurateEpochButTheHeadWarmupHandsOnItsLowestLoss()
    {
        var options = FineTuneFixture.Options(epochs: 5);
        options.HeadWarmupEpochs = 8;
        options.HeadWarmupLearningRate = 0.3f;     // high: the head's validation accuracy and loss do not move together
        options.EarlyStoppingCriteria = new EarlyStopping { Patience = 20, StartFromEpoch = 0, Metric = EarlyStoppingMetric.Accuracy };
        using var module = Module(options);
        var run = Train(module, options);

        var head = run.Epochs.Where(e => e.Phase == FineTunePhase.HeadPhase).ToList();
        var tuned = run.Epochs.Where(e => e.Phase != FineTunePhase.HeadPhase).ToList();
        Assert.Equal((8, 5), (head.Count, tuned.Count));
        static bool[] Marks(IReadOnlyList<FineTuneEpoch> epochs, EarlyStoppingMetric metric)
        {
            var rule = new EarlyStopping { Metric = metric };
            var (loss, accuracy) = (double.PositiveInfinity, double.NegativeInfinity);
            return epochs.Select(e =>
            {
                var better = PhasePatience.Improves(rule, e.ValidationLoss, e.ValidationAccuracy, loss, accuracy);
                if (better) (loss, accuracy) = (e.ValidationLoss, e.ValidationAccuracy);
                return better;
            }).ToArray();
        }
        // The setting only matters where the two rules part: check this warm-up is such a case.
        Assert.NotEqual(Marks(head, EarlyStoppingMetric.Loss), Marks(head, EarlyStoppingMetric.Accuracy));
        // The warm-up's best epochs are its successive lowest losses; the layers' epochs, compared from the first of them,
        // their successive most accurate ones (ties to the lower loss), and the run keeps the last of those.
        Assert.Equal(Marks(head, EarlyStoppingMetric.Loss), head.Select(e => e.IsBest).ToArray());
        Assert.Equal(Marks(tuned, EarlyStoppingMetric.Accuracy), tuned.Select(e => e.IsBest).ToArray());
        Assert.Equal(tuned.Last(e => e.IsBest).Epoch, run.BestEpoch);
        var (_, kept) = data.Evaluate(module);
        Assert.Equal(run.Best!.ValidationAccuracy, kept, 4);
    }

    [Fact]
    public void ChainThawTrainsTheHeadThenEachBlockAloneThenEverything()
    {
        var options = FineTuneFixture.Options(epochs: 1);
        options.HeadWarmupEpochs = 1;
        options.ChainThaw = new ChainThawOptions { Blocks = 3, EpochsPerPhase = 1 };
        using var module = Module(options);
        var snapshots = new List<Dictionary<string, float[]>> { FineTuneFixture.Snapshot(module) };
        options.MetricsCallback = _ => snapshots.Add(FineTuneFixture.Snapshot(module));
        var run = Train(module, options);

        Assert.Equal(["head", "block 1/3", "block 2/3", "block 3/3", "all"], run.Phases.Select(p => p.Name));
        Assert.Equal(["head", "block 1/3", "block 2/3", "block 3/3", "all"], run.Epochs.Select(e => e.Phase));
        var pretrained = module.ParameterGroups.Where(g => !g.IsHead).Select(g => g.Index).ToList();
        Assert.Equal(pretrained, run.Phases.Skip(1).Take(3).SelectMany(p => p.TrainableGroups.Order()));
        Assert.Equal(module.ParameterGroups.Count, run.Phases[^1].TrainableGroups.Count);

        // Which parameters moved in each epoch: exactly those of its phase.
        var slotOf = module.ParameterGroups.ToDictionary(g => g.Index, g => g.IsHead ? new[] { "head.weight", "head.bias" }
            : g.TensorNames.Select(t => snapshots[0].Keys.Single(k => k == t.Replace('/', '_').Replace('.', '_'))).ToArray());
        for (int e = 0; e < run.Epochs.Count; e++)
        {
            var phase = run.Phases[e];
            foreach (var (group, slots) in slotOf)
            {
                var moved = slots.Any(s => MaxDifference(snapshots[e][s], snapshots[e + 1][s]) > 0);
                Assert.True(moved == phase.TrainableGroups.Contains(group), $"{phase.Name}: group {group} moved={moved}");
            }
        }
    }

    [Fact]
    public void BottleneckCacheGivesTheSameModelAsTrainingThroughTheFrozenPrefix()
    {
        Dictionary<string, float[]>? initial = null;
        Dictionary<string, float[]> Run(bool cache, out FineTuneRun run)
        {
            var options = FineTuneFixture.Options(epochs: 3);
            options.FreezeFraction = 0.5;
            options.UseBottleneckCache = cache;
            // SGD: AdamW's normalised step can turn a rounding difference in a near-zero gradient (the prefix runs
            // batched differently with and without the cache) into a step-sized one.
            options.Optimizer = FineTuneOptimizer.Sgd;
            using var module = Module(options);
            initial ??= FineTuneFixture.Snapshot(module);
            run = Train(module, options);
            return FineTuneFixture.Snapshot(module);
        }
        var cached = Run(true, out var cachedRun);
        // The comparison below means something only if training moved the weights by far more than its tolerance.
        Assert.True(cached.Max(p => MaxDifference(p.Value, initial![p.Key])) > 1e-2);
        var uncached = Run(false, out var uncachedRun);
        Assert.All(cachedRun.Epochs, e => Assert.True(e.BottleneckCached));
        Assert.All(uncachedRun.Epochs, e => Assert.False(e.BottleneckCached));
        foreach (var (name, values) in cached)
            Assert.True(MaxDifference(values, uncached[name]) < 1e-4, $"{name}: {MaxDifference(values, uncached[name])}");
        for (int e = 0; e < 3; e++)
            Assert.Equal(uncachedRun.Epochs[e].ValidationLoss, cachedRun.Epochs[e].ValidationLoss, 4);
    }

    [Theory]
    [InlineData(0.5, false, true)]   // frozen prefix, plain images: cached
    [InlineData(0.5, true, false)]   // augmented images change every epoch: not cached
    [InlineData(0.0, false, false)]  // nothing frozen: no prefix to cache
    [InlineData(1.0, false, true)]   // only the head trains: the whole network is the prefix
    public void BottleneckCacheIsUsedExactlyWhenValid(double freeze, bool augment, bool expected)
    {
        var options = FineTuneFixture.Options(epochs: 1);
        options.FreezeFraction = freeze;
        options.Augmentation.Enabled = augment;
        using var module = Module(options);
        var run = Train(module, options);
        Assert.Equal(expected, run.Epochs.Single().BottleneckCached);
    }

    [Fact]
    public void TheHeadWarmsUpAloneOnCachedPlainImagesBeforeTheLayersThaw()
    {
        var options = FineTuneFixture.Options(epochs: 2);
        options.HeadWarmupEpochs = 3;
        options.Augmentation.Enabled = true;
        using var module = Module(options);
        var before = FineTuneFixture.Snapshot(module);
        var afterWarmup = new Dictionary<string, float[]>();
        options.MetricsCallback = e => { if (e.Epoch == 3) afterWarmup = FineTuneFixture.Snapshot(module); };
        var run = Train(module, options);

        Assert.Equal(["head", "head", "head", "fine-tune", "fine-tune"], run.Epochs.Select(e => e.Phase));
        Assert.All(run.Epochs.Take(3), e => Assert.True(e.BottleneckCached));   // plain images: the whole network ran once
        Assert.All(run.Epochs.Skip(3), e => Assert.False(e.BottleneckCached));  // augmented: the prefix runs every step
        foreach (var (name, values) in before)
            if (name.StartsWith("head.", StringComparison.Ordinal)) Assert.NotEqual(values, afterWarmup[name]);
            else Assert.Equal(values, afterWarmup[name]);
    }

    [Fact]
    public void ALinearProbeFitsTheHeadOnTheFrozenNetworkBeforeTheLayersThaw()
    {
        var options = FineTuneFixture.Options(epochs: 2);
        options.LinearProbe = new MlNetTransfer.Heads.HeadOptions();
        options.Augmentation.Enabled = true;
        using var module = Module(options);
        var before = FineTuneFixture.Snapshot(module);
        var afterProbe = new Dictionary<string, float[]>();
        var probeAccuracy = double.NaN;
        options.MetricsCallback = e =>
        {
            if (e.Epoch != 1) return;
            afterProbe = FineTuneFixture.Snapshot(module);
            probeAccuracy = data.Evaluate(module).Accuracy;
        };
        var run = Train(module, options);

        Assert.Equal(["head", "fine-tune", "fine-tune"], run.Epochs.Select(e => e.Phase));
        var probe = run.Epochs[0];
        Assert.True(probe.BottleneckCached);
        Assert.Equal(0, probe.LearningRate);   // no optimizer step: ML.NET's trainer fitted it
        foreach (var (name, values) in before)
            if (name.StartsWith("head.", StringComparison.Ordinal)) Assert.NotEqual(values, afterProbe[name]);
            else Assert.Equal(values, afterProbe[name]);
        // What the trainer recorded for the probe is what the module with the probed head scores.
        Assert.Equal(probe.ValidationAccuracy, probeAccuracy, 4);
        // A fitted probe on these separable shapes beats the random head's chance level by far, from the first epoch.
        Assert.True(probe.ValidationAccuracy >= 0.8, $"probe validation accuracy {probe.ValidationAccuracy}");
        Assert.True(probe.TrainAccuracy >= 0.9, $"probe training accuracy {probe.TrainAccuracy}");
    }

    [Fact]
    public void SameSeedGivesTheSameModelAndAnotherSeedDoesNot()
    {
        Dictionary<string, float[]> Run(int seed)
        {
            var options = FineTuneFixture.Options(epochs: 2);
            options.Augmentation.Enabled = true;
            options.Seed = seed;
            using var module = Module(options);
            Train(module, options);
            return FineTuneFixture.Snapshot(module);
        }
        var a = Run(11);
        var b = Run(11);
        var c = Run(12);
        foreach (var (name, values) in a) Assert.Equal(values, b[name]);
        Assert.NotEqual(a["head.weight"], c["head.weight"]);
    }

    [Fact]
    public void CancellationStopsAtTheNextBatchKeepingTheBestEpoch()
    {
        var options = FineTuneFixture.Options(epochs: 6);
        using var cancel = new CancellationTokenSource();
        options.MetricsCallback = e => { if (e.Epoch == 2) cancel.Cancel(); };
        using var module = Module(options);
        var run = Train(module, options, cancel.Token);

        Assert.True(run.Cancelled);
        Assert.Equal(2, run.Epochs.Count);
        Assert.InRange(run.BestEpoch, 1, 2);
        var (loss, _) = data.Evaluate(module);
        Assert.Equal(run.Best!.ValidationLoss, loss, 4);
        Assert.All(module.ParameterGroups, g => Assert.True(g.Trainable)); // the module is left usable
    }

    [Fact]
    public void CancellationBeforeTheFirstEpochEndsThrows()
    {
        var options = FineTuneFixture.Options(epochs: 2);
        using var module = Module(options);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Train(module, options, cancel.Token));
    }

    [Fact]
    public void FreezingByNodeNameStartsTrainingThere()
    {
        var options = FineTuneFixture.Options(epochs: 1);
        options.TrainFromNode = "block3/conv";
        using var module = Module(options);
        var phase = FineTunePhase.Plan(module, options).Single();
        Assert.Equal(module.ParameterGroups.Where(g => g.Index >= 4).Select(g => g.Index), phase.TrainableGroups.Order());

        options.TrainFromNode = "block9/conv";
        var e = Assert.Throws<MlNetTransferException>(() => FineTunePhase.Plan(module, options));
        Assert.Contains("block9/conv", e.Message);
        Assert.Contains("block1/conv", e.Message);
    }

    [Fact]
    public void AnUnreadableTrainingImageIsReportedByName()
    {
        var bad = Path.Combine(data.Root, "broken.png");
        File.WriteAllText(bad, "not an image");
        var options = FineTuneFixture.Options(epochs: 1);
        options.Augmentation.Enabled = true;
        using var module = Module(options);
        var train = data.Train.Append(new MlNetTransfer.Data.ImageExample(bad, data.Classes[0])).ToList();
        var e = Assert.Throws<MlNetTransferException>(() =>
            new FineTuner(options).Train(module, FineTuneFixture.Reader, data.Classes, train, data.Validation));
        Assert.Contains("broken.png", e.Message);
    }
}
