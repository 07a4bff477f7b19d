using System.Globalization;
using System.Text.Json.Serialization;
using MlNetTransfer.Heads;

namespace MlNetTransfer.Strategy;

/// <summary>How a candidate trains.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CandidateMethod>))]
public enum CandidateMethod
{
    /// <summary>A head on the frozen backbone's cached embeddings.</summary>
    Head,

    /// <summary>Fine-tuning at one freeze depth.</summary>
    FineTune,

    /// <summary>Chain-thaw: head, then each block alone, then everything.</summary>
    ChainThaw,

    /// <summary>The same architecture with re-initialised weights, all of it trained: the no-transfer baseline.</summary>
    FromScratch,
}

/// <summary>One configuration a search or an experiment tries.</summary>
/// <param name="Name">Unique name on the leaderboard, e.g. <c>feature-extractor/lbfgs</c> or <c>fine-tune-top/freeze-70</c>.</param>
/// <param name="Family">The leaderboard's strategy family: <c>feature-extractor</c>, <c>fine-tune-top</c>, <c>fine-tune-earlier</c>,
/// <c>fine-tune-all</c>, <c>chain-thaw</c>, <c>from-scratch</c>.</param>
/// <param name="Method">How it trains.</param>
/// <param name="Head">The head trainer, for a <see cref="CandidateMethod.Head"/> candidate.</param>
/// <param name="FreezeFraction">Fraction of the backbone's layers kept frozen (1 for a head on embeddings, 0 when all of it trains).</param>
public sealed record AutoCandidate(string Name, string Family, CandidateMethod Method, HeadTrainer? Head, double FreezeFraction)
{
    public bool IsFineTune => Method != CandidateMethod.Head;

    /// <summary>Successive-halving candidates: how the new head starts; null means the run's own fine-tuning options decide.</summary>
    public HeadStart? Start { get; init; }

    /// <summary>Successive-halving candidates: the peak learning rate (<see cref="FineTuning.FineTuneOptions.LearningRate"/>);
    /// null keeps the run's.</summary>
    public float? LearningRate { get; init; }

    /// <summary>The family of a freeze depth: the scenario whose freeze range holds it.</summary>
    public static string FamilyOf(double freezeFraction) => freezeFraction switch
    {
        >= 1 => FamilyOf(TransferScenario.FeatureExtractor),
        >= 0.6 - 1e-9 => FamilyOf(TransferScenario.FineTuneTop),
        > 0 => FamilyOf(TransferScenario.FineTuneFromEarlierLayers),
        _ => FamilyOf(TransferScenario.FineTuneAll),
    };

    /// <summary>Fine-tuning at <paramref name="freezeFraction"/> from <paramref name="start"/> at <paramref name="learningRate"/>,
    /// named e.g. <c>fine-tune-top/freeze-70/probe/lr-0.0003</c>.</summary>
    public static AutoCandidate ForFineTuning(double freezeFraction, HeadStart start, float learningRate) =>
        new(Invariant($"{FamilyOf(freezeFraction)}/freeze-{freezeFraction * 100:0}/{start.Name()}/lr-{learningRate:0.#####}"),
            FamilyOf(freezeFraction), CandidateMethod.FineTune, null, freezeFraction)
        { Start = start, LearningRate = learningRate };

    /// <summary>
    /// The freeze depths successive halving tries: the depth the decision points to (the middle of the first fine-tuning
    /// scenario in <see cref="ScenarioDecision.CandidateOrder"/>) and the scenario ranges' other ends and middles nearest it,
    /// <paramref name="count"/> in all, nearest first (ties: the deeper freeze first, the safer change).
    /// </summary>
    public static IReadOnlyList<double> Depths(ScenarioDecision decision, int count)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var target = decision.CandidateOrder.Where(s => s != TransferScenario.FeatureExtractor).Select(Middle).DefaultIfEmpty(Middle(TransferScenario.FineTuneTop)).First();
        var depths = Enum.GetValues<TransferScenario>().Where(s => s != TransferScenario.FeatureExtractor)
            .SelectMany(s => { var (a, b) = ScenarioMatrix.FreezeRange(s); return new[] { a, (a + b) / 2, b }; })
            .Select(d => Math.Round(d, 4)).Distinct();
        return depths.OrderBy(d => Math.Round(Math.Abs(d - target), 6)).ThenByDescending(d => d).Take(Math.Max(1, count)).ToList();

