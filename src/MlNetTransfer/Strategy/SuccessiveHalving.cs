using System.Globalization;
using MlNetTransfer.Reporting;

namespace MlNetTransfer.Strategy;

/// <summary>A fine-tuning candidate's run as successive halving drives it: trained a few epochs at a time, each time going on
/// from where it stopped.</summary>
internal interface IHalvingRun : IDisposable
{
    /// <summary>True once it cannot train further: all its planned epochs, early stopping, or a cancellation.</summary>
    bool IsFinished { get; }

    /// <summary>True when a cancellation (the budget's hard stop, or the user) ended it; it keeps its best epoch.</summary>
    bool Cancelled { get; }

    /// <summary>Fine-tuning epochs trained so far (the head's warm-up or probe not counted).</summary>
    int Epochs { get; }

    /// <summary>Validation accuracy of the epoch it would keep (the best so far); null before any epoch.</summary>
    double? Score { get; }

    /// <summary>That epoch's validation loss (ties on accuracy go to the lower).</summary>
    double? Loss { get; }

    /// <summary>Validation accuracy of its latest fine-tuning epoch: the weights it goes on from. Null before any. Differs from
    /// <see cref="Score"/> when an earlier epoch, or the head start every run with that start shares, validated better.</summary>
    double? LatestScore { get; }

    /// <summary>That epoch's validation loss.</summary>
    double? LatestLoss { get; }

    /// <summary>Mean seconds of its fine-tuning epochs so far, for the next estimates; null before any.</summary>
    double? EpochSeconds { get; }

    /// <summary>From now on early stopping's patience does not end it, and after each epoch (but the first of an
    /// <see cref="Advance"/>, which decodes the images again) its schedule is shortened to <paramref name="endAt"/>(epochs so far,
    /// its fastest epoch's seconds); it keeps its best epoch. For the last one left, whose schedule ends where the budget does.</summary>
    void TrainToEnd(Func<int, double, int> endAt);

    /// <summary>Trains up to <paramref name="epochs"/> more fine-tuning epochs (the head start first, the first time). A
    /// cancellation stops it at the next batch and ends it; with no epoch yet it throws <see cref="OperationCanceledException"/>.</summary>
    void Advance(int epochs, CancellationToken cancel);
}

/// <summary>One candidate's row for one rung.</summary>
/// <param name="Candidate">The candidate.</param>
/// <param name="Rung">1-based rung.</param>
/// <param name="Epochs">Fine-tuning epochs it had trained by the end of the rung, in all.</param>
/// <param name="Score">Validation accuracy of the epoch it would keep; null when it did not train.</param>
/// <param name="Loss">That epoch's validation loss.</param>
/// <param name="Seconds">Its wall time from its start to the end of this rung.</param>
/// <param name="Status">How the rung ended for it.</param>
/// <param name="Note">Why, when the status needs a reason.</param>
internal sealed record RungRecord(AutoCandidate Candidate, int Rung, int Epochs, double? Score, double? Loss, double Seconds, CandidateStatus Status, string? Note);

/// <summary>How the search spread its budget, in report.json (<c>search</c>).</summary>
public sealed record HalvingPlan
{
    /// <summary>Candidates in the grid (depths × head starts × learning rates).</summary>
    public int GridSize { get; init; }

    /// <summary>Candidates the budget let into rung 1 (the first ones of the grid's order).</summary>
    public int Candidates { get; init; }

    /// <summary>The best 1/<c>HalvingRate</c> of a rung go on.</summary>
    public int HalvingRate { get; init; }

    /// <summary>Fine-tuning epochs of rung 1.</summary>
    public int RungEpochs { get; init; }

    /// <summary>Epochs each candidate's learning-rate schedule is planned over: what the last survivor may reach.</summary>
    public int PlannedEpochs { get; init; }

    /// <summary>Estimated seconds of one fine-tuning epoch (the grid's mean) when the plan was made; null when unknown.</summary>
    public double? EstimatedEpochSeconds { get; init; }

