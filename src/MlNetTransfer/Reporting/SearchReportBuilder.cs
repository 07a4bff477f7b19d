using MlNetTransfer.FineTuning;
using MlNetTransfer.Strategy;

namespace MlNetTransfer.Reporting;

/// <summary>Collects what a search (auto or experiment) did — one leaderboard row per candidate and rung, the learning
/// curves — and turns it, with the winner's own report, into the search's report.</summary>
internal sealed class SearchReportBuilder
{
    private readonly List<LeaderboardEntry> _entries = [];
    private readonly List<LearningCurve> _curves = [];

    public IReadOnlyList<LeaderboardEntry> Entries => _entries;

    /// <summary>Rank by validation macro-F1 instead of accuracy (imbalanced classes, weighted).</summary>
    public bool RankByMacroF1 { get; init; }

    /// <summary><see cref="Better(LeaderboardEntry, LeaderboardEntry)"/> on this search's metric.</summary>
    public bool Outranks(LeaderboardEntry a, LeaderboardEntry b) => !RankByMacroF1 ? Better(a, b)
        : Unscored(a.MacroF1) > Unscored(b.MacroF1) || (Unscored(a.MacroF1) == Unscored(b.MacroF1) && Better(a, b));

    /// <summary>A missing score ranks below every measured one, as in <see cref="Leaderboard.Ranked"/>.</summary>
    private static double Unscored(double? score) => score ?? double.NegativeInfinity;

    /// <summary>A row for <paramref name="candidate"/>.</summary>
    public LeaderboardEntry Add(AutoCandidate candidate, int rung, ClassificationReport? validation, double seconds, CandidateStatus status, string? note,
        IReadOnlyList<EpochReport>? curve = null) =>
        Add(candidate, rung, validation?.Accuracy, validation?.MacroF1, seconds, status, note, curve, validation?.LogLoss);

    /// <summary>A row with a score measured outside an ML.NET evaluation (a rung's best epoch, with that epoch's validation loss).</summary>
    public LeaderboardEntry Add(AutoCandidate candidate, int rung, double? score, double? macroF1, double seconds, CandidateStatus status, string? note,
        IReadOnlyList<EpochReport>? curve = null, double? logLoss = null)
    {
        var tuning = curve?.Where(e => e.Phase != FineTunePhase.HeadPhase).Select(e => e.ImagesPerSecond).Order().ToList();
        // The last epoch marked best is the one the row's model is.
        var bestEpoch = curve?.LastOrDefault(e => e.Best);
        var entry = new LeaderboardEntry
        {
            Candidate = candidate.Name,
            Strategy = candidate.Family,
            FreezeFraction = candidate.FreezeFraction,
            Rung = rung,
            Score = score,
            MacroF1 = macroF1,
            LogLoss = logLoss,
            WallSeconds = seconds,
            Status = status,
            Note = note,
            FineTuningEpochs = curve is null ? null : tuning!.Count,
            ImagesPerSecond = tuning is not { Count: > 0 } ? null : tuning[tuning.Count / 2],
            BestAtHeadStart = tuning is { Count: > 0 } && bestEpoch?.Phase == FineTunePhase.HeadPhase,
        };
        _entries.Add(entry);
        return entry;
    }

    /// <summary>Replaces a row (the winner's, once evaluated through its saved model).</summary>
    public void Replace(LeaderboardEntry old, LeaderboardEntry updated) => _entries[_entries.IndexOf(old)] = updated;

    public void AddCurve(string candidate, IReadOnlyList<EpochReport> curve)
    {
        if (curve.Count > 0) _curves.Add(ExperimentDetails.FromEpochs(candidate, curve));
    }

    /// <summary>The leaderboard's own order (<see cref="Leaderboard.Ranked"/>): higher validation accuracy wins; ties go to the
    /// lower validation log-loss, then to the row that took less time (<see cref="LeaderboardEntry.TieOrder"/>); a row with
    /// no score ranks below every scored one.</summary>
    public static bool Better(LeaderboardEntry a, LeaderboardEntry b) =>
        Unscored(a.Score) > Unscored(b.Score) || (Unscored(a.Score) == Unscored(b.Score) && LeaderboardEntry.TieOrder.Compare(a, b) < 0);

    /// <summary>The search's report: the winner's own report with the leaderboard, curves, scenario (none when no scenario
    /// could be chosen), plan and budget.</summary>
    public TrainingReport Build(TrainingReport winnerReport, LeaderboardEntry winner, string strategy, ScenarioDecision? decision, TrainingBudget budget,
        HalvingPlan? plan, string budgetRule, double totalSeconds, string? note = null)
    {
        var elapsed = budget.Elapsed.TotalSeconds;
        var leaderboard = new Leaderboard
        {
            Metric = "validation accuracy",
            RankedByMacroF1 = RankByMacroF1,
            BudgetSeconds = budget.Limit.TotalSeconds,
            ElapsedSeconds = elapsed,
            Winner = winner.Candidate,
            WinnerRung = winner.Rung,
            Entries = new Leaderboard { Entries = _entries, RankedByMacroF1 = RankByMacroF1 }.Ranked(),
            Note = note,
            Margin = WinnerMargin.Measure(winner, _entries, winnerReport.Counts.Validation),
        };
        return winnerReport with
        {
            Strategy = strategy,
            Scenario = decision,
            Leaderboard = leaderboard,
            CandidateCurves = _curves.ToList(),
            Search = plan,
            Budget = new BudgetReport
            {
                BudgetSeconds = budget.Limit.TotalSeconds,
                ElapsedSeconds = elapsed,
                OvershootSeconds = Math.Max(0, elapsed - budget.Limit.TotalSeconds),
                SkippedCandidates = Count(CandidateStatus.Skipped),
                StoppedCandidates = Count(CandidateStatus.StoppedAtBudget),
                FailedCandidates = Count(CandidateStatus.Failed),
                Rule = budgetRule,
            },
            Timings = winnerReport.Timings with { TotalSeconds = totalSeconds },
        };

        // A candidate counts once, however many rungs it was skipped in.
        int Count(CandidateStatus status) => _entries.Where(e => e.Status == status).Select(e => e.Candidate).Distinct().Count();
    }
}
