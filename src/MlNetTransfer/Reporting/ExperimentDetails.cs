using MlNetTransfer.Strategy;

namespace MlNetTransfer.Reporting;

/// <summary>What the HTML report shows beyond a <see cref="TrainingReport"/>: the search or experiment around it. Every part is optional.</summary>
public sealed record ExperimentDetails
{
    /// <summary>Heading of the report; default "MlNetTransfer report — &lt;data source&gt;".</summary>
    public string? Title { get; init; }

    public Leaderboard? Leaderboard { get; init; }

    public IReadOnlyList<LearningCurve> LearningCurves { get; init; } = [];

    public ScenarioDecision? Scenario { get; init; }
}
