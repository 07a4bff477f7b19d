using System.Text.Json.Serialization;

namespace MlNetTransfer.Reporting;

/// <summary>How a leaderboard row ended. report.json writes the names given here (stable across versions).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CandidateStatus>))]
public enum CandidateStatus
{
    /// <summary>Trained to its end: its planned epochs, or early stopping ended it (heads: fitted).</summary>
    [JsonStringEnumMemberName("completed")] Completed,

    /// <summary>Successive halving: among the best of its rung, it went on training in the next rung (a later row).</summary>
    [JsonStringEnumMemberName("promoted")] Promoted,

    /// <summary>Successive halving: not among the best of its rung, so it trained no further.</summary>
    [JsonStringEnumMemberName("eliminated")] Eliminated,

    /// <summary>The budget ran out while it trained: it stopped at its next batch and kept its best epoch.</summary>
    [JsonStringEnumMemberName("stopped at budget")] StoppedAtBudget,

    /// <summary>Not started: its estimated time did not fit in what was left of the budget.</summary>
    [JsonStringEnumMemberName("skipped")] Skipped,

    /// <summary>Could not run (the note says why); the other candidates still count.</summary>
    [JsonStringEnumMemberName("failed")] Failed,

    /// <summary>The user cancelled the run while it trained; it kept its best epoch.</summary>
    [JsonStringEnumMemberName("interrupted")] Interrupted,

    /// <summary>Not started: this run lacks what it needs, whatever the budget (fine-tuning trained from embeddings shards,
    /// with no images to run the network on); the note says what.</summary>
    [JsonStringEnumMemberName("not run")] NotRun,
}

/// <summary>The words report.json uses for a <see cref="CandidateStatus"/>, for the console and the HTML report.</summary>
public static class CandidateStatuses
{
    public static string Text(this CandidateStatus status) => status switch
    {
        CandidateStatus.Completed => "completed",
        CandidateStatus.Promoted => "promoted",
        CandidateStatus.Eliminated => "eliminated",
        CandidateStatus.StoppedAtBudget => "stopped at budget",
        CandidateStatus.Skipped => "skipped",
        CandidateStatus.Failed => "failed",
        CandidateStatus.Interrupted => "interrupted",
        CandidateStatus.NotRun => "not run",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}

/// <summary>The candidates an automatic search or an experiment tried, with their validation results (report.json and the HTML report).</summary>
public sealed record Leaderboard
{
    /// <summary>What <see cref="LeaderboardEntry.Score"/> is, e.g. <c>validation accuracy</c>.</summary>
    public string Metric { get; init; } = "validation accuracy";

    /// <summary>The time budget, when there was one.</summary>
    public double? BudgetSeconds { get; init; }

    /// <summary>Wall time the whole search took.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>Candidate name of the winner, if one was chosen.</summary>
    public string? Winner { get; init; }

    /// <summary>The winner's rung (a candidate has one row per rung it trained in).</summary>
    public int? WinnerRung { get; init; }

    public IReadOnlyList<LeaderboardEntry> Entries { get; init; } = [];

    /// <summary>What the search left out and why, e.g. fine-tuning when the app has no fine-tuning engine; null when nothing was.</summary>
    public string? Note { get; init; }

    /// <summary>How far the winner is ahead of the best candidate of the other kind (a frozen head against a fine-tuned
    /// network), in validation images; null when only one kind scored.</summary>
    public WinnerMargin? Margin { get; init; }

    /// <summary>Entries best first (highest score, then lowest validation log-loss, then least time).</summary>
    public IReadOnlyList<LeaderboardEntry> Ranked() => Entries.OrderByDescending(e => (RankedByMacroF1 ? e.MacroF1 : e.Score) ?? double.NegativeInfinity)
        .ThenByDescending(e => e.Score ?? double.NegativeInfinity).ThenBy(e => e, LeaderboardEntry.TieOrder).ToList();

    /// <summary>Whether rows rank by <see cref="LeaderboardEntry.MacroF1"/> (imbalanced classes) rather than <see cref="LeaderboardEntry.Score"/>.</summary>
    public bool RankedByMacroF1 { get; init; }

