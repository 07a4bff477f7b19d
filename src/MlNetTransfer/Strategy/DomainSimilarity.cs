using System.Globalization;

namespace MlNetTransfer.Strategy;

/// <summary>Where one measurement reads "different" (score 0) and "similar" (score 1); in between the score is linear.</summary>
/// <param name="DifferentAt">Value at or beyond which the measurement counts as fully different.</param>
/// <param name="SimilarAt">Value at or beyond which it counts as fully similar (may be below <paramref name="DifferentAt"/>
/// for measurements where lower means more similar).</param>
/// <param name="Weight">Weight in the combined score.</param>
public sealed record SimilarityAnchors(double DifferentAt, double SimilarAt, double Weight)
{
    public double Score(double value)
    {
        if (DifferentAt == SimilarAt) throw new MlNetTransferException($"Similarity anchors: DifferentAt and SimilarAt are both {SimilarAt}.");
        return Math.Clamp((value - DifferentAt) / (SimilarAt - DifferentAt), 0, 1);
    }
}

/// <summary>
/// Options of <see cref="DomainSimilarity"/>: the anchors of each measurement. The defaults are calibrated with
/// MobileNetV2 (ImageNet-1k) on hymenoptera photos, the same photos degraded (grey, thumbnails, inverted, edges only),
/// Fashion-MNIST subsets, hand-drawn shapes (hds_shapes) and generated shapes; <c>bench/SimilarityCalibration</c>
/// measures them and its RESULTS.md records the numbers.
/// </summary>
public sealed class DomainSimilarityOptions
{
    /// <summary>LogME of the embeddings minus LogME of the raw-pixel baseline. Default: different at 0.15, similar at 0.50, weight 1.</summary>
    public SimilarityAnchors LogMeGain { get; set; } = new(0.15, 0.50, 1);

    /// <summary>Share of the pixel k-NN probe's errors the embedding probe removes. Default: different at 0.30, similar at 0.80, weight 1.</summary>
    public SimilarityAnchors ProbeErrorReduction { get; set; } = new(0.30, 0.80, 1);

    /// <summary>
    /// Share of a middle layer's k-NN probe errors the embedding's probe removes (<see cref="TopLayerComparison"/>): whether
    /// the backbone's top layers still build on what its middle has for these images. Default: different at 0.20, similar at
    /// 0.50, weight 3 — as much as the other three together, because it alone asks whether the <i>top</i> features fit
    /// (the other three also credit generic features that a sketch or a shape set shares with photos).
    /// </summary>
    public SimilarityAnchors TopLayerGain { get; set; } = new(0.20, 0.50, 3);

    /// <summary>Where the middle layers of <see cref="TopLayerGain"/> are tapped during featurization, as fractions of the
    /// backbone's weight layers before them (the nearest boundary between blocks is used); the embedding is compared
    /// with the best of them. Default 0.7, 0.8, 0.9: the upper third, where a network's last stages sit, so the question
    /// is whether the last few blocks still add to what the network has just below them. Empty leaves the measurement out.</summary>
    public IList<double> MiddleLayerDepths { get; set; } = new List<double> { 0.7, 0.8, 0.9 };

    /// <summary>The source head's mean top-1 probability. Default: different at 0.25, similar at 0.60, weight 1.</summary>
    public SimilarityAnchors SourceHeadConfidence { get; set; } = new(0.25, 0.60, 1);

    /// <summary>
    /// The LogME gain and both probes (against pixels and against the middle layer) count fully from this many labelled
    /// images up; below, their weight shrinks in proportion (N / FullWeightExamples), because their cross-validated
    /// estimates get noisy (with 16 images the probe's accuracy has a standard error above 10 points, enough to turn
    /// Fashion-MNIST "similar" and ants and bees "different" in the calibration). The source head's confidence, a mean
    /// over images that needs no labels, keeps its weight. Default 100.
    /// </summary>
    public int FullWeightExamples { get; set; } = 100;

    /// <summary>LogME settings.</summary>
    public LogMeOptions LogMe { get; set; } = new();

