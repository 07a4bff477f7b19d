using System.Diagnostics;
using Microsoft.ML.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;

namespace MlNetTransfer;

public sealed partial class TransferLearningTrainer
{
    /// <summary>The fine-tune and chain-thaw strategies: retrain the network on TorchSharp (the engine package), then evaluate the resulting ML.NET
    /// chain exactly as it will predict from the saved zip.</summary>
    private TransferLearningResult TrainFineTuned(RunContext run)
    {
        var (dataset, cancel) = (run.Dataset, run.Cancel);
        var fineTune = FineTuneOptionsFor(run.Options);
        fineTune.ClassWeights = run.Balance.Applied ? run.Balance.Weights : null;
        var classes = FineTuneClasses(dataset);
        var sw = Stopwatch.StartNew();
        using var tuned = Engine(run.Options.Strategy).Train(_ml, fineTune, run.Resolved, dataset.Train, dataset.Validation, classes, FineTuneProgress(run), cancel);
        return Evaluated(run, fineTune, classes, tuned, sw.Elapsed.TotalSeconds);
    }

    /// <summary>A run that trains a few epochs at a time, for successive halving; <see cref="Evaluated"/> turns it into a
    /// result once it is complete.</summary>
    private IResumableFineTuning StartFineTuning(RunContext run, FineTuneOptions fineTune, IReadOnlyList<string> classes) =>
        Engine(run.Options.Strategy).Start(_ml, fineTune, run.Resolved, run.Dataset.Train, run.Dataset.Validation, classes);

    /// <summary>The engine (the MlNetTransfer.FineTuning package); a clear error naming the package when the app lacks it.</summary>
    private IFineTuningEngine Engine(string strategy) =>
        _engine() ?? throw new MlNetTransferException(FineTuningEngines.MissingMessage($"The {strategy} strategy"));

    private static IProgress<FineTuneProgress>? FineTuneProgress(RunContext run) => run.Progress is not { } progress ? null : new InlineProgress<FineTuneProgress>(p =>
        progress.Report(new TrainingProgress(TrainingProgress.FineTuning, (long)(p.Epoch - 1) * p.Batches + p.Batch, (long)p.TotalEpochs * p.Batches, p.ToString())));

    /// <summary>The same class order as the feature-extractor path: ML.NET's value → key mapping, by value.</summary>
    private IReadOnlyList<string> FineTuneClasses(Data.ImageDataset dataset)
    {
        var labels = _ml.Data.LoadFromEnumerable(dataset.Train.Select(e => new LabelRow { Label = e.Label }));
        return ClassNames(LabelToKey(labels).Transform(labels).Schema[HeadEstimator.LabelColumn]);
    }

    /// <summary>The fine-tuning options of a run: its <see cref="TransferLearningOptions.FineTune"/> with what the run fixes
    /// (backbone, seed, columns, resizing, chain-thaw for that strategy).</summary>
    private static FineTuneOptions FineTuneOptionsFor(TransferLearningOptions options)
    {
        var fineTune = options.FineTune.Clone();
        fineTune.Arch = options.Backbone;
        fineTune.Mirrors = options.Mirrors;
        fineTune.EmbeddingTensor = options.EmbeddingTensor;
        fineTune.Seed = options.Seed;
        fineTune.ImagePathColumnName = options.Featurizer.ImagePathColumn;
        fineTune.Resizing = options.Featurizer.Resizing;
        fineTune.ChainThaw = options.Strategy == TransferLearningOptions.ChainThawStrategy ? fineTune.ChainThaw ?? new ChainThawOptions() : null;
        return fineTune;
    }

    /// <summary>Evaluates a fine-tuned classifier on the held-out splits and builds its report.</summary>
    private TransferLearningResult Evaluated(RunContext run, FineTuneOptions fineTune, IReadOnlyList<string> classes, IFineTunedClassifier tuned, double trainSeconds)
    {
        var (options, dataset, progress) = (run.Options, run.Dataset, run.Progress);
        var labels = _ml.Data.LoadFromEnumerable(dataset.Train.Select(e => new LabelRow { Label = e.Label }));
        var sw = Stopwatch.StartNew();

        // Held-out images go through the fine-tuned ML.NET featurizer (ONNX Runtime), as predictions from the zip will.
        // A cancelled run still gets its report: the evaluation below ignores the (already cancelled) token.
        var featurizerOptions = new ImageFeaturizerOptions
        {
            ImagePathColumn = options.Featurizer.ImagePathColumn,
            Resizing = options.Featurizer.Resizing,
            DegreeOfParallelism = options.Featurizer.DegreeOfParallelism,
            CacheDirectory = null,
        };
        var heldOut = dataset.Validation.Concat(dataset.Test).ToList();
        var embeddings = new EmbeddingExtractor(_ml, tuned.Featurizer, tuned.FeaturizerSha256, featurizerOptions).Extract(heldOut.Select(e => e.Path).ToList(),
            progress is null ? null : new InlineProgress<int>(n => progress.Report(new TrainingProgress(TrainingProgress.Evaluating, n, heldOut.Count))));
        var featurizeSeconds = sw.Elapsed.TotalSeconds;

        sw.Restart();
        int nVal = dataset.Validation.Count;
        var keyed = LabelToKey(labels);
        // Embeddings typed exactly as the featurizer emits them ([1, D]), which is what the head was bound to.
        var type = (VectorDataViewType)tuned.Featurizer.GetOutputSchema(
            ImageFeaturizer.EmptyInput(_ml, options.Featurizer.ImagePathColumn).Schema)[ImageFeaturizer.EmbeddingColumn].Type;
        var validation = nVal > 0 ? Evaluate(tuned.Head, keyed.Transform(ToDataView(dataset.Validation, embeddings[..nVal], type)), classes) : null;
        var test = dataset.Test.Count > 0 ? Evaluate(tuned.Head, keyed.Transform(ToDataView(dataset.Test, embeddings[nVal..], type)), classes) : null;
        var evaluateSeconds = sw.Elapsed.TotalSeconds;

        var r = tuned.Run;
        var trainer = new TrainerReport
        {
            Name = options.Strategy,
            MlNetTrainer = "fine-tuned network (TorchSharp) + linear head as MaximumEntropy",
            MaximumIterations = r.Epochs.Count,
            Normalization = "None",
        };
        var featurization = new FeaturizationReport
        {
            Images = heldOut.Count,
            ImagesPerSecond = heldOut.Count / Math.Max(featurizeSeconds, 1e-9),
            DegreeOfParallelism = featurizerOptions.DegreeOfParallelism,
        };
        var timings = new TimingsReport { LoadSeconds = run.LoadSeconds, FeaturizeSeconds = featurizeSeconds, TrainSeconds = trainSeconds, EvaluateSeconds = evaluateSeconds };
        return Finish(run, tuned.Model, tuned.Backbone, classes, validation, test, trainer, featurization, timings,
            TrainingReportBuilder.FineTune(fineTune, r, tuned.FeaturizerSha256), TrainingReportBuilder.Curve(r));
    }

    private sealed class LabelRow
    {
        public string Label { get; set; } = "";
    }
}
