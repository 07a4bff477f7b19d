using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;

namespace MlNetTransfer;

/// <summary>
/// The facade: data → backbone → embeddings (once, cached) → head → evaluation → one model.
/// Each stage lives in its own folder; this class only composes them.
/// </summary>
public sealed partial class TransferLearningTrainer
{
    private readonly MLContext _ml;
    private readonly Func<IFineTuningEngine?> _engine;

    /// <summary>A trainer on <paramref name="ml"/>. The fine-tune and chain-thaw strategies, and auto's fine-tuning candidates,
    /// need the <c>MlNetTransfer.FineTuning</c> package; without it they say so (auto runs its heads only, and its report says why).</summary>
    public TransferLearningTrainer(MLContext ml) : this(ml, () => FineTuningEngines.Installed)
    {
    }

    /// <summary>A trainer with the given engine (null: as if the app had no engine package).</summary>
    internal TransferLearningTrainer(MLContext ml, Func<IFineTuningEngine?> engine) => (_ml, _engine) = (ml ?? throw new ArgumentNullException(nameof(ml)), engine);

    /// <summary>Runs the whole path for <see cref="TransferLearningOptions.Strategy"/> and returns the trained model with its report.
    /// Cancelling a fine-tuning run stops it at the next batch and returns the best epoch so far (the report says so); the
    /// feature-extractor path, and a fine-tuning run cancelled before its first epoch ends, throw <see cref="OperationCanceledException"/>.</summary>
    public TransferLearningResult Train(TransferLearningOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        if (!TransferLearningOptions.Strategies.Contains(options.Strategy))
            throw new MlNetTransferException($"Strategy '{options.Strategy}' is not known; use {string.Join(", ", TransferLearningOptions.Strategies)}.");
        if (options.EmbeddingsPath is not null) return TrainFromEmbeddings(options, progress, cancel);
        if (string.IsNullOrWhiteSpace(options.DataPath)) throw new MlNetTransferException("No data given: set DataPath (--data) to an image folder or a CSV/TSV manifest.");
        if (options.Strategy == TransferLearningOptions.AutoStrategy) options.Auto.Validate();
        if (options.Strategy is TransferLearningOptions.FineTuneStrategy or TransferLearningOptions.ChainThawStrategy) Engine(options.Strategy);
        if (BackboneComparison.IsAuto(options.Backbone)) return TrainWithBackboneChoice(options, progress, cancel);
        var run = Start(options, progress, cancel);
        return options.Strategy switch
        {
            TransferLearningOptions.FeatureExtractor => TrainFeatureExtractor(run),
            TransferLearningOptions.AutoStrategy => TrainAuto(run),
            _ => TrainFineTuned(run),
        };
    }

    /// <summary>Loads the data and resolves the backbone: the part every strategy and the experiment share.</summary>
    private static RunContext Start(TransferLearningOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancel)
    {
        options.Head.Validate();
        var run = new RunContext { Options = options, Progress = progress, Cancel = cancel };
        var sw = Stopwatch.StartNew();
        progress?.Report(new TrainingProgress(TrainingProgress.Loading, 0, 0, $"Reading {options.DataPath}"));
        run.Dataset = ImageDatasetLoader.Load(options.DataPath, options.Dataset,
            progress is null ? null : new InlineProgress<int>(n => progress.Report(new TrainingProgress(TrainingProgress.Loading, n, 100))));
        run.LoadSeconds = sw.Elapsed.TotalSeconds;
        run.Balance = ClassBalance.Measure(run.Dataset.Train, options.ClassWeights);

        progress?.Report(new TrainingProgress(TrainingProgress.Preparing, 0, 0, $"Preparing backbone {options.Backbone}"));
        run.Resolved = BackboneResolver.Resolve(options.Backbone, new BackboneResolveOptions { Mirrors = options.Mirrors, EmbeddingTensor = options.EmbeddingTensor });
        return run;
    }

