using System.Diagnostics;
using System.Globalization;
using MlNetTransfer.Backbones;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;

namespace MlNetTransfer;

public sealed partial class TransferLearningTrainer
{
    /// <summary>The auto strategy: featurize once, measure size and domain similarity on those embeddings, choose the scenario,
    /// then try candidates in its order (heads on the cached embeddings, then fine-tuning depths) within the budget and keep
    /// the best on validation.</summary>
    private TransferLearningResult TrainAuto(RunContext run)
    {
        var (budget, data, decision) = BeginSearch(run);
        return Search(run, budget, data, decision, AutoCandidate.InOrder(decision, run.Options.Auto), TransferLearningOptions.AutoStrategy);
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
        var run = Start(options, progress, cancel);
        var (budget, data, decision) = BeginSearch(run);
        return Search(run, budget, data, decision, AutoCandidate.Experiment(options.Auto), ExperimentStrategy);
    }

    /// <summary>The strategy name an experiment's report carries.</summary>
    public const string ExperimentStrategy = "experiment";

    private (TrainingBudget Budget, FeaturizedData Data, ScenarioDecision Decision) BeginSearch(RunContext run)
    {
        if (run.Dataset.Validation.Count == 0)
            throw new MlNetTransferException($"{run.Options.DataPath}: candidates are ranked on a validation split, and this run has none; give a validation fraction (--split 0.8,0.1,0.1) or a val/ folder.");
        var budget = new TrainingBudget(run.Options.Budget, run.Total);
        var data = Featurize(run, run.Options.Auto.Similarity.MiddleLayerDepths);
        return (budget, data, Decide(run, data));
    }