    /// <summary>The head starts tried and why.</summary>
    public HeadStartChoice? HeadStart { get; init; }

    /// <summary>The augmentation every candidate trains with (<see cref="AutoSearchOptions.MinCropArea"/>'s crop), as
    /// <see cref="FineTuning.ImageAugmentation.Describe"/> words it.</summary>
    public string Augmentation { get; init; } = "";

    /// <summary>The plan in plain words.</summary>
    public string Rule { get; init; } = "";
}

/// <summary>
/// Successive halving (Jamieson and Talwalkar 2016; the synchronous form of ASHA, Li et al. 2020) over fine-tuning
/// candidates under a wall-time budget. Rung 1 gives each candidate <see cref="AutoSearchOptions.RungEpochs"/> epochs; the
/// best 1/η by the validation accuracy of their latest epoch (the weights they go on from, as ASHA ranks; a run's best epoch
/// may be the head start it shares with others, which says nothing about how its fine-tuning goes) go on to η times the
/// epochs they had, and so on; the last one left trains to the planned
/// epochs, early stopping off (<see cref="IHalvingRun.TrainToEnd"/>). Runs resume where they stopped (<see cref="IHalvingRun"/>). How many candidates enter and the planned epochs come
/// from the budget left and the estimated epoch time, so that the rungs up to a single survivor fit and that survivor gets at
/// least <see cref="AutoSearchOptions.MinimumFinalEpochs"/>; once runs have measured the real epoch time, rung 1 takes a
/// candidate more and a rung promotes more than one only while that still holds, and the last one's schedule is shortened
/// to what the budget left fits, re-planned from each epoch it measures (<see cref="IHalvingRun.TrainToEnd"/>). When the last one is done (its planned epochs) with
/// budget to spare, the best unfinished run goes on from its checkpoint, and so on. A run still going
/// at the budget (less <c>reserveSeconds</c>, the winner's evaluation) stops at its next batch. Deterministic for a given
/// clock: the order of the grid breaks every tie.
/// </summary>
internal sealed class SuccessiveHalving
{
    private readonly AutoSearchOptions _options;
    private readonly TrainingBudget _budget;
    private readonly EpochTimeEstimator _epochs;
    private readonly double _reserveSeconds;
    private double _startSeconds;
    // Seconds each Advance costs beyond its epochs (the prefix engine, caches and decoded images a paused run let go of),
    // measured from the runs; 0 until then.
    private double _overheadSeconds;
    private readonly bool _mustStart;

    /// <param name="options">η, rung-1 epochs.</param>
    /// <param name="budget">The run's budget (its clock measures every rung).</param>
    /// <param name="epochs">Epoch-time estimates (updated from every rung).</param>
    /// <param name="startSeconds">Estimated seconds of a candidate's head start (warm-up or probe) before its first rung.</param>
    /// <param name="reserveSeconds">Seconds kept back for evaluating the winner after the last rung.</param>
    /// <param name="mustStart">True when the search has no model yet (no head ran): the first candidate then starts whatever the budget says.</param>
    public SuccessiveHalving(AutoSearchOptions options, TrainingBudget budget, EpochTimeEstimator epochs, double startSeconds, double reserveSeconds, bool mustStart)
    {
        _mustStart = mustStart;
        _options = options;
        _budget = budget;
        _epochs = epochs;
        _startSeconds = Math.Max(0, startSeconds);
        _reserveSeconds = Math.Max(0, reserveSeconds);
    }

