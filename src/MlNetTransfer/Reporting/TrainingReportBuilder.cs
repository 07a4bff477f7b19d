using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Reporting;

/// <summary>Maps what a training run produced (data, backbone, metrics, the fine-tuning run) to its <see cref="TrainingReport"/>.</summary>
internal static class TrainingReportBuilder
{
    /// <summary>The report every strategy shares; the search adds its leaderboard around the winner's (<see cref="SearchReportBuilder"/>).</summary>
    public static TrainingReport Report(TransferLearningOptions options, ImageDataset dataset, string backboneSource, PreparedBackbone backbone,
        IReadOnlyList<string> classes, ClassificationReport? valReport, ClassificationReport? testReport, TrainerReport trainer,
        FeaturizationReport featurization, TimingsReport timings, FineTuneReport? fineTune, IReadOnlyList<EpochReport> curve)
    {
        var primary = testReport ?? valReport ?? throw new MlNetTransferException($"{options.DataPath}: no validation or test images to evaluate on.");
        return new TrainingReport
        {
            Strategy = options.Strategy,
            Metrics = primary,
            EvaluatedOn = testReport is not null ? "test" : "validation",
            ValidationMetrics = valReport,
            TestMetrics = testReport,
            Data = new DataReport
            {
                Source = dataset.Source,
                PreSplit = dataset.IsPreSplit,
                Seed = options.Dataset.Seed,
                Fractions = [options.Dataset.TrainFraction, options.Dataset.ValidationFraction, options.Dataset.TestFraction],
                Classes = classes,
            },
            Counts = new SplitCounts
            {
                Train = dataset.Train.Count,
                Validation = dataset.Validation.Count,
                Test = dataset.Test.Count,
                Skipped = dataset.Skipped.Count,
                PerClass = classes.ToDictionary(c => c, c => new[]
                {
                    dataset.Train.Count(e => e.Label == c), dataset.Validation.Count(e => e.Label == c), dataset.Test.Count(e => e.Label == c),
                }),
            },
            Skipped = dataset.Skipped.Select(s => new SkippedReport(s.Path, s.Reason)).ToList(),
            Backbone = new BackboneReport
            {
                Name = backbone.Spec.Name,
                Source = backboneSource,
                Sha256 = backbone.Sha256,
                EmbeddingTensor = backbone.Spec.EmbeddingTensor ?? "",
                EmbeddingSize = backbone.EmbeddingSize,
                InputWidth = backbone.Spec.InputWidth,
                InputHeight = backbone.Spec.InputHeight,
                SourceDomain = backbone.Spec.SourceDomain,
            },
            Trainer = trainer,
            Featurization = featurization,
            Timings = timings,
            FineTune = fineTune,
            LearningCurve = curve,
        };
    }

    /// <summary>A fine-tuning run's settings and outcome.</summary>
    public static FineTuneReport FineTune(FineTuneOptions fineTune, FineTuneRun r, string fineTunedSha256) => new()
    {
        Method = fineTune.ChainThaw is null ? TransferLearningOptions.FineTuneStrategy : TransferLearningOptions.ChainThawStrategy,
        FreezeFraction = fineTune.FreezeFraction,
        TrainFromNode = fineTune.TrainFromNode,
        PretrainedLayers = r.PretrainedGroups,
        Phases = r.Phases.Select(p => new PhaseReport(p.Name, p.TrainableGroups.Count, p.Epochs)).ToList(),
        EpochsRun = r.Epochs.Count,
        BestEpoch = r.BestEpoch,
        StoppedEarly = r.StoppedEarly,
        Cancelled = r.Cancelled,
        Optimizer = fineTune.Optimizer.ToString(),
        HeadInitialization = fineTune.LinearProbe is { } probe ? $"linear probe ({probe.Trainer}, {probe.Normalization})" : "random",
        HeadWarmupEpochs = fineTune.LinearProbe is null ? fineTune.HeadWarmupEpochs : 0,
        HeadWarmupLearningRate = fineTune.HeadWarmupLearningRate,
        HeadDropout = fineTune.HeadDropout,
        LearningRate = fineTune.LearningRate,
        PretrainedLearningRateFactor = fineTune.PretrainedLearningRateFactor,
        Schedule = fineTune.Schedule.ToString(),
        WeightDecay = fineTune.EffectiveWeightDecay,
        LabelSmoothing = fineTune.LabelSmoothing,
        BatchSize = fineTune.BatchSize,
        Augmentation = fineTune.Augments,
        AugmentationSettings = fineTune.Augmentation?.Describe() ?? "off",
        EarlyStopping = fineTune.EarlyStoppingCriteria is { } e ? $"{e.Metric}, patience {e.Patience} against each phase's own best, counted from its epoch {e.StartFromEpoch + 1}, min delta {e.MinDelta}" : "off",
        BottleneckCachedEpochs = r.Epochs.Count(x => x.BottleneckCached),
        Device = fineTune.Device,
        ChannelsLast = fineTune.ChannelsLast && r.ChannelsLastFallback is null,
        ChannelsLastFallback = r.ChannelsLastFallback,
        FrozenPrefixEngine = fineTune.FrozenPrefixEngine.Name(),
        SavedInt8Prefix = r.KeepsInt8Prefix,
        Int8PrefixFallback = r.Int8PrefixFallback,
        ProbeCrossValidation = r.ProbeCrossValidation,
        Seed = fineTune.Seed,
        FineTunedSha256 = fineTunedSha256,
    };

    /// <summary>A run's epochs as the report's learning curve.</summary>
    public static IReadOnlyList<EpochReport> Curve(FineTuneRun r) => r.Epochs.Select(x => new EpochReport
    {
        Epoch = x.Epoch,
        Phase = x.Phase,
        TrainLoss = x.TrainLoss,
        TrainAccuracy = x.TrainAccuracy,
        ValidationLoss = x.ValidationLoss,
        ValidationAccuracy = x.ValidationAccuracy,
        LearningRate = x.LearningRate,
        ImagesPerSecond = x.ImagesPerSecond,
        Seconds = x.Seconds,
        BottleneckCached = x.BottleneckCached,
        FrozenPrefix = x.FrozenPrefix?.Name(),
        Best = x.Epoch == r.BestEpoch,
    }).ToList();
}