    /// <summary>k-NN probe settings.</summary>
    public KnnProbeOptions Probe { get; set; } = new();
}

/// <summary>One measurement behind the similarity score.</summary>
/// <param name="Name">Stable identifier: <c>logme-gain</c>, <c>probe-error-reduction</c> or <c>source-head-confidence</c>.</param>
/// <param name="Value">The measured value.</param>
/// <param name="Score">The value mapped through the anchors to 0 (different) … 1 (similar).</param>
/// <param name="DifferentAt">Anchor: value scoring 0.</param>
/// <param name="SimilarAt">Anchor: value scoring 1.</param>
/// <param name="Weight">Weight in the combined score.</param>
/// <param name="Description">The measurement in plain words, with its numbers.</param>
public sealed record SimilarityComponent(string Name, double Value, double Score, double DifferentAt, double SimilarAt, double Weight, string Description);

/// <summary>The combined similarity and everything measured for it.</summary>
public sealed record DomainSimilarityResult
{
    /// <summary>Weighted mean of the component scores: 0 is a domain foreign to the backbone, 1 one it knows well.</summary>
    public double Score { get; init; }

    public IReadOnlyList<SimilarityComponent> Components { get; init; } = [];

    public LogMeResult? LogMe { get; init; }
    public LogMeResult? BaselineLogMe { get; init; }
    public ProbeComparisonResult? Probe { get; init; }
    public SourceHeadStatistics? SourceHead { get; init; }
    public TopLayerComparisonResult? TopLayer { get; init; }
}

/// <summary>
/// Measures how close a labelled image set is to what the backbone learned from — the similarity axis of the
/// <see cref="ScenarioMatrix"/> — from up to four independent estimators, each mapped to 0…1 by documented anchors and
/// averaged with their weights:
/// <list type="bullet">
/// <item><b>LogME gain</b>: <see cref="LogMe"/> of the embeddings minus that of raw 16×16 pixels. LogME alone depends on
/// the number of classes and on how hard the task is; against the baseline on the same labels, what remains is how much
/// the backbone's features add.</item>
/// <item><b>Probe error reduction</b>: <see cref="ProbeComparison"/>, the k-NN probe on embeddings against raw pixels.</item>
/// <item><b>Top-layer gain</b>: <see cref="TopLayerComparison"/>, the same probe on the embeddings against a middle
/// layer's pooled activations: near 0 when the top layers, specific to the source task, add nothing (Yosinski et al. 2014).</item>
/// <item><b>Source-head confidence</b>: <see cref="SourceHeadStatistics.MeanMaxProbability"/> of the backbone's own
/// classifier on the images, where the backbone still has one.</item>
/// </list>
/// Estimators whose inputs are not given are left out of the mean. LogME needs the pixel baseline as its reference, so
/// the embeddings alone are not enough.
/// </summary>
public static class DomainSimilarity
{
    /// <param name="embeddings">The backbone's embedding of each image.</param>
    /// <param name="labels">Each image's class.</param>
    /// <param name="pixelBaseline">The same images as <see cref="PixelBaseline"/> rows; enables the LogME gain and the probe.</param>
    /// <param name="sourceProbabilities">The backbone's own head's probabilities per image; enables the confidence measure.</param>
    /// <param name="sourceClassNames">Names of the source head's classes, for the explanation.</param>
    /// <param name="options">Anchors and estimator settings.</param>
    /// <param name="middleLayers">Middle layers' pooled activations of the same images; enable the top-layer gain.</param>
    public static DomainSimilarityResult Measure(float[][] embeddings, int[] labels, float[][]? pixelBaseline = null,
        float[][]? sourceProbabilities = null, IReadOnlyList<string>? sourceClassNames = null, DomainSimilarityOptions? options = null,
        IReadOnlyList<MiddleLayerFeatures>? middleLayers = null)
    {
        options ??= new DomainSimilarityOptions();
        ArgumentNullException.ThrowIfNull(embeddings);
        if (pixelBaseline is null && sourceProbabilities is null)
            throw new MlNetTransferException("Domain similarity: LogME alone has no reference point; give the pixel baseline or the source head's predictions too.");
        if (sourceProbabilities is not null && sourceProbabilities.Length != embeddings.Length)
            throw new MlNetTransferException($"Domain similarity: {embeddings.Length} embeddings but {sourceProbabilities.Length} source-head predictions; they must describe the same images.");
        var logMe = LogMe.Compute(embeddings, labels, options.LogMe);
        LogMeResult? baselineLogMe = null;
        ProbeComparisonResult? probe = null;
        if (pixelBaseline is not null)
        {
            baselineLogMe = LogMe.Compute(pixelBaseline, labels, options.LogMe);
            probe = ProbeComparison.Compare(embeddings, pixelBaseline, labels, options.Probe);
        }
        var head = sourceProbabilities is null ? null : SourceHeadStatistics.Compute(sourceProbabilities, sourceClassNames);
        var topLayer = middleLayers is not { Count: > 0 } ? null : TopLayerComparison.Compare(embeddings, labels, middleLayers, options.Probe);
        return Combine(logMe, baselineLogMe, probe, head, options, topLayer);
    }