    /// <summary>The number of candidates of <paramref name="grid"/> that enter rung 1 and the epochs their schedules are planned over.</summary>
    public HalvingPlan Plan(IReadOnlyList<AutoCandidate> grid, int maxEpochs)
    {
        int eta = _options.HalvingRate, first = Math.Min(_options.RungEpochs, maxEpochs), minFinal = Math.Min(_options.MinimumFinalEpochs, maxEpochs);
        var available = _budget.Remaining.TotalSeconds - _reserveSeconds;
        double? Mean(int n)
        {
            var estimates = grid.Take(n).Select(c => _epochs.Estimate(c.FreezeFraction)).ToList();
            return estimates.Any(e => e is null) ? null : estimates.Average(e => e!.Value);
        }
        var plan = new HalvingPlan { GridSize = grid.Count, HalvingRate = eta, RungEpochs = first };
        if (Mean(1) is null)
        {
            // Nothing to estimate from (every embedding came from the cache): all of the grid at the full epochs; the budget's
            // skips and hard stop keep the time.
            return plan with
            {
                Candidates = grid.Count, PlannedEpochs = maxEpochs,
                Rule = Invariant($"No epoch time to plan with (no featurization measured), so all {grid.Count} candidates enter rung 1 with schedules over {maxEpochs} epochs; a candidate starts a rung only while the budget lasts."),
            };
        }
        for (int n = grid.Count; n >= 1; n--)
        {
            var epoch = Mean(n)!.Value;
            var starts = grid.Take(n).Select(c => c.Start).Distinct().Count();
            double Cost(int count, int planned, int first, int eta, double epochSeconds) => this.Cost(count, planned, first, eta, epochSeconds, starts);
            var shortest = Math.Min(maxEpochs, Math.Max(minFinal, EpochsAtSingleSurvivor(n, first, eta)));
            if (Cost(n, shortest, first, eta, epoch) > available && n > 1) continue;
            if (Cost(n, shortest, first, eta, epoch) > available && !_mustStart)
                return plan with
                {
                    Candidates = 0, PlannedEpochs = shortest, EstimatedEpochSeconds = epoch,
                    Rule = Invariant($"About {epoch:0.#} s per fine-tuning epoch and {_startSeconds:0.#} s per head start: one candidate's first rung needs about {Cost(1, shortest, first, eta, epoch):0} s and {Math.Max(0, available):0} s are left (after {_reserveSeconds:0} s kept for evaluating the winner), so no fine-tuning candidate starts."),
                };
            var planned = shortest;
            while (planned < maxEpochs && Cost(n, planned + 1, first, eta, epoch) <= available) planned++;
            return plan with
            {
                Candidates = n, PlannedEpochs = planned, EstimatedEpochSeconds = epoch,
                Rule = Invariant($"About {epoch:0.#} s per fine-tuning epoch and {_startSeconds:0.#} s per head start, {Math.Max(0, available):0} s left (after {_reserveSeconds:0} s kept for evaluating the winner): ") +
                       Invariant($"{n} of {grid.Count} candidates enter rung 1 with {first} epoch(s) each (at most: each later one enters only if, at the epoch time measured by then, the last one left still gets {minFinal} epochs); after every rung the best 1/{eta} go on with {eta}x the epochs they had (fewer when the budget left would not give the last one {minFinal}); the last one left trains to {planned} epochs, the length every schedule is planned over, shortened to what the budget left fits (re-planned from each epoch it measures), without early stopping (it keeps its best epoch). ") +
                       (Cost(n, shortest, first, eta, epoch) > available ? "Even one candidate's first rung may not fit: it starts anyway and the budget's hard stop ends it." : "Estimates, not promises: a run still going at the budget stops at its next batch."),
            };
        }
        throw new InvalidOperationException("unreachable: n = 1 always returns");
    }

    /// <summary>Epochs a candidate has when it is the only one left: rung k gives first·η^(k−1).</summary>
    internal static int EpochsAtSingleSurvivor(int n, int first, int eta)
    {
        long epochs = first;
        for (var left = n; left > 1; left = (left + eta - 1) / eta) epochs *= eta;
        return (int)Math.Min(epochs, int.MaxValue);
    }

