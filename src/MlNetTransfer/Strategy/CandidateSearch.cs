using System.Diagnostics;
using System.Globalization;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;

namespace MlNetTransfer.Strategy;

/// <summary>What a search needs trained: the facade's ways of fitting a head and fine-tuning, for one run's data.</summary>
internal interface ICandidateTrainer
{
    /// <summary>A head on the cached embeddings, evaluated; its regularisation search (when on) stops at
    /// <paramref name="crossValidationLimit"/>.</summary>
    TransferLearningResult FitHead(HeadTrainer trainer, TimeSpan crossValidationLimit);

    /// <summary>The measured cost of one fit of a head whose fits are dear (the boosted trees); null for the linear heads,
    /// which fit in seconds.</summary>
    TimeSpan? FitCost(HeadTrainer trainer);

    /// <summary>One fine-tuning candidate (fine-tune, chain-thaw or from scratch) trained to its end, or to <paramref name="cancel"/>, and evaluated.</summary>
    TransferLearningResult FineTune(AutoCandidate candidate, int epochs, CancellationToken cancel);

    /// <summary>A resumable fine-tuning run for successive halving, its schedule planned over <paramref name="plannedEpochs"/>;
    /// a probe start fits <paramref name="probe"/>.</summary>
    IFineTuneCandidate Start(AutoCandidate candidate, int plannedEpochs, HeadOptions probe);
}

/// <summary>A resumable fine-tuning run that becomes an evaluated result at the end.</summary>
internal interface IFineTuneCandidate : IHalvingRun
{
    /// <summary>Its learning curve so far.</summary>
    IReadOnlyList<EpochReport> Curve { get; }

    /// <summary>Ends it on its best epoch, packages and evaluates it; the run is spent afterwards.</summary>
    TransferLearningResult Complete();
}

/// <summary>What the search knows of the run it belongs to.</summary>
internal sealed record SearchContext
{
    public required TransferLearningOptions Options { get; init; }
    public required TrainingBudget Budget { get; init; }

    /// <summary>The scenario decision; null when the run has no images to measure the domain similarity on (see <see cref="ImagesUnavailable"/>).</summary>
    public required ScenarioDecision? Decision { get; init; }
    public required int TrainImages { get; init; }
    public required int ValidationImages { get; init; }
    public required int TestImages { get; init; }

    /// <summary>Images per second of the featurization (0 when every embedding came from the cache).</summary>
    public double FeaturizeImagesPerSecond { get; init; }
    public double FeaturizeSeconds { get; init; }

    /// <summary>Why fine-tuning candidates cannot run (the app has no fine-tuning engine); null when they can.</summary>
    public string? FineTuningUnavailable { get; init; }

    /// <summary>Why fine-tuning cannot run in a run without images (trained from embeddings shards), for its rows; null when the images are there.</summary>
    public string? ImagesUnavailable { get; init; }

    /// <summary>What the run could not measure, for the leaderboard's note (e.g. the domain similarity without images); null when nothing.</summary>
    public string? MeasurementNote { get; init; }
    public IProgress<TrainingProgress>? Progress { get; init; }
    public CancellationToken Cancel { get; init; }
    public double TotalSeconds => Budget.Elapsed.TotalSeconds;

    /// <summary>Rank candidates by validation macro-F1 rather than accuracy (classes imbalanced and weighted).</summary>
    public bool RankByMacroF1 { get; init; }
}

/// <summary>
/// The auto strategy's and the experiment's search: heads on the cached embeddings first (seconds each), then fine-tuning —
/// for auto, successive halving over freeze depths × head starts × learning rates (<see cref="SuccessiveHalving"/>); for the
/// experiment, its fixed rows one after another — all within the budget, keeping the best on validation.
/// </summary>
internal sealed class CandidateSearch(SearchContext context, ICandidateTrainer trainer)
{
    private readonly SearchReportBuilder _report = new() { RankByMacroF1 = context.RankByMacroF1 };
    private readonly EpochTimeEstimator _epochs = NewEstimator(context);
    private TransferLearningResult? _best;
    private LeaderboardEntry? _bestEntry;
    private string? _note;
    private double? _headSeconds;
    // Auto with fine-tuning to follow: when, on the budget's clock, the heads must be done (null: the heads may use the budget).
    private TimeSpan? _headsEnd;
    // Time after a fine-tuning run's last epoch: packaging and the held-out images through its new featurizer.
    private double? _fineTuneOverhead = context.FeaturizeImagesPerSecond > 0 ? (context.ValidationImages + context.TestImages) / context.FeaturizeImagesPerSecond : null;

