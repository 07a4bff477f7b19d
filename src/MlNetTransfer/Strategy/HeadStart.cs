using System.Globalization;
using System.Text.Json.Serialization;

namespace MlNetTransfer.Strategy;

/// <summary>How a fine-tuning candidate's new head starts.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HeadStart>))]
public enum HeadStart
{
    /// <summary>A linear probe fitted on the frozen network's embeddings, then the layers fine-tune from there (LP-FT).</summary>
    [JsonStringEnumMemberName("probe")] Probe,

    /// <summary>Random weights, trained alone for the warm-up epochs before any layer thaws.</summary>
    [JsonStringEnumMemberName("random")] Random,
}

/// <summary>The one spelling of a head start in names and messages, as report.json writes it.</summary>
internal static class HeadStartNames
{
    public static string Name(this HeadStart start) => start.ToString().ToLowerInvariant();
}

/// <summary>Which head starts the auto search tries: chosen from the data (<see cref="Auto"/>) or fixed.</summary>
public enum HeadStartMode
{
    /// <summary>From the evidence (<see cref="HeadStartChoice.Choose"/>): probe where the frozen head is already strong and the
    /// domain similar, random where the domain is not, both as rung-1 candidates for a similar domain with a weak head.</summary>
    Auto,

    /// <summary>Only the probe start.</summary>
    Probe,

    /// <summary>Only the random start with warm-up.</summary>
    Random,

    /// <summary>Both, as rung-1 candidates; the measurements decide.</summary>
    Both,
}

/// <summary>The head starts the search tries, best-supported first, and why (report.json: <c>search.headStart</c>).</summary>
public sealed record HeadStartChoice
{
    /// <summary>The starts tried, the one the evidence favours first.</summary>
    public IReadOnlyList<HeadStart> Starts { get; init; } = [];

    /// <summary>The frozen head's strength: the best head's validation accuracy on the cached embeddings, or null when no head ran.</summary>
    public double? FrozenHeadAccuracy { get; init; }

    /// <summary>From this frozen-head accuracy up, the frozen features count as strong.</summary>
    public double StrongHeadAccuracy { get; init; }

    /// <summary>Whether the domain similarity reached the scenario matrix's cut-off.</summary>
    public bool IsSimilar { get; init; }

    /// <summary>The rule as applied, in plain words.</summary>
    public string Reason { get; init; } = "";

    /// <summary>
    /// Linear probing then fine-tuning (Kumar et al. 2022) keeps features that already fit: a fitted head sends useful gradients
    /// from the first step, where a random head's distort them. Where the features do not fit, the probe is a poor head to
    /// start from and ties the layers to it, so a random head warmed up on its own does better (measured here: probe 0.974 vs
    /// random 0.948 on hymenoptera, 0.812 vs 0.846 on the Fashion-MNIST subset). Two signals say which case a data set is:
    /// the frozen head's validation accuracy and the domain similarity. Both strong: probe. A dissimilar domain: random, even
    /// when the head is strong (a few easy classes separate on features that fit poorly, as on hds_shapes): after one to three
    /// epochs a probe start still leads from its fitted head, so in a shared halving it took the rungs and then ended lower
    /// (hds_shapes and its three-way split, 12 five-minute runs: probe-start winners 0.917-0.950, mean 0.933; random-start
    /// winners 0.942-0.975, mean 0.952). A similar domain with a weak head: both starts run in rung 1, random first, and
    /// successive halving decides.
    /// </summary>
    /// <param name="mode">Auto applies the rule; the other modes fix the answer (the reason says so).</param>
    /// <param name="frozenHeadAccuracy">The best head's validation accuracy, or null when no head ran.</param>
    /// <param name="decision">The scenario decision (its similarity verdict).</param>
    /// <param name="strongHeadAccuracy">The accuracy from which the frozen head counts as strong.</param>
    public static HeadStartChoice Choose(HeadStartMode mode, double? frozenHeadAccuracy, ScenarioDecision decision, double strongHeadAccuracy)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var c = CultureInfo.InvariantCulture;
        var similar = decision.IsSimilar;
        var choice = new HeadStartChoice { FrozenHeadAccuracy = frozenHeadAccuracy, StrongHeadAccuracy = strongHeadAccuracy, IsSimilar = similar };
        switch (mode)
        {
            case HeadStartMode.Probe: return choice with { Starts = [HeadStart.Probe], Reason = "probe start only, as asked (--head-start probe)." };
            case HeadStartMode.Random: return choice with { Starts = [HeadStart.Random], Reason = "random start with warm-up only, as asked (--head-start random)." };
            case HeadStartMode.Both: return choice with { Starts = [HeadStart.Probe, HeadStart.Random], Reason = "both starts, as asked (--head-start both); successive halving decides." };
        }
        var head = frozenHeadAccuracy is { } a
            ? string.Format(c, "the frozen head scores {0:0.000} on validation ({1} {2:0.00})", a, a >= strongHeadAccuracy ? "at least" : "below", strongHeadAccuracy)
            : "no head ran on the frozen embeddings";
        var domain = string.Format(c, "the domain similarity is {0:0.00} ({1} the cut-off {2:0.00})", decision.Similarity.Score, similar ? "at least" : "below", decision.SimilarityCutoff);
        var strong = frozenHeadAccuracy >= strongHeadAccuracy;
        if (strong && similar)
            return choice with
            {
                Starts = [HeadStart.Probe],
                Reason = $"probe start: {head} and {domain}, so the frozen features already fit; fine-tuning starts from that head (LP-FT) rather than a random one whose first steps would distort them.",
            };
        if (!similar)
            return choice with
            {
                Starts = [HeadStart.Random],
                Reason = strong
                    ? $"random start with warm-up: {head}, but {domain}: the classes separate on the frozen features, yet the features " +
                      "themselves fit the data poorly, so fine-tuning has to move them, which a start from the probe holds back. Its fitted head " +
                      "would lead the first rungs and lose at full length, so it is not a rung-1 candidate."
                    : $"random start with warm-up: {head} and {domain}, so the frozen features fit poorly and a probe on them is a weak head to tie the layers to.",
            };
        return choice with
        {
            Starts = [HeadStart.Random, HeadStart.Probe],
            Reason = $"both starts in rung 1: {head} but {domain}; the signals disagree, so successive halving decides (random first, as the head's accuracy suggests).",
        };
    }
}