    /// <summary>What every strategy shares: the options, the loaded data, the backbone, the clock.</summary>
    private sealed record RunContext
    {
        public required TransferLearningOptions Options { get; init; }
        public IProgress<TrainingProgress>? Progress { get; init; }
        public CancellationToken Cancel { get; init; }
        public ImageDataset Dataset { get; set; } = null!;
        public ResolvedBackbone Resolved { get; set; } = null!;
        public double LoadSeconds { get; set; }
        public ClassBalanceReport Balance { get; set; } = new();
        public Stopwatch Total { get; init; } = Stopwatch.StartNew();

        /// <summary>The embeddings read from shards (train --embeddings); null when the images are featurized.</summary>
        public GatheredEmbeddings? Gathered { get; set; }
    }

    private TransferLearningResult TrainFeatureExtractor(RunContext run) => FitHead(run, Featurize(run), run.Options.Head);

    /// <summary>Every image's embedding, computed once (and cached): what all heads train and evaluate on.</summary>
    private sealed class FeaturizedData
    {
        public required PreparedBackbone Backbone { get; init; }
        public required ITransformer Featurizer { get; init; }
        public required float[][] Embeddings { get; init; }
        public required IDataView Train { get; init; }
        public required IDataView Validation { get; init; }
        public required IDataView Test { get; init; }
        public required ITransformer LabelToKey { get; init; }
        public required IDataView KeyedTrain { get; init; }
        public required IReadOnlyList<string> Classes { get; init; }
        public required FeaturizationReport Report { get; init; }
        public double Seconds { get; init; }
        public IReadOnlyList<MiddleLayerFeatures>? Middle { get; init; }
    }

    private FeaturizedData Featurize(RunContext run, IList<double>? middleLayerDepths = null)
    {
        var (options, dataset, progress, cancel) = (run.Options, run.Dataset, run.Progress, run.Cancel);
        var backbone = BackbonePreparer.Prepare(run.Resolved.Model, run.Resolved.Spec);

        var featurizer = new ImageFeaturizingEstimator(_ml, backbone, new() { InputColumnName = options.Featurizer.ImagePathColumn, Resizing = options.Featurizer.Resizing })
            .Fit(ImageFeaturizer.EmptyInput(_ml, options.Featurizer.ImagePathColumn));
        var tap = middleLayerDepths is { Count: > 0 } depths ? BackbonePreparer.TapMiddleLayers(backbone, depths.ToList()) : null;
        var sw = Stopwatch.StartNew();
        var all = dataset.Train.Concat(dataset.Validation).Concat(dataset.Test).ToList();
        float[][] embeddings;
        float[][]? middle = null;
        int cacheHits;
        if (run.Gathered is { } gathered)
        {
            RequireBackbone(gathered, backbone);
            embeddings = all.Select(e => gathered.Embeddings[e.Path]).ToArray();
            cacheHits = all.Count;
        }
        else
        {
            var extractor = new EmbeddingExtractor(_ml, ImageFeaturizer.FitForBulk(_ml, backbone, options.Featurizer, tap), backbone.Sha256, options.Featurizer, tap);
            (embeddings, middle) = extractor.ExtractWithMiddle(all.Select(e => e.Path).ToList(),
                progress is null ? null : new InlineProgress<int>(n => progress.Report(new TrainingProgress(TrainingProgress.Featurizing, n, all.Count))), cancel);
            cacheHits = extractor.LastCacheHits;
        }
        var featurizeSeconds = sw.Elapsed.TotalSeconds;

        int nTrain = dataset.Train.Count, nVal = dataset.Validation.Count;
        // The head trains on the featurizer's own embedding type (e.g. [1, D] where the graph keeps a batch axis), so the saved
        // chain binds whatever sits between them, or nothing (--normalize none), to the same type at load.
        var embeddingType = (VectorDataViewType)featurizer.GetOutputSchema(ImageFeaturizer.EmptyInput(_ml, options.Featurizer.ImagePathColumn).Schema)[ImageFeaturizer.EmbeddingColumn].Type;
        var train = ToDataView(dataset.Train, embeddings.AsSpan(0, nTrain).ToArray(), embeddingType);
        // Label → key is fitted on its own and left out of the saved chain: predicting must not need a Label column.
        var labelToKey = LabelToKey(train);
        return new FeaturizedData
        {
            Backbone = backbone,
            Featurizer = featurizer,
            Embeddings = embeddings,
            Train = train,
            Validation = ToDataView(dataset.Validation, embeddings.AsSpan(nTrain, nVal).ToArray(), embeddingType),
            Test = ToDataView(dataset.Test, embeddings.AsSpan(nTrain + nVal).ToArray(), embeddingType),
            LabelToKey = labelToKey,
            KeyedTrain = _ml.Data.Cache(labelToKey.Transform(train)),
            Classes = ClassNames(labelToKey.Transform(train).Schema[HeadEstimator.LabelColumn]),
            Seconds = featurizeSeconds,
            Middle = tap?.Split(middle!).Select((rows, k) => new MiddleLayerFeatures(tap.Layers[k].Tensor, tap.Layers[k].Depth, rows)).ToList(),
            Report = new FeaturizationReport
            {
                Images = all.Count,
                CacheHits = cacheHits,
                ImagesPerSecond = all.Count == cacheHits ? 0 : (all.Count - cacheHits) / Math.Max(featurizeSeconds, 1e-9),
                DegreeOfParallelism = options.Featurizer.DegreeOfParallelism,
                Shards = run.Gathered is { } g ? options.EmbeddingsPath : null,
            },
        };
    }