    /// <summary>
    /// What can be measured with the embeddings alone (training from embeddings shards, no images): LogME of the embeddings
    /// and the k-NN probe on them, in plain words, and which estimators could not run and why. Neither has a reference point
    /// without the pixel baseline, so there is no similarity score, and no scenario can be chosen from it.
    /// </summary>
    /// <param name="embeddings">The backbone's embedding of each training image.</param>
    /// <param name="labels">Each image's class.</param>
    /// <param name="options">Estimator settings.</param>
    internal static string DescribeWithoutImages(float[][] embeddings, int[] labels, DomainSimilarityOptions? options = null)
    {
        options ??= new DomainSimilarityOptions();
        var logMe = LogMe.Compute(embeddings, labels, options.LogMe);
        var probe = KnnProbe.CrossValidate(embeddings, labels, options.Probe);
        return FormattableString.Invariant(
            $"Domain similarity not scored, so no scenario was chosen: measured from the embeddings alone, LogME {logMe.Score:0.000} over {logMe.Examples} training images ") +
            FormattableString.Invariant($"and a {probe.Neighbors}-NN probe ({probe.Folds}-fold cross-validated) balanced accuracy {probe.BalancedAccuracy:0.000}, but neither has a reference point without the images; ") +
            "not computed: the LogME gain and the probe error reduction (they compare with the raw-pixel baseline, which needs the images), the top-layer gain " +
            "(the shards hold no middle-layer activations) and the source-head confidence (the backbone's own classifier would have to run on the images).";
    }