    /// <summary>Whether <paramref name="entry"/> is the winner's row.</summary>
    public bool IsWinner(LeaderboardEntry entry) => entry.Candidate == Winner && (WinnerRung is null || entry.Rung == WinnerRung);
}

/// <summary>One candidate: a strategy (and head or depth) trained and evaluated on the validation split.</summary>
public sealed record LeaderboardEntry
{
    /// <summary>Unique name, e.g. <c>feature-extractor/lbfgs</c> or <c>fine-tune-top/freeze-70</c>.</summary>
    public string Candidate { get; init; } = "";

    /// <summary>The strategy family, e.g. <c>feature-extractor</c>, <c>fine-tune-top</c>, <c>from-scratch</c>.</summary>
    public string Strategy { get; init; } = "";

    /// <summary>Fraction of the backbone kept frozen, where that applies.</summary>
    public double? FreezeFraction { get; init; }

    /// <summary>The leaderboard's metric on validation; null when the candidate did not finish.</summary>
    public double? Score { get; init; }

    public double? MacroF1 { get; init; }

    /// <summary>Validation log-loss (mean cross-entropy) of the row's model; null when not measured. Breaks ties on the metric:
    /// on a split of a hundred or two images a head and a network often classify the same number right, and the loss, a
    /// proper scoring rule on the same images, still tells which one's probabilities fit them better (the order successive
    /// halving already ranks ties by). A non-finite loss is kept as none, whichever way the row was made.</summary>
    public double? LogLoss { get; init => field = value is { } l && double.IsFinite(l) ? l : null; }

    /// <summary><see cref="LogLoss"/> as ties compare it: to 0.001, so a network whose best epoch is still its probe start does
    /// not displace the head it reproduces on float rounding (hymenoptera: 0.08925 against sdca's 0.08938); none ranks last.</summary>
    internal double TieLoss => LogLoss is { } l ? Math.Round(l, 3) : double.PositiveInfinity;

    /// <summary>The order within a tie on the metric, for <see cref="Leaderboard.Ranked"/> and <see cref="SearchReportBuilder.Better"/>
    /// alike: lower <see cref="TieLoss"/>, then less wall time.</summary>
    internal static readonly IComparer<LeaderboardEntry> TieOrder = Comparer<LeaderboardEntry>.Create((a, b) =>
        a.TieLoss != b.TieLoss ? a.TieLoss.CompareTo(b.TieLoss) : a.WallSeconds.CompareTo(b.WallSeconds));

    /// <summary>Wall time of the candidate (training and evaluation); for a successive-halving row, from the candidate's start to
    /// the end of that rung (so a candidate's rows trace its accuracy against time).</summary>
    public double WallSeconds { get; init; }

    /// <summary>Which round of the search the row belongs to: 0 for heads on cached embeddings (fitted first, cheap); for
    /// fine-tuning candidates the successive-halving rung, from 1 (every candidate, a few epochs) up, each later rung holding
    /// the best of the one before with more epochs. A candidate has one row per rung it trained in. Candidates of the
    /// experiment, run once each, are rung 1.</summary>
    public int Rung { get; init; }

    /// <summary>How the row ended (report.json: <c>completed</c>, <c>promoted</c>, <c>eliminated</c>, <c>stopped at budget</c>,
    /// <c>skipped</c>, <c>failed</c>, <c>interrupted</c>, <c>not run</c>).</summary>
    public CandidateStatus Status { get; init; } = CandidateStatus.Completed;

    public string? Note { get; init; }

    /// <summary>Fine-tuning candidates: epochs run with pretrained layers learning (the head-only warm-up or probe not
    /// counted); null for heads on cached embeddings.</summary>
    public int? FineTuningEpochs { get; init; }

    /// <summary>Fine-tuning candidates: median training images per second over those epochs (decode, augment and step).</summary>
    public double? ImagesPerSecond { get; init; }