    /// <summary>Tries <paramref name="candidates"/> in order within the budget and keeps the best on validation.</summary>
    private TransferLearningResult Search(RunContext run, TrainingBudget budget, FeaturizedData data, ScenarioDecision decision,
        IReadOnlyList<AutoCandidate> candidates, string strategyName)
    {
        var (options, dataset, progress) = (run.Options, run.Dataset, run.Progress);
        var epochs = new EpochTimeEstimator();
        // A fine-tuning epoch passes over the training images and scores the validation images.
        epochs.SeedFromThroughput(dataset.Train.Count + dataset.Validation.Count, data.Report.ImagesPerSecond);
        double? fineTuneOverhead = data.Report.ImagesPerSecond > 0 ? (dataset.Validation.Count + dataset.Test.Count) / data.Report.ImagesPerSecond : null;
        double? headSeconds = null;
        var entries = new List<LeaderboardEntry>();
        var curves = new List<LearningCurve>();
        TransferLearningResult? best = null;
        LeaderboardEntry? bestEntry = null;
        int skipped = 0, stopped = 0, failed = 0;

        for (int i = 0; i < candidates.Count && !run.Cancel.IsCancellationRequested; i++)
        {
            var candidate = candidates[i];
            var bestSoFar = bestEntry is null ? "none yet" : $"{bestEntry.Candidate} {bestEntry.Score:0.000}";
            progress?.Report(new TrainingProgress(TrainingProgress.Searching, i, candidates.Count,
                $"{candidate.Name} ({i + 1}/{candidates.Count}, {budget.Remaining.TotalSeconds:0} s left; best so far {bestSoFar})"));

            // The first candidate always runs, so there is a model; later ones must fit in what is left.
            var remaining = budget.Remaining.TotalSeconds;
            int? epochCount = null;
            if (best is not null)
            {
                string? skip = null;
                if (budget.IsSpent) skip = "budget spent";
                else if (candidate.IsFineTune)
                {
                    var perEpoch = epochs.Estimate(candidate.FreezeFraction);
                    var overhead = fineTuneOverhead ?? 0;
                    if (perEpoch is { } e)
                    {
                        if (overhead + e > remaining)
                            skip = Invariant($"needs about {overhead + e:0} s for one epoch ({(epochs.IsMeasured ? "measured" : "from featurization speed")}); {remaining:0} s left");
                        else if (candidate.Method != CandidateMethod.ChainThaw) epochCount = Math.Clamp((int)((remaining - overhead) / e), 1, options.FineTune.Epoch);
                    }
                }
                else if (headSeconds is { } h && h > remaining)
                    skip = Invariant($"needs about {h:0} s (the last head's time); {remaining:0} s left");
                if (skip is not null)
                {
                    skipped++;
                    entries.Add(Entry(candidate, null, 0, "skipped", skip));
                    continue;
                }
            }

            var sw = Stopwatch.StartNew();
            TransferLearningResult result;
            if (!candidate.IsFineTune)
            {
                var candidateOptions = options.Copy();
                candidateOptions.Strategy = TransferLearningOptions.FeatureExtractor;
                candidateOptions.Head = options.Head.Clone();
                candidateOptions.Head.Trainer = candidate.Head!.Value;
                candidateOptions.Head.CrossValidationTimeLimit ??= HeadCrossValidation.TimeLimitWithin(budget.Remaining);
                result = FitHead(CandidateRun(run, candidateOptions, run.Cancel), data, candidateOptions.Head);
                headSeconds = sw.Elapsed.TotalSeconds;
            }
            else
            {
                var candidateOptions = options.Copy();
                candidateOptions.Strategy = candidate.Method == CandidateMethod.ChainThaw ? TransferLearningOptions.ChainThawStrategy : TransferLearningOptions.FineTuneStrategy;
                candidateOptions.FineTune = options.FineTune.Clone();
                candidateOptions.FineTune.FreezeFraction = candidate.FreezeFraction;
                candidateOptions.FineTune.TrainFromNode = null;
                candidateOptions.FineTune.ChainThaw = candidate.Method == CandidateMethod.ChainThaw ? options.FineTune.ChainThaw ?? new FineTuning.ChainThawOptions() : null;
                candidateOptions.FineTune.Epoch = epochCount ?? options.FineTune.Epoch;
                var candidateRun = CandidateRun(run, candidateOptions, CancellationToken.None);
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
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(run.Cancel);
                // The hard stop: a run still going at the budget ends at its next batch and keeps its best epoch. It comes early
                // by the estimated evaluation time, since the stopped run's held-out images still go through its new featurizer.
                deadline.CancelAfter(best is null ? Timeout.InfiniteTimeSpan
                    : TimeSpan.FromSeconds(Math.Max(0.5, budget.Remaining.TotalSeconds - (fineTuneOverhead ?? 0))));
                try
                {
                    result = TrainFineTuned(candidateRun with { Cancel = deadline.Token });
                }
                catch (OperationCanceledException) when (!run.Cancel.IsCancellationRequested)
                {
                    stopped++;
                    entries.Add(Entry(candidate, null, sw.Elapsed.TotalSeconds, "stopped at budget", "the budget ran out before its first epoch ended"));
                    continue;
                }
                catch (OperationCanceledException) when (best is not null)
                {
                    break; // Ctrl-C: keep the best candidate so far.
                }
                catch (MlNetTransferException e) when (best is not null)
                {
                    // One candidate that cannot run must not throw away the finished ones: it goes on the board with its reason.
                    failed++;
                    entries.Add(Entry(candidate, null, sw.Elapsed.TotalSeconds, "failed", e.Message));
                    continue;
                }
                var curve = result.Report.LearningCurve;
                if (curve.Count > 0)
                {
                    epochs.Observe(curve.Average(e => e.Seconds), candidate.FreezeFraction);
                    fineTuneOverhead = Math.Max(0, sw.Elapsed.TotalSeconds - curve.Sum(e => e.Seconds));
                    curves.Add(ExperimentDetails.FromEpochs(candidate.Name, curve));
                }
            }
            var wall = sw.Elapsed.TotalSeconds;
            var validation = result.Report.ValidationMetrics!;
            var ft = result.Report.FineTune;
            var status = ft is not { Cancelled: true } ? "completed" : run.Cancel.IsCancellationRequested ? "interrupted" : "stopped at budget";
            if (status == "stopped at budget") stopped++;
            var note = ft is null ? Invariant($"on cached embeddings; featurizing every image took {data.Seconds:0.0} s once, before the candidates") : Invariant($"{ft.EpochsRun} epoch(s), best epoch {ft.BestEpoch}{(ft.StoppedEarly ? ", stopped early" : "")}{(ft.Cancelled ? ", best epoch kept" : "")}");
            var tuning = result.Report.LearningCurve.Where(e => e.Phase != FineTuning.FineTunePhase.HeadPhase).Select(e => e.ImagesPerSecond).Order().ToList();
            var entry = Entry(candidate, validation, wall, status, note) with
            {
                FineTuningEpochs = ft is null ? null : tuning.Count,
                ImagesPerSecond = tuning.Count == 0 ? null : tuning[tuning.Count / 2],
            };
            entries.Add(entry);
            if (bestEntry is null || Better(entry, bestEntry))
            {
                best = result;
                bestEntry = entry;
            }
        }
        if (best is null)
        {
            run.Cancel.ThrowIfCancellationRequested();
            throw new MlNetTransferException($"Auto search: no candidate finished within the budget of {options.Budget}; give a larger --budget.");
        }

        var elapsed = budget.Elapsed.TotalSeconds;
        var leaderboard = new Leaderboard
        {
            Metric = "validation accuracy",
            BudgetSeconds = options.Budget.TotalSeconds,
            ElapsedSeconds = elapsed,
            Winner = bestEntry!.Candidate,
        };
        leaderboard = leaderboard with { Entries = new Leaderboard { Entries = entries }.Ranked() };
        progress?.Report(new TrainingProgress(TrainingProgress.Searching, candidates.Count, candidates.Count, $"winner {bestEntry.Candidate} {bestEntry.Score:0.000}"));
        var report = best.Report with
        {
            Strategy = strategyName,
            Scenario = decision,
            Leaderboard = leaderboard,
            CandidateCurves = curves,
            Budget = new BudgetReport
            {
                BudgetSeconds = options.Budget.TotalSeconds,
                ElapsedSeconds = elapsed,
                OvershootSeconds = Math.Max(0, elapsed - options.Budget.TotalSeconds),
                SkippedCandidates = skipped,
                StoppedCandidates = stopped,
                FailedCandidates = failed,
                Rule = "Counted from the start of the run (loading and featurizing included). The first candidate always runs; a later one " +
                       "starts only if its estimated time (the last head's, or fine-tuning epochs from the epoch time measured so far) fits in " +
                       "what is left; a fine-tuning run still going at the budget (less its estimated evaluation time) stops at its next batch and keeps " +
                       "its best epoch, then is evaluated, which is where an overshoot comes from.",
            },
            Timings = best.Report.Timings with { TotalSeconds = run.Total.Elapsed.TotalSeconds },
        };
        return new TransferLearningResult(_ml, best.Model, best.Metadata, report);
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
    };

    private static LeaderboardEntry Entry(AutoCandidate candidate, ClassificationReport? validation, double seconds, string status, string? note) => new()
    {
        Candidate = candidate.Name,
        Strategy = candidate.Family,
        FreezeFraction = candidate.FreezeFraction,
        Score = validation?.Accuracy,
        MacroF1 = validation?.MacroF1,
        WallSeconds = seconds,
        Status = status,
        Note = note,
    };

    /// <summary>The leaderboard's own order (<see cref="Leaderboard.Ranked"/>): higher validation accuracy wins, ties go to the
    /// candidate that took less time.</summary>
    private static bool Better(LeaderboardEntry a, LeaderboardEntry b) =>
        a.Score > b.Score || (a.Score == b.Score && a.WallSeconds < b.WallSeconds);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
