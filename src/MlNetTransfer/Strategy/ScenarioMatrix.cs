using System.Globalization;
using System.Text;

namespace MlNetTransfer.Strategy;

/// <summary>Options of <see cref="ScenarioMatrix"/>.</summary>
public sealed class ScenarioMatrixOptions
{
    /// <summary>A data set is "similar" to the backbone's source domain from this <see cref="DomainSimilarityResult.Score"/>
    /// up. Default 0.5: the calibration data sets of both kinds sit well away from it (see bench/SimilarityCalibration/RESULTS.md).</summary>
    public double SimilarityCutoff { get; set; } = 0.5;
}

/// <summary>
/// The seeds' scenario matrix: dataset size × domain similarity → how much of the pretrained network to reuse.
/// <code>
///                  different                          similar
///   large   fine-tune all (freeze 0)           fine-tune top (freeze 60–80%)
///   small   fine-tune from earlier layers      feature extractor (freeze all,
///           (freeze ⅓–½)                       train a head on embeddings)
/// </code>
/// Few images and a familiar domain: the features already fit and fine-tuning would only overfit. Many images and a
/// familiar domain: the general lower layers stay, the task-specific top adapts. A foreign domain with few images:
/// only the most generic early layers (edges, blobs) transfer, so more of the network must adapt, yet not all of it,
/// or it overfits. A foreign domain with many images: everything adapts, the pretrained weights serving as a good
/// initialisation.
/// </summary>
public static class ScenarioMatrix
{
    /// <summary>The freeze range of a scenario: the fraction of the backbone's layers, counted from the input, kept frozen.</summary>
    public static (double Minimum, double Maximum) FreezeRange(TransferScenario scenario) => scenario switch
    {
        TransferScenario.FeatureExtractor => (1, 1),
        TransferScenario.FineTuneTop => (0.6, 0.8),
        TransferScenario.FineTuneFromEarlierLayers => (1 / 3.0, 0.5),
        TransferScenario.FineTuneAll => (0, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
    };

    /// <summary>The scenario in plain words.</summary>
    public static string Title(TransferScenario scenario) => scenario switch
    {
        TransferScenario.FeatureExtractor => "feature extractor",
        TransferScenario.FineTuneTop => "fine-tune the top",
        TransferScenario.FineTuneFromEarlierLayers => "fine-tune from earlier layers",
        TransferScenario.FineTuneAll => "fine-tune the whole network",
        _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
    };

    /// <summary>The scenario for a size and a similarity (no measurement involved): similar from the cut-off up, large as <paramref name="isLarge"/>.</summary>
    public static TransferScenario Cell(bool isLarge, bool isSimilar) => (isLarge, isSimilar) switch
    {
        (false, true) => TransferScenario.FeatureExtractor,
        (true, true) => TransferScenario.FineTuneTop,
        (false, false) => TransferScenario.FineTuneFromEarlierLayers,
        (true, false) => TransferScenario.FineTuneAll,
    };

    /// <param name="size">The training set's size (its threshold decides small/large).</param>
    /// <param name="similarity">The measured domain similarity.</param>
    /// <param name="options">The similarity cut-off.</param>
    /// <param name="sourceDomain">What the backbone was trained on, for the explanation (e.g. <c>ImageNet-1k natural photos</c>).</param>
    public static ScenarioDecision Choose(DatasetSize size, DomainSimilarityResult similarity, ScenarioMatrixOptions? options = null, string? sourceDomain = null)
    {
        ArgumentNullException.ThrowIfNull(size);
        ArgumentNullException.ThrowIfNull(similarity);
        options ??= new ScenarioMatrixOptions();
        if (!(options.SimilarityCutoff is > 0 and < 1))
            throw new MlNetTransferException($"Scenario matrix: SimilarityCutoff is {options.SimilarityCutoff}; it must be between 0 and 1 (exclusive).");
        var isSimilar = similarity.Score >= options.SimilarityCutoff;
        var scenario = Cell(size.IsLarge, isSimilar);
        var (minimum, maximum) = FreezeRange(scenario);
        var freeze = (minimum + maximum) / 2;
        var domain = string.IsNullOrWhiteSpace(sourceDomain) || sourceDomain == "unknown" ? "the backbone's training data" : sourceDomain;
        return new ScenarioDecision
        {
            Scenario = scenario,
            Title = Title(scenario),
            FreezeFraction = freeze,
            FreezeMinimum = minimum,
            FreezeMaximum = maximum,
            Size = size,
            Similarity = similarity,
            SimilarityCutoff = options.SimilarityCutoff,
            IsSimilar = isSimilar,
            SourceDomain = domain,
            CandidateOrder = CandidateOrder(scenario),
            Explanation = Explain(scenario, size, similarity, options.SimilarityCutoff, isSimilar, domain, minimum, maximum),
        };
    }

    private static IReadOnlyList<TransferScenario> CandidateOrder(TransferScenario chosen)
    {
        var depth = Mid(chosen);
        return new[] { TransferScenario.FeatureExtractor, chosen }
            .Concat(Enum.GetValues<TransferScenario>().OrderBy(s => Math.Abs(Mid(s) - depth)).ThenByDescending(Mid))
            .Distinct().ToList();

        static double Mid(TransferScenario s) { var (a, b) = FreezeRange(s); return (a + b) / 2; }
    }

    private static string Explain(TransferScenario scenario, DatasetSize size, DomainSimilarityResult similarity, double cutoff,
        bool isSimilar, string domain, double freezeMin, double freezeMax)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        var cell = $"{(size.IsLarge ? "large" : "small")} + {(isSimilar ? "similar" : "different")}";
        var freeze = freezeMin == freezeMax ? $"freeze {Percent(freezeMin)}" : $"freeze {Percent(freezeMin)}–{Percent(freezeMax)} of the layers";
        text.Append(c, $"Scenario: {cell} → {Title(scenario)} ({freeze}).\n");
        text.Append(c, $"Size: {size.Total} training images in {size.Classes} classes, {size.ImagesPerClass:0.#} per class on average (smallest class {size.SmallestClass}); ");
        text.Append(c, $"a data set counts as large from {size.LargeImagesPerClass} images per class, so this one is {(size.IsLarge ? "large" : "small")}.\n");
        text.Append(c, $"Similarity to {domain}: {similarity.Score:0.00} on a 0–1 scale; from {cutoff:0.00} up counts as similar, so these images are {(isSimilar ? "similar" : "different")}. It combines:\n");
        foreach (var component in similarity.Components)
            text.Append(c, $"  - {component.Description}: score {component.Score:0.00} (0 at {component.DifferentAt:0.###}, 1 at {component.SimilarAt:0.###}, weight {component.Weight:0.##}).\n");
        text.Append("Choice: ").Append(scenario switch
        {
            TransferScenario.FeatureExtractor =>
                "the backbone's features already suit these images and there are too few of them to retrain its weights without overfitting, so the backbone stays frozen and only a classifier head is trained on its embeddings.",
            TransferScenario.FineTuneTop =>
                "the backbone's features suit these images and there are enough of them to adapt its upper, task-specific layers; the lower, general layers stay frozen.",
            TransferScenario.FineTuneFromEarlierLayers =>
                "these images differ from what the backbone learned from, so its upper layers' features fit poorly, but there are too few images to retrain it all; only the first, most generic layers stay frozen and the rest is fine-tuned.",
            _ =>
                "these images differ from what the backbone learned from and there are enough of them to retrain it, so the whole network is fine-tuned, its pretrained weights serving as the starting point.",
        });
        return text.ToString();
    }

    internal static string Percent(double fraction) => (fraction * 100).ToString("0", CultureInfo.InvariantCulture) + "%";
}