    /// <summary>A fine-tuning row whose pretrained layers trained but whose best epoch is still its head-only phase (the probe or
    /// warm-up): its model is that head on the frozen network, not a fine-tuned one.</summary>
    internal bool BestAtHeadStart { get; init; }
}

/// <summary>
/// How far the winner's validation accuracy is ahead of the best candidate of the other kind (a head on frozen features
/// against a fine-tuned network, the choice that matters most), in validation images, and whether that is within the noise
/// of a split this size: one binomial standard error of the winner's accuracy, √(n·p·(1 − p)) images. On a small
/// validation split two candidates a few images apart are not told apart by it, and the winner's score is also the
/// luckiest of those compared; the report says so, so the user can judge on a larger split or the test split.
/// </summary>
public sealed record WinnerMargin
{
    /// <summary>The best candidate of the other kind.</summary>
    public string RunnerUp { get; init; } = "";

    public double RunnerUpScore { get; init; }

    /// <summary>Validation images the scores were measured on.</summary>
    public int ValidationImages { get; init; }

    /// <summary>Validation images the winner classified right and the runner-up did not, net (score difference × images).</summary>
    public int ImagesAhead { get; init; }

    /// <summary>One standard error of the winner's accuracy on <see cref="ValidationImages"/> images, in images.</summary>
    public double StandardErrorImages { get; init; }

    /// <summary>Whether <see cref="ImagesAhead"/> is at most <see cref="StandardErrorImages"/>.</summary>
    public bool WithinNoise => ImagesAhead <= StandardErrorImages;

    public string Description { get; init; } = "";

    /// <summary>The margin of <paramref name="winner"/> over the best-scored row of the other kind among <paramref name="rows"/>
    /// (heads are the <c>feature-extractor</c> rows); null when there is none or no validation image.</summary>
    internal static WinnerMargin? Measure(LeaderboardEntry winner, IEnumerable<LeaderboardEntry> rows, int validationImages)
    {
        ArgumentNullException.ThrowIfNull(winner);
        ArgumentNullException.ThrowIfNull(rows);
        if (winner.Score is not { } score || validationImages <= 0) return null;
        var winnerIsHead = IsHead(winner);
        var others = rows.Where(e => e.Score is not null && IsHead(e) != winnerIsHead && e.Strategy != Strategy.AutoCandidate.FromScratch.Family).ToList();
        if (others.Count == 0) return null;
        // A network still at its head start is a head on frozen features too; it stands for the networks only when no other can.
        if (others.Any(e => !e.BestAtHeadStart)) others = others.Where(e => !e.BestAtHeadStart).ToList();
        // The leaderboard's own order picks the best of them.
        var other = others.Aggregate((best, e) => SearchReportBuilder.Better(e, best) ? e : best);
        var margin = new WinnerMargin
        {
            RunnerUp = other.Candidate,
            RunnerUpScore = other.Score!.Value,
            ValidationImages = validationImages,
            ImagesAhead = (int)Math.Round((score - other.Score.Value) * validationImages),
            StandardErrorImages = Math.Sqrt(validationImages * score * (1 - score)),
        };
        var ahead = margin.ImagesAhead;
        var lead = ahead switch
        {
            0 => "level with",
            > 0 => $"{ahead} validation image{(ahead == 1 ? "" : "s")} ahead of",
            _ => $"{-ahead} validation image{(ahead == -1 ? "" : "s")} behind",
        };
        var kind = winnerIsHead ? "fine-tuned network" : "head on frozen features";
        var error = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{margin.StandardErrorImages:0.0}");
        var verdict = margin.WithinNoise
            ? $"one standard error of an accuracy on {validationImages} images is {error} images, so this validation split cannot tell them apart; a larger one could."
            : $"more than one standard error of an accuracy on {validationImages} images ({error} images).";
        var tie = ahead == 0 && winner.LogLoss is { } wl && other.LogLoss is { } ol && winner.TieLoss < other.TieLoss
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $" The tie went to the lower validation log-loss ({wl:0.000} against {ol:0.000}).")
            : "";
        var unchanged = other.BestAtHeadStart ? $" {other.Candidate}'s best epoch is still its head start: fine-tuning did not improve on it." : "";
        return margin with
        {
            Description = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{winner.Candidate} ({score:0.000}) is {lead} the best {kind}, {other.Candidate} ({other.Score:0.000}), of {validationImages}; {verdict}{tie}{unchanged}"),
        };

        static bool IsHead(LeaderboardEntry e) => e.Strategy == TransferLearningOptions.FeatureExtractor;
    }
}
