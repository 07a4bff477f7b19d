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

    /// <summary>The auto strategy's candidates in the order the decision suggests: every head on cached embeddings first
    /// (seconds each), then one fine-tuning run per other scenario at the middle of its freeze range, in
    /// <see cref="ScenarioDecision.CandidateOrder"/>.</summary>
    public static IReadOnlyList<AutoCandidate> InOrder(ScenarioDecision decision, AutoSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Heads.Count == 0 && !options.FineTune)
            throw new MlNetTransferException("Auto search: no heads and fine-tuning off leaves no candidate to try.");
        var list = options.Heads.Distinct().Select(ForHead).ToList();
        if (options.FineTune)
            list.AddRange(decision.CandidateOrder.Where(s => s != TransferScenario.FeatureExtractor).Select(ForScenario));
        return list;
    }

    /// <summary>The experiment's side-by-side rows: each head, fine-tune the top, fine-tune all, chain-thaw, and training
    /// the same architecture from scratch.</summary>
    public static IReadOnlyList<AutoCandidate> Experiment(AutoSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return [.. options.Heads.Distinct().Select(ForHead), ForScenario(TransferScenario.FineTuneTop), ForScenario(TransferScenario.FineTuneAll), ChainThaw, FromScratch];
    }
}
