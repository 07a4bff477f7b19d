using System.Text.Json.Serialization;

namespace MlNetTransfer.Data;

/// <summary>Whether training compensates for classes of unequal size.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ClassWeighting>))]
public enum ClassWeighting
{
    /// <summary>When the largest training class has at least <see cref="ClassBalance.ImbalanceRatio"/> times the images of the
    /// smallest: each class weighs n / (C · n_c) in the fine-tuning loss and as the ML.NET heads' example weight, and
    /// <c>auto</c> ranks its candidates by macro-F1. Below that ratio nothing changes.</summary>
    [JsonStringEnumMemberName("auto")] Auto,

    /// <summary>Every image weighs the same, whatever the class sizes; candidates rank by accuracy.</summary>
    [JsonStringEnumMemberName("off")] Off,
}

/// <summary>The training split's class sizes and the weights taken from them (report.json <c>classBalance</c>).</summary>
public sealed record ClassBalanceReport
{
    /// <summary><c>auto</c> or <c>off</c>.</summary>
    public ClassWeighting Mode { get; init; }

    /// <summary>Training images of the largest class over those of the smallest.</summary>
    public double Ratio { get; init; }

    /// <summary>Whether <see cref="Ratio"/> reaches <see cref="ClassBalance.ImbalanceRatio"/>.</summary>
    public bool Imbalanced { get; init; }

    /// <summary>Whether the weights below were used (imbalanced and mode auto).</summary>
    public bool Applied { get; init; }

    /// <summary>Training images per class.</summary>
    public IReadOnlyDictionary<string, int> TrainImages { get; init; } = new Dictionary<string, int>();

    /// <summary>Weight of one image of each class, n / (C · n_c) (all 1 when not applied).</summary>
    public IReadOnlyDictionary<string, float> Weights { get; init; } = new Dictionary<string, float>();

    /// <summary>What was done, in a sentence.</summary>
    public string Note { get; init; } = "";
}

/// <summary>Measures class imbalance and chooses "balanced" weights (King and Zeng 2001; scikit-learn's <c>class_weight="balanced"</c>).</summary>
public static class ClassBalance
{
    /// <summary>The largest-to-smallest class size ratio from which <see cref="ClassWeighting.Auto"/> weights classes.</summary>
    public const double ImbalanceRatio = 1.5;

    public static ClassBalanceReport Measure(IReadOnlyList<ImageExample> train, ClassWeighting mode)
    {
        var counts = train.GroupBy(e => e.Label, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        if (counts.Count == 0) return new ClassBalanceReport { Mode = mode, Ratio = 1, Note = "no training images" };
        double ratio = counts.Values.Max() / (double)counts.Values.Min();
        bool imbalanced = ratio >= ImbalanceRatio;
        bool applied = imbalanced && mode == ClassWeighting.Auto;
        int n = counts.Values.Sum(), c = counts.Count;
        var weights = counts.ToDictionary(kv => kv.Key, kv => applied ? (float)(n / ((double)c * kv.Value)) : 1f, StringComparer.Ordinal);
        var largest = counts.MaxBy(kv => kv.Value);
        var smallest = counts.MinBy(kv => kv.Value);
        var sizes = FormattableString.Invariant($"largest class '{largest.Key}' has {largest.Value} training images, smallest '{smallest.Key}' {smallest.Value} ({ratio:0.##}x)");
        var note = applied
            ? $"{sizes}: classes weighted n/(C·n_c) in the fine-tuning loss and as the heads' example weights, candidates ranked by macro-F1"
            : imbalanced
                ? $"{sizes}: imbalanced, but class weighting is off (--class-weights off); every image weighs the same, candidates ranked by accuracy"
                : FormattableString.Invariant($"{sizes}: below {ImbalanceRatio}x, so no class weighting");
        return new ClassBalanceReport { Mode = mode, Ratio = ratio, Imbalanced = imbalanced, Applied = applied, TrainImages = counts, Weights = weights, Note = note };
    }

    /// <summary>Parses <c>auto</c> or <c>off</c>.</summary>
    public static ClassWeighting Parse(string value) => value.Trim().ToLowerInvariant() switch
    {
        "auto" => ClassWeighting.Auto,
        "off" or "none" => ClassWeighting.Off,
        _ => throw new MlNetTransferException($"Class weights '{value}' is not known; use auto or off."),
    };
}