    /// <summary>Estimated seconds of the whole schedule for <paramref name="n"/> candidates planned over <paramref name="planned"/> epochs.</summary>
    internal double Cost(int n, int planned, int first, int eta, double epochSeconds, int starts = int.MaxValue) =>
        // Runs with the same head start share its head phase (FineTuneSession.StartFrom): it is paid once per start.
        Math.Min(n, starts) * _startSeconds + Rest(n, 0, Math.Min(first, planned), planned, planned, eta, epochSeconds);

    /// <summary>Estimated seconds for <paramref name="left"/> runs that have <paramref name="had"/> epochs each to go through the
    /// rest of the schedule: a rung to <paramref name="target"/>, then the best 1/η to η times that (at most <paramref name="cap"/>),
    /// until one is left, which trains to <paramref name="final"/>. Every run pays the measured overhead once per rung.</summary>
    private double Rest(int left, int had, int target, int cap, int final, int eta, double epochSeconds)
    {
        double cost = 0;
        while (true)
        {
            cost += left * (Math.Max(0, target - had) * epochSeconds + _overheadSeconds);
            if (left == 1 ? target >= final : target >= cap) return cost;
            had = target;
            left = Math.Max(1, (left + eta - 1) / eta);
            target = NextTarget(left, had, cap, final, eta);
        }
    }

    /// <summary>The epochs the next rung trains <paramref name="left"/> runs to, after they had <paramref name="had"/>: η times
    /// that (at most <paramref name="cap"/>), or <paramref name="final"/> once one is left.</summary>
    private static int NextTarget(int left, int had, int cap, int final, int eta) =>
        left == 1 ? Math.Max(final, had) : (int)Math.Min(cap, (long)had * eta);

    /// <summary>Candidates best first: higher validation accuracy, then lower loss, then the grid's order; of the epoch each
    /// would keep, or with <paramref name="latest"/> of its latest epoch (which run to train on).</summary>
    private static IEnumerable<AutoCandidate> Ranked(IEnumerable<AutoCandidate> candidates, IReadOnlyDictionary<AutoCandidate, IHalvingRun> runs,
        IReadOnlyList<AutoCandidate> grid, bool latest = false)
    {
        var order = grid.ToList();
        return candidates.OrderByDescending(c => (latest ? runs[c].LatestScore : runs[c].Score) ?? double.NegativeInfinity)
            .ThenBy(c => (latest ? runs[c].LatestLoss : runs[c].Loss) ?? double.PositiveInfinity).ThenBy(order.IndexOf);
    }

    /// <summary>What the last one left must reach at least: the minimum, within the plan.</summary>
    private int FinalEpochs(HalvingPlan plan) => Math.Min(plan.PlannedEpochs, _options.MinimumFinalEpochs);

