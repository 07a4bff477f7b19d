namespace MlNetTransfer;

/// <summary>A progress report from a long step: <paramref name="Stage"/> done <paramref name="Done"/> of <paramref name="Total"/> (Total 0 = unknown).</summary>
public sealed record TrainingProgress(string Stage, long Done, long Total, string? Message = null)
{
    public const string Loading = "load";
    public const string Preparing = "backbone";
    public const string Featurizing = "featurize";
    public const string Training = "train";
    public const string FineTuning = "fine-tune";
    public const string Evaluating = "evaluate";
    public const string Saving = "save";
    public const string Measuring = "measure";
    public const string Searching = "search";
    public const string Comparing = "compare";
    public const string Timing = "time";
    public const string Reporting = "report";
}