    /// <summary>Trains one head on the cached embeddings and evaluates it; the result's model is featurizer + head.</summary>
    private TransferLearningResult FitHead(RunContext run, FeaturizedData data, HeadOptions headOptions)
    {
        var (dataset, progress) = (run.Dataset, run.Progress);
        var sw = Stopwatch.StartNew();
        HeadCrossValidationReport? crossValidation = null;
        // Class weights ride on the training rows only (a column the trainer reads), so the saved chain never asks for them.
        // The regularisation search below stays unweighted.
        var keyedTrain = run.Balance.Applied ? WithClassWeights(data, run.Balance) : data.KeyedTrain;
        if (headOptions.CrossValidatesRegularisation)
        {
            var fits = HeadCrossValidation.Fits(headOptions.Trainer, headOptions.CrossValidationFolds);
            var what = $"{headOptions.Trainer}: choosing regularisation by {headOptions.CrossValidationFolds}-fold cross-validation";
            progress?.Report(new TrainingProgress(TrainingProgress.Training, 0, fits, what));
            var tuned = HeadCrossValidation.Tune(_ml, data.KeyedTrain, ImageFeaturizer.EmbeddingColumn, headOptions, run.Options.Seed,
                progress is null ? null : new InlineProgress<int>(n => progress.Report(new TrainingProgress(TrainingProgress.Training, n, fits, what))), run.Cancel);
            if (tuned is { } t) (headOptions, crossValidation) = t;
        }
        if (run.Balance.Applied)
        {
            headOptions = headOptions.Clone();
            headOptions.ExampleWeightColumnName = ClassWeightColumn;
        }
        progress?.Report(new TrainingProgress(TrainingProgress.Training, 0, 1, headOptions.Trainer.ToString()));
        // A context of its own, seeded with the run's seed: SDCA shuffles with the context's random stream, which featurizing
        // on _ml may or may not have drawn from, so the head depends only on the embeddings and the seed (images or shards alike).
        var head = HeadEstimator.Create(new MLContext(run.Options.Seed), ImageFeaturizer.EmbeddingColumn, headOptions).Fit(keyedTrain);
        progress?.Report(new TrainingProgress(TrainingProgress.Training, 1, 1, headOptions.Trainer.ToString()));
        var trainSeconds = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var validation = dataset.Validation.Count > 0 ? Evaluate(head, data.LabelToKey.Transform(data.Validation), data.Classes) : null;
        var test = dataset.Test.Count > 0 ? Evaluate(head, data.LabelToKey.Transform(data.Test), data.Classes) : null;
        var evaluateSeconds = sw.Elapsed.TotalSeconds;

        var trainer = new TrainerReport
        {
            Name = headOptions.Trainer.ToString().ToLowerInvariant(),
            MlNetTrainer = headOptions.Trainer switch
            {
                HeadTrainer.Sdca => "SdcaMaximumEntropy",
                HeadTrainer.Lbfgs => "LbfgsMaximumEntropy",
                HeadTrainer.LightGbm => "LightGbmMulticlass",
                _ => "OneVersusAll(LinearSvm)",
            },
            MaximumIterations = headOptions.IterationsFor(headOptions.Trainer),
            L2Regularization = headOptions.L2Regularization,
            L1Regularization = headOptions.L1Regularization,
            Normalization = headOptions.Normalization.ToString(),
            CrossValidation = crossValidation,
        };
        var timings = new TimingsReport
        {
            LoadSeconds = run.LoadSeconds,
            FeaturizeSeconds = data.Seconds,
            TrainSeconds = trainSeconds,
            EvaluateSeconds = evaluateSeconds,
        };
        var model = new TransformerChain<ITransformer>(data.Featurizer, head);
        return Finish(run, model, data.Backbone, data.Classes, validation, test, trainer, data.Report, timings, fineTune: null, curve: []);
    }

