using System.Diagnostics;
using System.Globalization;
using MlNetTransfer.Backbones;
using MlNetTransfer.Featurization;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;

namespace MlNetTransfer;

public sealed partial class TransferLearningTrainer
{
    /// <summary>The auto strategy: featurize once, measure size and domain similarity on those embeddings, choose the scenario,
    /// then search (<see cref="CandidateSearch"/>): heads on the cached embeddings, then successive halving over fine-tuning
    /// candidates seeded by the scenario, within the budget; the best on validation wins.</summary>
    private TransferLearningResult TrainAuto(RunContext run)
    {
        var (budget, data, decision) = BeginSearch(run);
        return NewSearch(run, budget, data, decision).Auto();
    }

    /// <summary>
    /// The side-by-side comparison on one split under one budget: each head on the frozen backbone, fine-tuning the top,
    /// fine-tuning everything, chain-thaw, and the same architecture trained from scratch (random weights). Candidates are
    /// tried in that order under the auto strategy's budget rules; the result holds the best one on validation, and its
    /// report the leaderboard (accuracy, macro-F1, wall time of every row), each fine-tuned row's learning curve and the
    /// scenario the data set falls in. Uses <see cref="TransferLearningOptions.Budget"/>, <see cref="TransferLearningOptions.Auto"/>
    /// (heads), <see cref="TransferLearningOptions.FineTune"/> (epochs and the rest) and <see cref="TransferLearningOptions.Head"/>;
    /// <see cref="TransferLearningOptions.Strategy"/> is ignored.
    /// </summary>
    public TransferLearningResult Experiment(TransferLearningOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.DataPath)) throw new MlNetTransferException("No data given: set DataPath (--data) to an image folder or a CSV/TSV manifest.");
        options.Auto.Validate();
        var run = Start(options, progress, cancel);
        var (budget, data, decision) = BeginSearch(run);
        return NewSearch(run, budget, data, decision).Experiment(AutoCandidate.Experiment(options.Auto), ExperimentStrategy);
    }

    /// <summary>The strategy name an experiment's report carries.</summary>
    public const string ExperimentStrategy = "experiment";

    private (TrainingBudget Budget, FeaturizedData Data, ScenarioDecision? Decision) BeginSearch(RunContext run)
    {
        if (run.Dataset.Validation.Count == 0)
            throw new MlNetTransferException($"{run.Options.EmbeddingsPath ?? run.Options.DataPath}: candidates are ranked on a validation split, and this run has none; give a validation fraction (--split 0.8,0.1,0.1) or a val/ folder.");
        var budget = new TrainingBudget(run.Options.Budget, run.Total);
        // Shards hold the embeddings only: no middle layers to tap, no pixels to measure, so no scenario decision.
        if (run.Gathered is not null) return (budget, Featurize(run), null);
        var data = Featurize(run, run.Options.Auto.Similarity.MiddleLayerDepths);
        return (budget, data, Decide(run, data));
    }

    /// <summary>Size and domain similarity of the training split, measured on the embeddings already computed, and the
    /// scenario they point to.</summary>
    private ScenarioDecision Decide(RunContext run, FeaturizedData data)
    {
        var (options, dataset, progress, cancel) = (run.Options, run.Dataset, run.Progress, run.Cancel);
        var train = dataset.Train;
        var classIndex = data.Classes.Select((c, k) => (c, k)).ToDictionary(p => p.c, p => p.k);
        var labels = train.Select(e => classIndex[e.Label]).ToArray();
        var paths = train.Select(e => e.Path).ToList();
        var embeddings = data.Embeddings[..train.Count];

        progress?.Report(new TrainingProgress(TrainingProgress.Measuring, 0, 0, "pixel baseline"));
        var pixels = PixelBaseline.Compute(paths, cancel: cancel);
        float[][]? probabilities = null;
        string[]? sourceClasses = null;
        var spec = run.Resolved.Spec;
        // Only a real source head says anything about the source domain: one with class names (a labels file).
        if (options.Auto.MeasureSourceHead && spec.LabelsFile is { } labelsFile)
        {
            progress?.Report(new TrainingProgress(TrainingProgress.Measuring, 0, paths.Count, "the backbone's own classifier"));
            sourceClasses = PretrainedClassifierHead.ReadLabels(labelsFile);
            var classifier = BackbonePreparer.PrepareClassifier(run.Resolved.Model, spec);
            probabilities = SourceHeadPredictions.Predict(_ml, classifier, paths, options.Featurizer,
                progress is null ? null : new InlineProgress<int>(n => progress.Report(new TrainingProgress(TrainingProgress.Measuring, n, paths.Count, "the backbone's own classifier"))), cancel);
        }
        progress?.Report(new TrainingProgress(TrainingProgress.Measuring, 0, 0, "LogME and k-NN probes"));
        var similarity = DomainSimilarity.Measure(embeddings, labels, pixels, probabilities, sourceClasses, options.Auto.Similarity, data.Middle?.Select(m => m with { Rows = m.Rows[..train.Count] }).ToList());
        var size = DatasetSize.FromLabels(labels, options.Auto.Size);
        return ScenarioMatrix.Choose(size, similarity, options.Auto.Matrix, spec.SourceDomain);
    }

    private static RunContext CandidateRun(RunContext run, TransferLearningOptions options, CancellationToken cancel) => new()
    {
        Options = options,
        Progress = run.Progress,
        Cancel = cancel,
        Dataset = run.Dataset,
        Resolved = run.Resolved,
        LoadSeconds = run.LoadSeconds,
        Balance = run.Balance,
    };

    private CandidateSearch NewSearch(RunContext run, TrainingBudget budget, FeaturizedData data, ScenarioDecision? decision) => new(new SearchContext
    {
        Options = run.Options,
        Budget = budget,
        Decision = decision,
        TrainImages = run.Dataset.Train.Count,
        ValidationImages = run.Dataset.Validation.Count,
        TestImages = run.Dataset.Test.Count,
        FeaturizeImagesPerSecond = data.Report.ImagesPerSecond,
        FeaturizeSeconds = data.Seconds,
        FineTuningUnavailable = _engine() is null ? FineTuningEngines.MissingMessage("Fine-tuning") : null,
        ImagesUnavailable = run.Gathered is null ? null : ImagesUnavailable,
        MeasurementNote = run.Gathered is null ? null : DescribeSimilarityWithoutImages(run, data),
        Progress = run.Progress,
        Cancel = run.Cancel,
        RankByMacroF1 = run.Balance.Applied,
    }, new SearchTrainer(this, run, data));

    /// <summary>How a search trains its candidates: this facade's head and fine-tuning paths, on one run's data.</summary>
    private sealed class SearchTrainer(TransferLearningTrainer owner, RunContext run, FeaturizedData data) : ICandidateTrainer
    {
        private IReadOnlyList<string>? _classes;
        // The first run of each head start trains the head phase; later ones with the same start begin from its snapshot.
        private readonly Dictionary<HeadStart, IResumableFineTuning> _headStarts = [];

        public TransferLearningResult FitHead(HeadTrainer trainer, TimeSpan crossValidationLimit)
        {
            var candidateOptions = run.Options.Copy();
            candidateOptions.Strategy = TransferLearningOptions.FeatureExtractor;
            candidateOptions.Head = run.Options.Head.Clone();
            candidateOptions.Head.Trainer = trainer;
            candidateOptions.Head.CrossValidationTimeLimit ??= crossValidationLimit;
            return owner.FitHead(CandidateRun(run, candidateOptions, run.Cancel), data, candidateOptions.Head);
        }

        public TransferLearningResult FineTune(AutoCandidate candidate, int epochs, CancellationToken cancel)
        {
            var options = run.Options;
            var candidateOptions = options.Copy();
            candidateOptions.Strategy = candidate.Method == CandidateMethod.ChainThaw ? TransferLearningOptions.ChainThawStrategy : TransferLearningOptions.FineTuneStrategy;
            candidateOptions.FineTune = CandidateFineTune(options, candidate);
            candidateOptions.FineTune.ChainThaw = candidate.Method == CandidateMethod.ChainThaw ? options.FineTune.ChainThaw ?? new FineTuning.ChainThawOptions() : null;
            candidateOptions.FineTune.Epoch = epochs;
            var candidateRun = CandidateRun(run, candidateOptions, cancel);
            if (candidate.Method == CandidateMethod.FromScratch)
            {
                // Random weights deserve the new head's learning rate, not the gentle one meant for pretrained layers.
                candidateOptions.FineTune.PretrainedLearningRateFactor = 1;
                candidateRun.Resolved = run.Resolved with
                {
                    Model = Backbones.Onnx.WeightReinitializer.Reinitialize(run.Resolved.Model, options.Seed),
                    Source = run.Resolved.Source + " (weights re-initialised)",
                };
            }
            return owner.TrainFineTuned(candidateRun);
        }

        /// <summary>What every candidate's fine-tuning options share: its depth (no named node).</summary>
        private static FineTuning.FineTuneOptions CandidateFineTune(TransferLearningOptions options, AutoCandidate candidate)
        {
            var fineTune = options.FineTune.Clone();
            fineTune.FreezeFraction = candidate.FreezeFraction;
            fineTune.TrainFromNode = null;
            return fineTune;
        }

        public TimeSpan? FitCost(HeadTrainer trainer)
        {
            var options = run.Options.Head.Clone();
            options.Trainer = trainer;
            return HeadFitCost.Estimate(data.KeyedTrain, ImageFeaturizer.EmbeddingColumn, options, run.Options.Seed);
        }

        public IFineTuneCandidate Start(AutoCandidate candidate, int plannedEpochs, HeadOptions probe)
        {
            var candidateOptions = run.Options.Copy();
            candidateOptions.Strategy = TransferLearningOptions.FineTuneStrategy;
            candidateOptions.FineTune = CandidateFineTune(run.Options, candidate);
            // Auto's own crop for its halving's short schedules; the experiment's rows (FineTune above) keep the options' crop.
            candidateOptions.FineTune.Augmentation = run.Options.Auto.CandidateAugmentation(run.Options.FineTune.Augmentation);
            candidateOptions.FineTune.ChainThaw = null;
            candidateOptions.FineTune.Epoch = plannedEpochs;
            candidateOptions.FineTune.LearningRate = candidate.LearningRate ?? candidateOptions.FineTune.LearningRate;
            if (candidate.Start is { } start) candidateOptions.FineTune.LinearProbe = start == HeadStart.Probe ? probe : null;
            var candidateRun = CandidateRun(run, candidateOptions, run.Cancel);
            var fineTune = FineTuneOptionsFor(candidateOptions);
            fineTune.ClassWeights = run.Balance.Applied ? run.Balance.Weights : null;
            fineTune.KeepsHeadStartEpoch = false;
            // The head phase trains on the embeddings featurization already computed rather than a second pass of the network.
            var (trainCount, validationCount) = (run.Dataset.Train.Count, run.Dataset.Validation.Count);
            fineTune.HeadInputs = (data.Embeddings[..trainCount], data.Embeddings[trainCount..(trainCount + validationCount)]);
            _classes ??= owner.FineTuneClasses(run.Dataset);
            var tuning = owner.StartFineTuning(candidateRun, fineTune, _classes);
            if (candidate.Start is { } key)
            {
                if (_headStarts.TryGetValue(key, out var donor) && donor.HeadStart is { } snapshot)
                {
                    try
                    {
                        tuning.StartFrom(snapshot);
                    }
                    catch (InvalidOperationException)
                    {
                        // Other head settings (cannot happen within one search's grid): the run trains its own head phase.
                    }
                }
                else if (!_headStarts.ContainsKey(key) || donor?.HeadStart is null)
                {
                    tuning.KeepHeadStart = true;
                    _headStarts[key] = tuning;
                }
            }
            return new HalvingCandidate(owner, candidateRun, fineTune, _classes, tuning);
        }
    }

    /// <summary>A successive-halving candidate: a resumable fine-tuning run, evaluated like any fine-tuning result at the end.</summary>
    private sealed class HalvingCandidate(TransferLearningTrainer owner, RunContext run, FineTuneOptions fineTune, IReadOnlyList<string> classes,
        IResumableFineTuning tuning) : IFineTuneCandidate
    {
        private double _trainSeconds;

        public bool IsFinished => tuning.IsFinished;
        public bool Cancelled => tuning.Run.Cancelled;
        public int Epochs => tuning.FineTuningEpochs;
        public double? Score => tuning.Run.Best?.ValidationAccuracy;
        public double? Loss => tuning.Run.Best?.ValidationLoss;
        public double? LatestScore => Tuned.LastOrDefault()?.ValidationAccuracy;
        public double? LatestLoss => Tuned.LastOrDefault()?.ValidationLoss;

        public double? EpochSeconds
        {
            get
            {
                var tuned = Tuned.ToList();
                return tuned.Count == 0 ? null : tuned.Average(e => e.Seconds);
            }
        }

        /// <summary>Its fine-tuning epochs: the head phase (warm-up or probe) left out.</summary>
        private IEnumerable<FineTuning.FineTuneEpoch> Tuned => tuning.Run.Epochs.Where(e => e.Phase != FineTuning.FineTunePhase.HeadPhase);

        public IReadOnlyList<EpochReport> Curve => TrainingReportBuilder.Curve(tuning.Run);

        public void Advance(int epochs, CancellationToken cancel)
        {
            var sw = Stopwatch.StartNew();
            try
            {
                tuning.Advance(epochs, FineTuneProgress(run), cancel);
            }
            finally
            {
                _trainSeconds += sw.Elapsed.TotalSeconds;
            }
        }

        public void TrainToEnd(Func<int, double, int> endAt) => (tuning.StopsEarly, tuning.Replan) = (false, endAt);

        public TransferLearningResult Complete()
        {
            using var tuned = tuning.Complete();
            return owner.Evaluated(run, fineTune, classes, tuned, _trainSeconds);
        }

        public void Dispose() => tuning.Dispose();
    }
}