    /// <summary>Combines measurements made elsewhere; any may be null (but not all).</summary>
    public static DomainSimilarityResult Combine(LogMeResult? logMe, LogMeResult? baselineLogMe, ProbeComparisonResult? probe,
        SourceHeadStatistics? sourceHead, DomainSimilarityOptions? options = null, TopLayerComparisonResult? topLayer = null)
    {
        options ??= new DomainSimilarityOptions();
        if (options.FullWeightExamples < 1)
            throw new MlNetTransferException($"Domain similarity: FullWeightExamples is {options.FullWeightExamples}; it must be at least 1.");
        var components = new List<SimilarityComponent>();
        void Add(string name, double value, SimilarityAnchors anchors, string description, int? labelledExamples = null)
        {
            if (anchors.Weight < 0) throw new MlNetTransferException($"Similarity anchors of '{name}': weight {anchors.Weight} is negative.");
            var weight = anchors.Weight;
            if (labelledExamples is { } n && n < options.FullWeightExamples)
            {
                var factor = (double)n / options.FullWeightExamples;
                weight *= factor;
                description += string.Create(CultureInfo.InvariantCulture, $" (weight ×{factor:0.00}: {n} labelled images make this estimate noisy)");
            }
            components.Add(new SimilarityComponent(name, value, anchors.Score(value), anchors.DifferentAt, anchors.SimilarAt, weight, description));
        }

        if (logMe is not null && baselineLogMe is not null)
            Add("logme-gain", logMe.Score - baselineLogMe.Score, options.LogMeGain, string.Create(CultureInfo.InvariantCulture,
                $"LogME of the embeddings {logMe.Score:0.000} vs {baselineLogMe.Score:0.000} for raw {Side(baselineLogMe.Dimension)} pixels, a gain of {logMe.Score - baselineLogMe.Score:0.000}"), logMe.Examples);
        if (probe is not null)
            Add("probe-error-reduction", probe.ErrorReduction, options.ProbeErrorReduction, string.Create(CultureInfo.InvariantCulture,
                $"a {probe.Embedding.Neighbors}-NN probe ({probe.Embedding.Folds}-fold cross-validated balanced accuracy) reaches {probe.Embedding.BalancedAccuracy:0.000} on the embeddings vs {probe.Baseline.BalancedAccuracy:0.000} on raw pixels, removing {ScenarioMatrix.Percent(probe.ErrorReduction)} of the pixel probe's errors"), probe.Embedding.Examples);
        if (topLayer is not null)
            Add("top-layer-gain", topLayer.ErrorReduction, options.TopLayerGain, string.Create(CultureInfo.InvariantCulture,
                $"the same probe reaches {topLayer.Embedding.BalancedAccuracy:0.000} on the embeddings vs {topLayer.Middle.BalancedAccuracy:0.000} on the pooled {topLayer.Middle.Dimension}-channel middle layer '{topLayer.Tensor}' ({ScenarioMatrix.Percent(topLayer.Depth)} of the way up{Others(topLayer)}), so the top layers remove {ScenarioMatrix.Percent(topLayer.ErrorReduction)} of the middle's errors"), topLayer.Embedding.Examples);
        if (sourceHead is not null)
            Add("source-head-confidence", sourceHead.MeanMaxProbability, options.SourceHeadConfidence, string.Create(CultureInfo.InvariantCulture,
                $"the backbone's own {sourceHead.SourceClasses}-class head gives its top class {sourceHead.MeanMaxProbability:0.000} probability on average (normalized entropy {sourceHead.MeanNormalizedEntropy:0.00}, {sourceHead.DistinctTop1Classes} distinct top-1 classes; most often {string.Join(", ", sourceHead.MostFrequentTop1.Take(3).Select(s => $"'{s.Name}' {ScenarioMatrix.Percent(s.Share)}"))})"));

        if (components.Count == 0 && logMe is not null)
            throw new MlNetTransferException("Domain similarity: LogME alone has no reference point; give the pixel baseline or the source head's predictions too.");
        var weight = components.Sum(c => c.Weight);
        if (weight <= 0) throw new MlNetTransferException("Domain similarity: no measurement with a positive weight was given.");
        return new DomainSimilarityResult
        {
            Score = components.Sum(c => c.Score * c.Weight) / weight,
            Components = components,
            LogMe = logMe,
            BaselineLogMe = baselineLogMe,
            Probe = probe,
            SourceHead = sourceHead,
            TopLayer = topLayer,
        };
    }

    /// <summary>The other middle layers' probes, for the explanation: "; best of 3, the others 0.812 at 81%, …".</summary>
    private static string Others(TopLayerComparisonResult topLayer)
    {
        var others = topLayer.Layers.Where(l => l.Tensor != topLayer.Tensor).ToList();
        return others.Count == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
            $"; best of {topLayer.Layers.Count}, the others {string.Join(", ", others.Select(l => string.Create(CultureInfo.InvariantCulture, $"{l.Probe.BalancedAccuracy:0.000} at {ScenarioMatrix.Percent(l.Depth)}")))}");
    }

    private static string Side(int dimension)
    {
        var side = (int)Math.Round(Math.Sqrt(dimension / 3.0));
        return side * side * 3 == dimension ? $"{side}×{side} RGB" : $"{dimension}-value";
    }
}
