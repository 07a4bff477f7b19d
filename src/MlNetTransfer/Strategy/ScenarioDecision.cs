namespace MlNetTransfer.Strategy;

/// <summary>The scenario matrix's choice for one data set, with the measurements, the cut-offs and the reasons (it goes
/// into <c>report.json</c> and the HTML report).</summary>
public sealed record ScenarioDecision
{
    public TransferScenario Scenario { get; init; }

    /// <summary>The scenario in plain words, e.g. "fine-tune from earlier layers".</summary>
    public string Title { get; init; } = "";

    /// <summary>Suggested fraction of the backbone's layers (from the input side) to keep frozen: 1 for a feature
    /// extractor, 0 to fine-tune everything.</summary>
    public double FreezeFraction { get; init; }

    /// <summary>Lower end of the scenario's freeze range.</summary>
    public double FreezeMinimum { get; init; }

    /// <summary>Upper end of the scenario's freeze range.</summary>
    public double FreezeMaximum { get; init; }

    public DatasetSize Size { get; init; } = new();
    public DomainSimilarityResult Similarity { get; init; } = new();

    /// <summary>The similarity cut-off used: similar from this score up.</summary>
    public double SimilarityCutoff { get; init; }

    public bool IsSimilar { get; init; }
    public bool IsLarge => Size.IsLarge;

    /// <summary>What the backbone was trained on, as its spec says.</summary>
    public string SourceDomain { get; init; } = "";

    /// <summary>The order in which an automatic search should try the scenarios: the feature extractor first (a head on
    /// cached embeddings costs seconds), then the chosen scenario, then the others by how far their freeze depth is from it.</summary>
    public IReadOnlyList<TransferScenario> CandidateOrder { get; init; } = [];

    /// <summary>The decision in plain words: scenario, measurements, cut-offs and choice.</summary>
    public string Explanation { get; init; } = "";
}
