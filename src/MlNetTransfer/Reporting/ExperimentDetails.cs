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

    /// <summary>The mistakes section: top-loss images with heat maps and a gallery of correct ones (<see cref="TransferLearningResult.Mistakes"/>).</summary>
    public MistakesReport? Mistakes { get; init; }

    /// <summary>The details a training report carries itself: its scenario decision and leaderboard (auto), and its learning
    /// curves — every candidate's for a search, else the run's own per-epoch curve.</summary>
    public static ExperimentDetails From(TrainingReport report, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var curves = report.CandidateCurves.Count > 0 ? report.CandidateCurves
            : report.LearningCurve.Count > 0 ? [FromEpochs(report.Strategy, report.LearningCurve)]
            : [];
        return new ExperimentDetails { Title = title, Leaderboard = report.Leaderboard, Scenario = report.Scenario, LearningCurves = curves };
    }

    /// <summary>A fine-tuning run's per-epoch report as a plotted curve.</summary>
    public static LearningCurve FromEpochs(string candidate, IEnumerable<EpochReport> epochs) => new()
    {
        Candidate = candidate,
        Points = epochs.Select(e => new LearningCurvePoint(e.Epoch, Finite(e.TrainLoss), Finite(e.ValidationLoss), Finite(e.ValidationAccuracy))).ToList(),
    };

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