    /// <summary>Runs the schedule. <paramref name="start"/> creates a candidate's run (planned over <see cref="HalvingPlan.PlannedEpochs"/>);
    /// the runs stay the caller's (returned, to complete the winner and dispose the rest).</summary>
    /// <returns>Every rung's rows, and the runs started, by candidate.</returns>
    public (IReadOnlyList<RungRecord> Rows, IReadOnlyDictionary<AutoCandidate, IHalvingRun> Runs) Run(IReadOnlyList<AutoCandidate> grid, HalvingPlan plan,
        Func<AutoCandidate, IHalvingRun> start, Action<string>? report = null, CancellationToken cancel = default)
    {
        var rows = new List<RungRecord>();
        var runs = new Dictionary<AutoCandidate, IHalvingRun>();
        var seconds = new Dictionary<AutoCandidate, double>();
        int eta = plan.HalvingRate, cap = plan.PlannedEpochs;
        foreach (var c in grid.Skip(plan.Candidates))
            rows.Add(new RungRecord(c, 1, 0, null, null, 0, CandidateStatus.Skipped, plan.Candidates == 0
                ? "the budget left does not fit one candidate's first rung (see search.rule)"
                : Invariant($"the budget fits {plan.Candidates} of the {grid.Count} candidates in rung 1 (see search.rule)")));

        var active = grid.Take(plan.Candidates).ToList();
        int rung = 1, target = Math.Min(plan.RungEpochs, cap);
        string? closed = null; // why rung 1 takes no more candidates
        var resumed = new HashSet<AutoCandidate>();
        while (active.Count > 0 && !cancel.IsCancellationRequested)
        {
            var ran = new List<(AutoCandidate Candidate, CandidateStatus? Status, string? Note)>();
            foreach (var candidate in active)
            {
                if (cancel.IsCancellationRequested) break;
                runs.TryGetValue(candidate, out var run);
                var remaining = _budget.Remaining.TotalSeconds - _reserveSeconds;
                var sharedStart = runs.Keys.Any(k => k.Start is not null && k.Start == candidate.Start);
                // A run that has trained knows its own epoch time; the estimator's is carried over from other depths.
                var estimate = run?.EpochSeconds ?? _epochs.Estimate(candidate.FreezeFraction) ?? 0;
                var had = run?.Epochs ?? 0;
                var wanted = target - had;
                var needs = wanted * estimate + (run is null && !sharedStart ? _startSeconds : 0) + _overheadSeconds;
                var (epochs, partial, last) = (wanted, false, rung > 1 && active.Count == 1);
                string? skip = null;
                // Without a model yet (no head ran), the first candidate always starts; the rest only when they fit.
                if (rung == 1 && closed is not null) skip = closed;
                else if (_budget.IsSpent && !(_mustStart && runs.Count == 0)) skip = "budget spent";
                else if (rung == 1 && runs.Count > 0)
                {
                    // One more enters rung 1 only while, at the epoch time measured so far, the last one left still gets its epochs.
                    var n = runs.Count + 1;
                    var (survivors, final) = (Math.Max(1, (n + eta - 1) / eta), FinalEpochs(plan));
                    if (needs + Rest(survivors, target, NextTarget(survivors, target, cap, final, eta), cap, final, eta, estimate) > remaining)
                        skip = closed = Invariant($"at about {estimate:0.#} s an epoch (measured), one more in rung 1 (about {needs:0} s) would leave the last one left fewer than {final} epochs in the {Math.Max(0, remaining):0} s left");
                }
                else if (rung == 1 && !(_mustStart && runs.Count == 0) && needs > remaining)
                    skip = Invariant($"needs about {needs:0} s for rung {rung}; {Math.Max(0, remaining):0} s left");
                else if (rung > 1 && estimate > 0)
                {
                    var fit = (int)((remaining - _overheadSeconds) / estimate);
                    if (fit < 1) skip = Invariant($"needs about {estimate + _overheadSeconds:0} s for one more epoch; {Math.Max(0, remaining):0} s left");
                    // The last one left is not shortened from this estimate, which counts its rung's first epoch (decoding every image
                    // again) as typical: its schedule follows the epochs it measures as it trains (below).
                    // A promoted run gets the epochs that still fit instead of none: skipping it would leave that budget unspent.
                    else if (fit < wanted && !last) (epochs, partial) = (fit, true);
                }
                if (skip is not null)
                {
                    rows.Add(new RungRecord(candidate, rung, had, run?.Score, run?.Loss, seconds.GetValueOrDefault(candidate), CandidateStatus.Skipped, skip));
                    continue;
                }
                report?.Invoke(Invariant($"rung {rung}: {candidate.Name} to {had + epochs} epoch(s), {Math.Max(0, remaining):0} s left"));
                var started = _budget.Elapsed;
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                deadline.CancelAfter(TimeSpan.FromSeconds(Math.Max(0.5, remaining)));
                try
                {
                    run ??= runs[candidate] = start(candidate);
                    // Its schedule ends where the budget does, so its learning rate still anneals: re-planned from each epoch's
                    // measured time, since its rung's first epoch decodes every image again (hds_shapes: planned once from that
                    // epoch, it stopped at 8 of 10 epochs with 44 s unspent). Patience would stop it while its rate is still
                    // high and its validation noisiest (hds_shapes: 0.908 kept after 5 of 10 epochs, 69 s unspent); it keeps its best epoch anyway.
                    // The fastest epoch is the estimate (a slower one carried a one-off cost); should the rest be slower after all,
                    // the budget's stop ends its last epoch, whose rate is near zero by then.
                    if (last) run.TrainToEnd((done, epochSeconds) => done + (int)Math.Max(0, (_budget.Remaining.TotalSeconds - _reserveSeconds) / Math.Max(epochSeconds, 1e-3)));
                    run.Advance(epochs, deadline.Token);
                }
                catch (OperationCanceledException) when (run is null || run.Score is null)
                {
                    seconds[candidate] = seconds.GetValueOrDefault(candidate) + (_budget.Elapsed - started).TotalSeconds;
                    var status = cancel.IsCancellationRequested ? CandidateStatus.Interrupted : CandidateStatus.StoppedAtBudget;
                    rows.Add(new RungRecord(candidate, rung, run?.Epochs ?? 0, null, null, seconds[candidate], status, "stopped before its first epoch ended"));
                    continue;
                }
                catch (MlNetTransferException e)
                {
                    seconds[candidate] = seconds.GetValueOrDefault(candidate) + (_budget.Elapsed - started).TotalSeconds;
                    rows.Add(new RungRecord(candidate, rung, run?.Epochs ?? 0, null, null, seconds[candidate], CandidateStatus.Failed, e.Message));
                    continue;
                }
                var took = (_budget.Elapsed - started).TotalSeconds;
                seconds[candidate] = seconds.GetValueOrDefault(candidate) + took;
                if (run.EpochSeconds is { } perEpoch && !run.Cancelled)
                {
                    _epochs.Observe(perEpoch, candidate.FreezeFraction);
                    // What the call took beyond its epochs: a run that trained its own head start measures that start (less the
                    // overhead known by then), any other the overhead every rung pays.
                    var extra = Math.Max(0, took - (run.Epochs - had) * perEpoch);
                    if (rung == 1 && !sharedStart) _startSeconds = Math.Max(0, extra - _overheadSeconds);
                    else _overheadSeconds = extra;
                }
                CandidateStatus? ended = run.Cancelled ? (cancel.IsCancellationRequested ? CandidateStatus.Interrupted : CandidateStatus.StoppedAtBudget)
                    : partial && !run.IsFinished ? CandidateStatus.StoppedAtBudget : null;
                var shortened = last && run.IsFinished && !run.Cancelled && run.Epochs < cap ? run.Epochs : (int?)null;
                var note = shortened is { } s ? Invariant($"its schedule shortened to {s} of the planned {cap} epochs, what the budget left fitted")
                    : partial && !run.Cancelled ? Invariant($"the budget left fitted {epochs} of the {wanted} more epochs rung {rung} planned")
                    : null;
                if (ended is not null) note = note is null ? "best epoch kept" : note + "; best epoch kept";
                if (resumed.Contains(candidate)) note = "resumed with the budget the runs before it left unspent" + (note is null ? "" : "; " + note);
                ran.Add((candidate, ended, note));
            }

            // The best 1/η of those that trained in this rung go on (at least one; fewer when the budget left would not give the
            // last one its epochs); ties: lower loss, then the grid's order.
            var ranked = Ranked(ran.Select(r => r.Candidate), runs, grid, latest: true).Select(c => ran.Single(r => r.Candidate == c)).ToList();
            var keep = ranked.Count == 0 ? 0 : Math.Max(1, (ranked.Count + eta - 1) / eta);
            var byRate = keep;
            if (ranked.Count > 0)
            {
                var (estimate, final, left) = (runs[ranked[0].Candidate].EpochSeconds ?? _epochs.Estimate(ranked[0].Candidate.FreezeFraction) ?? 0, FinalEpochs(plan),
                    _budget.Remaining.TotalSeconds - _reserveSeconds);
                while (keep > 1 && Rest(keep, target, NextTarget(keep, target, cap, final, eta), cap, final, eta, estimate) > left) keep--;
            }
            var next = new List<AutoCandidate>();
            for (int i = 0; i < ranked.Count; i++)
            {
                var (candidate, ended, note) = ranked[i];
                var run = runs[candidate];
                var status = ended ?? (run.IsFinished ? CandidateStatus.Completed
                    : i < keep ? CandidateStatus.Promoted : CandidateStatus.Eliminated);
                note ??= status switch
                {
                    CandidateStatus.Completed when run.IsFinished && run.Epochs < target => "early stopping ended it; best epoch kept",
                    CandidateStatus.Eliminated when keep < byRate => Invariant($"not in the best {keep} of {ranked.Count} by their latest epoch (this one's: {run.LatestScore:0.000}; the best 1/{eta} would be {byRate}; the budget left gives the last one its epochs with {keep})"),
                    CandidateStatus.Eliminated => Invariant($"not in the best {keep} of {ranked.Count} by their latest epoch (this one's: {run.LatestScore:0.000})"),
                    _ => null,
                };
                if (status == CandidateStatus.Promoted) next.Add(candidate);
                rows.Add(new RungRecord(candidate, rung, run.Epochs, run.Score, run.Loss, seconds[candidate], status, note));
            }
            // The next rung runs its candidates best first (ties already broken by the grid's order), so when the budget runs
            // short the best one is the one that trains.
            active = next;
            rung++;
            target = NextTarget(active.Count, target, cap, cap, eta);
            // The last one left is done (its planned epochs, or early stopping) with budget to spare: the best unfinished run goes on.
            if (active.Count == 0 && !cancel.IsCancellationRequested && Leftover(runs, resumed, plan, grid) is { } more)
            {
                resumed.Add(more);
                (active, target) = ([more], cap);
            }
        }
        return (rows, runs);
    }