    private TrainingBudget Budget => context.Budget;

    private static EpochTimeEstimator NewEstimator(SearchContext context)
    {
        var epochs = new EpochTimeEstimator();
        // A fine-tuning epoch passes over the training images and scores the validation images.
        epochs.SeedFromThroughput(context.TrainImages + context.ValidationImages, context.FeaturizeImagesPerSecond);
        return epochs;
    }

    /// <summary>The auto strategy: the heads, then successive halving over the fine-tuning grid.</summary>
    public TransferLearningResult Auto()
    {
        var options = context.Options;
        options.Auto.Validate();
        var heads = options.Auto.Heads.Distinct().Select(AutoCandidate.ForHead).ToList();
        if (heads.Count == 0 && !options.Auto.FineTune)
            throw new MlNetTransferException("Auto search: no heads and fine-tuning off leaves no candidate to try.");
        var fineTune = options.Auto.FineTune;
        // From embeddings alone only heads can train; the fine-tuning scenarios get a row each saying why they did not run.
        if (context.ImagesUnavailable is { } noImages)
        {
            if (heads.Count == 0) throw new MlNetTransferException($"Auto search: no heads, and {noImages}.");
            _note = context.MeasurementNote;
            if (fineTune)
            {
                foreach (var scenario in FineTuningScenarios)
                    _report.Add(AutoCandidate.ForScenario(scenario), 1, null, 0, CandidateStatus.NotRun, noImages);
                _note = $"Heads only: {noImages}." + (_note is null ? "" : $" {_note}");
                fineTune = false;
            }
            if (_note is not null) context.Progress?.Report(new TrainingProgress(TrainingProgress.Searching, 0, 0, _note));
        }
        // Without the engine package, auto still gives the best head (what a core-only app can train) and says what it left out.
        if (fineTune && context.FineTuningUnavailable is { } missing)
        {
            if (heads.Count == 0) throw new MlNetTransferException($"Auto search: no heads, and {missing}");
            fineTune = false;
            _note = $"Heads only, no fine-tuning candidate. {missing}";
            context.Progress?.Report(new TrainingProgress(TrainingProgress.Searching, 0, 0, _note));
        }
        // The heads are the cheap candidates, but each one's regularisation search grows with classes and rows (measured on the
        // Fashion-MNIST subset: 23-54 s a head, two minutes for the four); when fine-tuning follows they share a fixed part of
        // what is left, so the fine-tuning candidates keep the epochs they need.
        if (fineTune && heads.Count > 0) _headsEnd = Budget.Elapsed + Budget.Remaining * options.Auto.HeadShare;
        var headResults = new Dictionary<HeadTrainer, TransferLearningResult>();
        RunSequentially(heads, (c, r) => headResults[c.Head!.Value] = r);
        _headsEnd = null;

        HalvingPlan? plan = null;
        if (fineTune && !context.Cancel.IsCancellationRequested)
            plan = Halve(headResults);
        return Finish(TransferLearningOptions.AutoStrategy, plan, AutoRule);
    }

    private static readonly TransferScenario[] FineTuningScenarios =
        [TransferScenario.FineTuneTop, TransferScenario.FineTuneFromEarlierLayers, TransferScenario.FineTuneAll];

    /// <summary>The experiment: its rows one after another under the same budget rules.</summary>
    public TransferLearningResult Experiment(IReadOnlyList<AutoCandidate> candidates, string strategy)
    {
        RunSequentially(candidates, (_, _) => { });
        return Finish(strategy, null, SequentialRule);
    }