        static double Middle(TransferScenario s) { var (a, b) = ScenarioMatrix.FreezeRange(s); return (a + b) / 2; }
    }

    /// <summary>
    /// Successive halving's candidates: every freeze depth × head start × learning rate, in the order the evidence suggests —
    /// by the sum of the three ranks (depth nearest the decision, the preferred head start, the first rate), so that a budget
    /// that cuts the list keeps a spread of all three rather than every variant of the first depth. Within one sum the head
    /// start varies first, then the depth, the rate last: a budget that admits two candidates tries both starts when the
    /// evidence could not choose one, or a second depth, before a second rate.
    /// Rates below <paramref name="baseRate"/> are the gentler steps a head that already fits wants (LP-FT, Kumar et al. 2022),
    /// so only probe starts take them; a random head, which must still move far, takes the others (all of them when none is
    /// at least the base). On the Fashion-MNIST subset a random start at 0.3× won rung 1 by one validation image of 500 in two
    /// runs and kept its first fine-tuned epoch; without it the last run left trained 8 epochs instead of 5.
    /// </summary>
    public static IReadOnlyList<AutoCandidate> FineTuneGrid(IReadOnlyList<double> depths, IReadOnlyList<HeadStart> starts, IReadOnlyList<float> learningRates,
        float baseRate)
    {
        if (depths.Count == 0 || starts.Count == 0 || learningRates.Count == 0)
            throw new MlNetTransferException("Auto search: successive halving needs at least one freeze depth, head start and learning rate.");
        var anyFull = learningRates.Any(r => r >= baseRate);
        var grid = from d in Enumerable.Range(0, depths.Count)
                   from s in Enumerable.Range(0, starts.Count)
                   from r in Enumerable.Range(0, learningRates.Count)
                   where starts[s] == HeadStart.Probe || !anyFull || learningRates[r] >= baseRate
                   orderby d + s + r, r, d, s
                   select ForFineTuning(depths[d], starts[s], learningRates[r]);
        return grid.ToList();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    public static string FamilyOf(TransferScenario scenario) => scenario switch
    {
        TransferScenario.FeatureExtractor => "feature-extractor",
        TransferScenario.FineTuneTop => "fine-tune-top",
        TransferScenario.FineTuneFromEarlierLayers => "fine-tune-earlier",
        _ => "fine-tune-all",
    };

    /// <summary>A head on the cached embeddings.</summary>
    public static AutoCandidate ForHead(HeadTrainer head) =>
        new($"feature-extractor/{head.ToString().ToLowerInvariant()}", "feature-extractor", CandidateMethod.Head, head, 1);

    /// <summary>Fine-tuning at the middle of a scenario's freeze range.</summary>
    public static AutoCandidate ForScenario(TransferScenario scenario)
    {
        if (scenario == TransferScenario.FeatureExtractor) throw new ArgumentException("The feature extractor is tried through its heads.", nameof(scenario));
        var (min, max) = ScenarioMatrix.FreezeRange(scenario);
        var freeze = (min + max) / 2;
        return new($"{FamilyOf(scenario)}/freeze-{(freeze * 100).ToString("0", CultureInfo.InvariantCulture)}", FamilyOf(scenario), CandidateMethod.FineTune, null, freeze);
    }

    public static AutoCandidate ChainThaw { get; } = new("chain-thaw", "chain-thaw", CandidateMethod.ChainThaw, null, 0);

    public static AutoCandidate FromScratch { get; } = new("from-scratch", "from-scratch", CandidateMethod.FromScratch, null, 0);

    /// <summary>The experiment's side-by-side rows: each head, fine-tune the top, fine-tune all, chain-thaw, and training
    /// the same architecture from scratch.</summary>
    public static IReadOnlyList<AutoCandidate> Experiment(AutoSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return [.. options.Heads.Distinct().Select(ForHead), ForScenario(TransferScenario.FineTuneTop), ForScenario(TransferScenario.FineTuneAll), ChainThaw, FromScratch];
    }
}
