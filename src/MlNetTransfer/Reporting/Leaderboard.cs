namespace MlNetTransfer.Reporting;

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

    public IReadOnlyList<LeaderboardEntry> Entries { get; init; } = [];

    /// <summary>Entries best first (highest score, then least time).</summary>
    public IReadOnlyList<LeaderboardEntry> Ranked() => Entries.OrderByDescending(e => e.Score ?? double.NegativeInfinity).ThenBy(e => e.WallSeconds).ToList();
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

    /// <summary>Wall time of the candidate (training and evaluation).</summary>
    public double WallSeconds { get; init; }

    /// <summary><c>completed</c>, <c>stopped at budget</c>, <c>failed</c>, …</summary>
    public string Status { get; init; } = "completed";

    public string? Note { get; init; }

    /// <summary>Fine-tuning candidates: epochs run with pretrained layers learning (the head-only warm-up or probe not
    /// counted); null for heads on cached embeddings.</summary>
    public int? FineTuningEpochs { get; init; }

    /// <summary>Fine-tuning candidates: median training images per second over those epochs (decode, augment and step).</summary>
    public double? ImagesPerSecond { get; init; }
}