    private const string SequentialRule =
        "Counted from the start of the run (loading and featurizing included). The first candidate always runs; a later one " +
        "starts only if its estimated time (the last head's, or fine-tuning epochs from the epoch time measured so far) fits in " +
        "what is left; a fine-tuning run still going at the budget (less its estimated evaluation time) stops at its next batch and keeps " +
        "its best epoch, then is evaluated, which is where an overshoot comes from.";

    private const string AutoRule =
        "Counted from the start of the run (loading and featurizing included). The heads on cached embeddings run first (the first " +
        "always; a later one only if the last head's time fits). Fine-tuning candidates then share what is left by successive halving " +
        "(search.rule): a candidate starts a rung only if its estimated time fits, less the time kept for evaluating the winner; a run " +
        "still going at that point stops at its next batch and keeps its best epoch. The winner is then evaluated through its saved " +
        "model, which is where an overshoot comes from.";

    /// <summary>Tries <paramref name="candidates"/> in order within the budget (rung 0 for heads, 1 for fine-tuning rows).</summary>
    private void RunSequentially(IReadOnlyList<AutoCandidate> candidates, Action<AutoCandidate, TransferLearningResult> finished)
    {
        var (options, progress) = (context.Options, context.Progress);
        for (int i = 0; i < candidates.Count && !context.Cancel.IsCancellationRequested; i++)
        {
            var candidate = candidates[i];
            var rung = candidate.IsFineTune ? 1 : 0;
            if (candidate.IsFineTune && context.FineTuningUnavailable is { } missing)
            {
                _report.Add(candidate, rung, null, 0, CandidateStatus.Failed, missing);
                continue;
            }
            var bestSoFar = _bestEntry is null ? "none yet" : $"{_bestEntry.Candidate} {_bestEntry.Score:0.000}";
            progress?.Report(new TrainingProgress(TrainingProgress.Searching, i, candidates.Count,
                $"{candidate.Name} ({i + 1}/{candidates.Count}, {Budget.Remaining.TotalSeconds:0} s left; best so far {bestSoFar})"));

            // The first candidate always runs, so there is a model; later ones must fit in what is left.
            var remaining = Budget.Remaining.TotalSeconds;
            int? epochCount = null;
            TimeSpan? fitCost = null;
            if (_best is not null)
            {
                string? skip = null;
                if (Budget.IsSpent) skip = "budget spent";
                else if (candidate.IsFineTune)
                {
                    var perEpoch = _epochs.Estimate(candidate.FreezeFraction);
                    var overhead = _fineTuneOverhead ?? 0;
                    if (perEpoch is { } e)
                    {
                        if (overhead + e > remaining)
                            skip = Invariant($"needs about {overhead + e:0} s for one epoch ({(_epochs.IsMeasured ? "measured" : "from featurization speed")}); {remaining:0} s left");
                        else if (candidate.Method != CandidateMethod.ChainThaw) epochCount = Math.Clamp((int)((remaining - overhead) / e), 1, options.FineTune.Epoch);
                    }
                }
                else if (_headSeconds is { } h && h > remaining)
                    skip = Invariant($"needs about {h:0} s (the last head's time); {remaining:0} s left");
                else if (HeadsLeft() is { } left && (left <= TimeSpan.Zero || _headSeconds > left.TotalSeconds))
                    skip = Invariant($"the heads' share of the budget ({options.Auto.HeadShare:0.##} of what was left, until {_headsEnd!.Value.TotalSeconds:0} s) is spent; the rest is kept for fine-tuning");
                else if (HeadsLeft() is { } share && (fitCost = trainer.FitCost(candidate.Head!.Value)) is { } cost && cost > share)
                    skip = Invariant($"one fit needs about {cost.TotalSeconds:0} s (measured on a few boosting rounds) and {share.TotalSeconds:0} s of the heads' share of the budget are left; the rest is kept for fine-tuning");
                if (skip is not null)
                {
                    _report.Add(candidate, rung, null, 0, CandidateStatus.Skipped, skip);
                    continue;
                }
            }

            var sw = Stopwatch.StartNew();
            TransferLearningResult result;
            if (!candidate.IsFineTune)
            {
                var headsToCome = candidates.Skip(i).Count(c => !c.IsFineTune);
                var limit = CrossValidationLimit(headsToCome);
                // A search that cannot score one value within its limit would only overrun it: a dear head then trains at its defaults.
                if (fitCost is { } c && HeadCrossValidation.FirstValueTime(c, options.Head.CrossValidationFolds) > limit)
                    limit = TimeSpan.Zero;
                result = trainer.FitHead(candidate.Head!.Value, limit);
                // The rule for a later head counts its final fit, not the search, which has its own limit.
                _headSeconds = result.Report.Trainer.CrossValidation is { } cv ? Math.Max(0, sw.Elapsed.TotalSeconds - cv.Seconds) : sw.Elapsed.TotalSeconds;
            }
            else
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.Cancel);
                // The hard stop: a run still going at the budget ends at its next batch and keeps its best epoch. It comes early
                // by the estimated evaluation time, since the stopped run's held-out images still go through its new featurizer.
                deadline.CancelAfter(_best is null ? Timeout.InfiniteTimeSpan
                    : TimeSpan.FromSeconds(Math.Max(0.5, Budget.Remaining.TotalSeconds - (_fineTuneOverhead ?? 0))));
                try
                {
                    result = trainer.FineTune(candidate, epochCount ?? options.FineTune.Epoch, deadline.Token);
                }
                catch (OperationCanceledException) when (!context.Cancel.IsCancellationRequested)
                {
                    _report.Add(candidate, rung, null, sw.Elapsed.TotalSeconds, CandidateStatus.StoppedAtBudget, "the budget ran out before its first epoch ended");
                    continue;
                }
                catch (OperationCanceledException) when (_best is not null)
                {
                    break; // Ctrl-C: keep the best candidate so far.
                }
                catch (MlNetTransferException e) when (_best is not null)
                {
                    // One candidate that cannot run must not throw away the finished ones: it goes on the board with its reason.
                    _report.Add(candidate, rung, null, sw.Elapsed.TotalSeconds, CandidateStatus.Failed, e.Message);
                    continue;
                }
                var curve = result.Report.LearningCurve;
                if (curve.Count > 0)
                {
                    _epochs.Observe(curve.Average(e => e.Seconds), candidate.FreezeFraction);
                    _fineTuneOverhead = Math.Max(0, sw.Elapsed.TotalSeconds - curve.Sum(e => e.Seconds));
                    _report.AddCurve(candidate.Name, curve);
                }
            }
            var ft = result.Report.FineTune;
            var status = ft is not { Cancelled: true } ? CandidateStatus.Completed
                : context.Cancel.IsCancellationRequested ? CandidateStatus.Interrupted : CandidateStatus.StoppedAtBudget;
            var note = ft is null
                ? Invariant($"on cached embeddings; featurizing every image took {context.FeaturizeSeconds:0.0} s once, before the candidates")
                : Invariant($"{ft.EpochsRun} epoch(s), best epoch {ft.BestEpoch}{(ft.StoppedEarly ? ", stopped early" : "")}{(ft.Cancelled ? ", best epoch kept" : "")}");
            var entry = _report.Add(candidate, rung, result.Report.ValidationMetrics, sw.Elapsed.TotalSeconds, status, note, ft is null ? null : result.Report.LearningCurve);
            finished(candidate, result);
            Consider(result, entry);
        }
    }

    /// <summary>What is left of the heads' share, or null when the heads are not held to one.</summary>
    private TimeSpan? HeadsLeft() => _headsEnd is { } end ? end - Budget.Elapsed : null;

    /// <summary>How long a head's regularisation search may take, with <paramref name="heads"/> heads (this one included) still
    /// to run: an equal part of the heads' share less a fifth for the final fit and its evaluation; without a share,
    /// <see cref="HeadCrossValidation.BudgetShare"/> of the budget left.</summary>
    private TimeSpan CrossValidationLimit(int heads) => HeadsLeft() is { } left
        ? (left > TimeSpan.Zero ? left / Math.Max(1, heads) * 0.8 : TimeSpan.Zero)
        : HeadCrossValidation.TimeLimitWithin(Budget.Remaining);

    private void Consider(TransferLearningResult result, LeaderboardEntry entry)
    {
        if (_bestEntry is not null && !_report.Outranks(entry, _bestEntry)) return;
        _best = result;
        _bestEntry = entry;
    }

    /// <summary>Successive halving over the fine-tuning grid; the best run, evaluated, competes with the heads. When the evidence
    /// chose one head start and every run of it ended before the budget (early stopping, or the last one's planned epochs), the other start gets what is left,
    /// in a halving of its own: a budget the user gave is not left unspent while a candidate the grid holds was not tried.</summary>
    private HalvingPlan Halve(IReadOnlyDictionary<HeadTrainer, TransferLearningResult> heads)
    {
        var options = context.Options;
        var decision = context.Decision ?? throw new InvalidOperationException("Successive halving needs the scenario decision; a run without images has none.");
        var auto = options.Auto;
        var frozen = heads.Values.Select(r => r.Report.ValidationMetrics?.Accuracy).Where(a => a is not null).DefaultIfEmpty(null).Max();
        var starts = HeadStartChoice.Choose(auto.HeadStart, frozen, decision, auto.StrongHeadAccuracy);
        var probe = Probe(heads);
        var plan = HalveOver(starts.Starts, probe, alwaysRecord: true)! with { HeadStart = starts };

        var others = auto.HeadStart == HeadStartMode.Auto ? Enum.GetValues<HeadStart>().Except(starts.Starts).ToList() : [];
        if (others.Count == 0 || context.Cancel.IsCancellationRequested || Budget.IsSpent) return plan;
        var left = Budget.Remaining.TotalSeconds;
        if (HalveOver(others, probe, alwaysRecord: false) is not { } second) return plan;
        var names = string.Join(" and ", others.Select(s => s.Name()));
        return plan with
        {
            GridSize = plan.GridSize + second.GridSize,
            Candidates = plan.Candidates + second.Candidates,
            HeadStart = starts with
            {
                Starts = [.. starts.Starts, .. others],
                Reason = starts.Reason + Invariant($" Every run of that start ended before the budget, so the {left:0} s left went to the {names} start, in a halving of its own."),
            },
            Rule = plan.Rule + Invariant($" Then, for the {names} start with the {left:0} s left: ") + second.Rule,
        };
    }

    /// <summary>One successive halving over the grid of <paramref name="starts"/>; its rows join the leaderboard and its best run,
    /// evaluated, competes. Null, with no rows, when <paramref name="alwaysRecord"/> is off and the budget left fits no candidate.</summary>
    private HalvingPlan? HalveOver(IReadOnlyList<HeadStart> starts, HeadOptions probe, bool alwaysRecord)
    {
        var options = context.Options;
        var auto = options.Auto;
        var rates = auto.LearningRateFactors.Distinct().Select(f => options.FineTune.LearningRate * f).ToList();
        var grid = AutoCandidate.FineTuneGrid(AutoCandidate.Depths(context.Decision!, auto.FreezeDepths), starts, rates, options.FineTune.LearningRate);

        // A head start costs about one pass of the frozen network over the training and validation images.
        var startSeconds = context.FeaturizeImagesPerSecond > 0 ? (context.TrainImages + context.ValidationImages) / context.FeaturizeImagesPerSecond : 0;
        var halving = new SuccessiveHalving(auto, Budget, _epochs, startSeconds, _fineTuneOverhead ?? 0, mustStart: _best is null);
        var plan = halving.Plan(grid, auto.MaximumEpochs) with { Augmentation = auto.CandidateAugmentation(options.FineTune.Augmentation).Describe() };
        if (plan.Candidates == 0 && !alwaysRecord) return null;
        var (rows, runs) = halving.Run(grid, plan, c => trainer.Start(c, plan.PlannedEpochs, probe),
            message => context.Progress?.Report(new TrainingProgress(TrainingProgress.Searching, 0, 0, message)), context.Cancel);
        try
        {
            var entries = rows.Select(r => (Row: r, Entry: _report.Add(r.Candidate, r.Rung, r.Score, null, r.Seconds, r.Status, r.Note,
                runs.TryGetValue(r.Candidate, out var run) && r.Score is not null ? Curve(run, r.Epochs) : null, r.Loss))).ToList();
            foreach (var (candidate, run) in runs) _report.AddCurve(candidate.Name, ((IFineTuneCandidate)run).Curve);
            if (SuccessiveHalving.Best(grid, runs) is not { } best) return plan;

            // The winning run is evaluated as it will predict, through its saved model; its last row carries that score.
            var sw = Stopwatch.StartNew();
            var result = ((IFineTuneCandidate)runs[best]).Complete();
            var last = entries.Last(e => e.Row.Candidate == best && e.Row.Score is not null);
            var evaluated = last.Entry with
            {
                Score = result.Report.ValidationMetrics?.Accuracy,
                MacroF1 = result.Report.ValidationMetrics?.MacroF1,
                LogLoss = result.Report.ValidationMetrics?.LogLoss,
                WallSeconds = last.Entry.WallSeconds + sw.Elapsed.TotalSeconds,
                Note = Invariant($"the best run, evaluated through its saved model (at its best epoch it scored {last.Row.Score:0.000} in training)") +
                       (last.Entry.Note is { } n ? $"; {n}" : ""),
            };
            _report.Replace(last.Entry, evaluated);
            Consider(result, evaluated);
            return plan;
        }
        finally
        {
            foreach (var run in runs.Values) run.Dispose();
        }
    }

    /// <summary>The epochs of <paramref name="run"/> up to the end of a rung with <paramref name="epochs"/> fine-tuning epochs.</summary>
    private static IReadOnlyList<EpochReport> Curve(IHalvingRun run, int epochs)
    {
        var curve = ((IFineTuneCandidate)run).Curve;
        var kept = new List<EpochReport>();
        var tuning = 0;
        foreach (var e in curve)
        {
            if (e.Phase != FineTunePhase.HeadPhase && ++tuning > epochs) break;
            kept.Add(e);
        }
        return kept;
    }

    /// <summary>The probe a probe start fits: the best softmax head on the frozen embeddings (sdca or lbfgs), with the
    /// regularisation it was fitted with (cross-validated when that ran); the run's head options when neither ran.</summary>
    private HeadOptions Probe(IReadOnlyDictionary<HeadTrainer, TransferLearningResult> heads)
    {
        var options = context.Options.Head.Clone();
        var best = heads.Where(h => h.Key is HeadTrainer.Sdca or HeadTrainer.Lbfgs)
            .OrderByDescending(h => h.Value.Report.ValidationMetrics?.Accuracy ?? 0).Select(h => (KeyValuePair<HeadTrainer, TransferLearningResult>?)h).FirstOrDefault();
        if (best is { } b)
        {
            options.Trainer = b.Key;
            options.L2Regularization = b.Value.Report.Trainer.L2Regularization;
            options.L1Regularization = b.Value.Report.Trainer.L1Regularization;
        }
        else if (options.Trainer is not (HeadTrainer.Sdca or HeadTrainer.Lbfgs)) options.Trainer = HeadTrainer.Lbfgs;
        // The probe folds into one linear layer, which L2 normalisation (per image) does not.
        if (options.Normalization == EmbeddingNormalization.L2) options.Normalization = EmbeddingNormalization.MeanVariance;
        options.CrossValidationFolds = 0;
        return options;
    }

    private TransferLearningResult Finish(string strategy, HalvingPlan? plan, string rule)
    {
        if (_best is null)
        {
            context.Cancel.ThrowIfCancellationRequested();
            throw new MlNetTransferException($"Auto search: no candidate finished within the budget of {context.Options.Budget}; give a larger --budget.");
        }
        context.Progress?.Report(new TrainingProgress(TrainingProgress.Searching, 1, 1, $"winner {_bestEntry!.Candidate} {_bestEntry.Score:0.000}"));
        var report = _report.Build(_best.Report, _bestEntry!, strategy, context.Decision, Budget, plan, rule, context.TotalSeconds, _note);
        return _best.WithReport(report);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
