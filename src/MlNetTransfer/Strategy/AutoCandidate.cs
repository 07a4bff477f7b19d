using System.Globalization;
using MlNetTransfer.Heads;

namespace MlNetTransfer.Strategy;

/// <summary>One configuration an automatic search tries: a head on the frozen backbone's cached embeddings, or fine-tuning
/// at a freeze depth.</summary>
/// <param name="Name">Unique name on the leaderboard, e.g. <c>feature-extractor/lbfgs</c> or <c>fine-tune-top/freeze-70</c>.</param>
/// <param name="Scenario">The scenario-matrix cell it stands for.</param>
/// <param name="Head">The head trainer, for a feature-extractor candidate.</param>
/// <param name="FreezeFraction">Fraction of the backbone's layers kept frozen (1 for a feature extractor).</param>
public sealed record AutoCandidate(string Name, TransferScenario Scenario, HeadTrainer? Head, double FreezeFraction)
{
    public bool IsFineTune => Head is null;

    /// <summary>The leaderboard's strategy family: <c>feature-extractor</c>, <c>fine-tune-top</c>, <c>fine-tune-earlier</c>, <c>fine-tune-all</c>.</summary>
    public string Family => FamilyOf(Scenario);

    public static string FamilyOf(TransferScenario scenario) => scenario switch
    {
        TransferScenario.FeatureExtractor => "feature-extractor",
        TransferScenario.FineTuneTop => "fine-tune-top",
        TransferScenario.FineTuneFromEarlierLayers => "fine-tune-earlier",
        _ => "fine-tune-all",
    };

    /// <summary>The candidates in the order the decision suggests: every head on cached embeddings first (seconds each), then
    /// one fine-tuning run per other scenario at the middle of its freeze range, in <see cref="ScenarioDecision.CandidateOrder"/>.</summary>
    public static IReadOnlyList<AutoCandidate> InOrder(ScenarioDecision decision, AutoSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Heads.Count == 0 && !options.FineTune)
            throw new MlNetTransferException("Auto search: no heads and fine-tuning off leaves no candidate to try.");
        var list = options.Heads.Distinct()
            .Select(h => new AutoCandidate($"feature-extractor/{h.ToString().ToLowerInvariant()}", TransferScenario.FeatureExtractor, h, 1))
            .ToList();
        if (options.FineTune)
            foreach (var scenario in decision.CandidateOrder.Where(s => s != TransferScenario.FeatureExtractor))
            {
                var (min, max) = ScenarioMatrix.FreezeRange(scenario);
                var freeze = (min + max) / 2;
                list.Add(new AutoCandidate($"{FamilyOf(scenario)}/freeze-{(freeze * 100).ToString("0", CultureInfo.InvariantCulture)}", scenario, null, freeze));
            }
        return list;
    }
}