    /// <summary>The best run not yet finished (nor resumed before), by its latest epoch, when the budget left takes it at least to the last one's
    /// minimum epochs; else null.</summary>
    private AutoCandidate? Leftover(IReadOnlyDictionary<AutoCandidate, IHalvingRun> runs, HashSet<AutoCandidate> resumed, HalvingPlan plan, IReadOnlyList<AutoCandidate> grid)
    {
        var best = Ranked(runs.Keys.Where(c => runs[c] is { IsFinished: false, Cancelled: false, Score: not null } && !resumed.Contains(c)), runs, grid, latest: true).FirstOrDefault();
        if (best is null || runs[best] is not { EpochSeconds: { } epoch } run || epoch <= 0) return null;
        var reach = run.Epochs + (int)((_budget.Remaining.TotalSeconds - _reserveSeconds - _overheadSeconds) / epoch);
        return reach >= Math.Max(FinalEpochs(plan), run.Epochs + 1) ? best : null;
    }

    /// <summary>The search's result: of the runs that trained to their end (their planned epochs, early stopping, or the budget's
    /// stop), the highest score, then lower loss, then the grid's order; only when none did, of all that trained; null when none
    /// trained. A run the halving eliminated is left out although its best epoch may have validated a little higher: that
    /// score came after fewer epochs and is the luckiest of many looks (on the Fashion-MNIST subset a run eliminated in rung 2,
    /// best at its first epoch with 0.848 of 500, beat the 5-epoch survivor's 0.846 this way).</summary>
    public static AutoCandidate? Best(IReadOnlyList<AutoCandidate> grid, IReadOnlyDictionary<AutoCandidate, IHalvingRun> runs)
    {
        var trained = grid.Where(c => runs.TryGetValue(c, out var r) && r.Score is not null).ToList();
        var ended = trained.Where(c => runs[c].IsFinished).ToList();
        return Ranked(ended.Count > 0 ? ended : trained, runs, grid).FirstOrDefault();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