    /// <summary>Builds the report and metadata common to every strategy.</summary>
    private TransferLearningResult Finish(RunContext run, ITransformer model, PreparedBackbone backbone, IReadOnlyList<string> classes,
        Evaluation? validation, Evaluation? test, TrainerReport trainer, FeaturizationReport featurization,
        TimingsReport timings, FineTuneReport? fineTune, IReadOnlyList<EpochReport> curve)
    {
        var (options, dataset) = (run.Options, run.Dataset);
        var (valReport, testReport) = (validation?.Report, test?.Report);
        var report = TrainingReportBuilder.Report(options, dataset, run.Resolved.Source, backbone, classes, valReport, testReport, trainer, featurization,
            timings with { TotalSeconds = run.Total.Elapsed.TotalSeconds }, fineTune, curve) with { ClassBalance = run.Balance };
        var primary = report.Metrics;
        var metadata = new ModelMetadata
        {
            Kind = options.Strategy,
            Classes = classes,
            Backbone = backbone.Spec.Name,
            BackboneSha256 = fineTune?.FineTunedSha256 ?? backbone.Sha256,
            InputWidth = backbone.Spec.InputWidth,
            InputHeight = backbone.Spec.InputHeight,
            Trainer = trainer.MlNetTrainer,
            ImagePathColumn = options.Featurizer.ImagePathColumn,
            Metrics = new Dictionary<string, double>
            {
                ["accuracy"] = primary.Accuracy,
                ["macroF1"] = primary.MacroF1,
                ["logLoss"] = primary.LogLoss,
            },
        };
        // Shards name images that may no longer be where they were featurized: no pictures from them.
        // The evaluation's scores come along, so the mistakes section need not classify the same images again.
        var held = run.Gathered is not null ? null
            : validation is not null ? new HeldOutImages("validation", dataset.Validation, validation.Scores)
            : test is not null ? new HeldOutImages("test", dataset.Test, test.Scores) : null;
        return new TransferLearningResult(_ml, model, metadata, report, held);
    }

    /// <summary>Approach 1: the pretrained network with its own head and labels as the classifier, no training.
    /// The returned classifier saves to the same kind of zip (<see cref="ImageClassifier.Save"/>).</summary>
    public ImageClassifier Pretrained(string backbone, BackboneResolveOptions? options = null, ImageFeaturizerOptions? featurizer = null)
    {
        var resolved = BackboneResolver.Resolve(backbone, options);
        var labelsFile = resolved.Spec.LabelsFile
            ?? throw new MlNetTransferException($"Backbone '{resolved.Spec.Name}' has no labels file, so it cannot be used as a classifier; train a head on it instead.");
        var labels = PretrainedClassifierHead.ReadLabels(labelsFile);
        var prepared = BackbonePreparer.PrepareClassifier(resolved.Model, resolved.Spec);
        featurizer ??= new ImageFeaturizerOptions();
        var model = ImageFeaturizer.Fit(_ml, PretrainedClassifierHead.CreateEstimator(_ml, prepared, labels, featurizer), featurizer.ImagePathColumn);
        var metadata = new ModelMetadata
        {
            Kind = "pretrained-classifier",
            Classes = labels,
            Backbone = resolved.Spec.Name,
            BackboneSha256 = prepared.Sha256,
            InputWidth = resolved.Spec.InputWidth,
            InputHeight = resolved.Spec.InputHeight,
            Trainer = "none (the backbone's own head)",
            ImagePathColumn = featurizer.ImagePathColumn,
        };
        return new ImageClassifier(_ml, model, metadata);
    }

    private const string ClassWeightColumn = "ClassWeight";

    /// <summary>The keyed training rows with each row's class weight beside them.</summary>
    private IDataView WithClassWeights(FeaturizedData data, ClassBalanceReport balance)
    {
        var weights = balance.Weights.Select(kv => new KeyValuePair<string, float>(kv.Key, kv.Value));
        var weighted = _ml.Transforms.Conversion.MapValue(ClassWeightColumn, weights, HeadEstimator.LabelColumn).Fit(data.Train).Transform(data.Train);
        return _ml.Data.Cache(data.LabelToKey.Transform(weighted));
    }

    private ITransformer LabelToKey(IDataView train) =>
        _ml.Transforms.Conversion.MapValueToKey(HeadEstimator.LabelColumn, keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(train);

    /// <summary>A held-out split's report and every image's class probabilities (in the split's order, the classes' order).</summary>
    private sealed record Evaluation(ClassificationReport Report, IReadOnlyList<float[]> Scores);

    private Evaluation Evaluate(ITransformer head, IDataView keyed, IReadOnlyList<string> classes)
    {
        var scored = _ml.Data.Cache(HeadEstimator.ScoreKeyed(head, keyed), "Score", HeadEstimator.LabelColumn, "PredictedLabel");
        var metrics = _ml.MulticlassClassification.Evaluate(scored, HeadEstimator.LabelColumn, "Score", "PredictedLabel");
        var scores = scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToList();
        return new Evaluation(ClassificationReport.From(metrics, classes) with { Calibration = CalibrationReport.FromScored(scored, HeadEstimator.LabelColumn) }, scores);
    }

    private static string[] ClassNames(DataViewSchema.Column keyColumn)
    {
        VBuffer<ReadOnlyMemory<char>> names = default;
        keyColumn.GetKeyValues(ref names);
        return names.DenseValues().Select(v => v.ToString()).ToArray();
    }

    private IDataView ToDataView(IReadOnlyList<ImageExample> examples, float[][] embeddings, VectorDataViewType type)
    {
        var rows = examples.Select((e, i) => new EmbeddingRow { ImagePath = e.Path, Label = e.Label, Embedding = embeddings[i] }).ToArray();
        var schema = SchemaDefinition.Create(typeof(EmbeddingRow));
        schema[nameof(EmbeddingRow.Embedding)].ColumnType = type;
        schema[nameof(EmbeddingRow.Embedding)].ColumnName = ImageFeaturizer.EmbeddingColumn;
        return _ml.Data.LoadFromEnumerable(rows, schema);
    }

    private sealed class EmbeddingRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
        public float[] Embedding { get; set; } = [];
    }
}
