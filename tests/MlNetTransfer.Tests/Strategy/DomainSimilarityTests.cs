using MlNetTransfer.Strategy;

namespace MlNetTransfer.Tests.Strategy;

public class DomainSimilarityTests
{
    [Fact]
    public void Anchors_map_linearly_and_clamp()
    {
        var rising = new SimilarityAnchors(0.2, 0.6, 1);
        Assert.Equal(0, rising.Score(0.1));
        Assert.Equal(0.5, rising.Score(0.4), 12);
        Assert.Equal(1, rising.Score(0.9));
        var falling = new SimilarityAnchors(0.8, 0.2, 1);   // e.g. an entropy: lower is more similar
        Assert.Equal(0.5, falling.Score(0.5), 12);
        Assert.Equal(1, falling.Score(0.1));
    }

    [Fact]
    public void The_score_is_the_weighted_mean_of_the_components_given()
    {
        var probe = new ProbeComparisonResult
        {
            Embedding = new ProbeResult { BalancedAccuracy = 0.9, Examples = 200, Neighbors = 5, Folds = 5 }, Baseline = new ProbeResult { BalancedAccuracy = 0.6, Examples = 200 }, ErrorReduction = 0.75,
        };
        var head = new SourceHeadStatistics { MeanMaxProbability = 0.3, SourceClasses = 1000 };
        var options = new DomainSimilarityOptions
        {
            ProbeErrorReduction = new SimilarityAnchors(0.25, 0.75, 3),   // 0.75 → 1
            SourceHeadConfidence = new SimilarityAnchors(0.2, 0.4, 1),    // 0.3 → 0.5
        };
        var result = DomainSimilarity.Combine(null, null, probe, head, options);
        Assert.Equal((3 * 1 + 1 * 0.5) / 4, result.Score, 12);
        Assert.Equal(["probe-error-reduction", "source-head-confidence"], result.Components.Select(c => c.Name).ToArray());
        Assert.Contains("0.900 on the embeddings vs 0.600 on raw pixels, removing 75%", result.Components[0].Description);

        Assert.Equal(1.0, DomainSimilarity.Combine(null, null, probe, null, options).Score, 12);

        // With few labelled images the probe's weight shrinks in proportion; the head's, a mean over images, does not.
        var fewImages = probe with { Embedding = probe.Embedding with { Examples = 25 } };
        var shrunk = DomainSimilarity.Combine(null, null, fewImages, head, options);
        Assert.Equal(3 * 0.25, shrunk.Components[0].Weight, 12);
        Assert.Equal(1, shrunk.Components[1].Weight);
        Assert.Equal((0.75 * 1 + 1 * 0.5) / 1.75, shrunk.Score, 12);
        Assert.Contains("weight ×0.25: 25 labelled images", shrunk.Components[0].Description);
        Assert.Contains("no reference point", Assert.Throws<MlNetTransferException>(() =>
            DomainSimilarity.Combine(new LogMeResult(), null, null, null)).Message);
    }

    [Fact]
    public void Features_that_add_to_raw_pixels_read_as_similar_and_features_that_do_not_as_different()
    {
        // "Similar": the embeddings separate the classes, raw pixels do not; the source head is confident.
        // "Different": the embeddings are as uninformative as the pixels; the source head hedges.
        var (embeddings, labels) = SyntheticFeatures.Clusters(40, 4, 32, noise: 0.6, seed: 1);
        var pixels = SyntheticFeatures.Noise(160, 48, 2);
        float[][] Head(float top) => Enumerable.Range(0, 160).Select(i =>
        {
            var row = Enumerable.Repeat((1 - top) / 9, 10).ToArray();
            row[i % 10] = top;
            return row;
        }).ToArray();

        var similar = DomainSimilarity.Measure(embeddings, labels, pixels, Head(0.8f));
        var different = DomainSimilarity.Measure(SyntheticFeatures.Noise(160, 32, 3), labels, pixels, Head(0.15f));
        Assert.True(similar.Score > 0.9, $"similar scored {similar.Score:0.00}");
        Assert.True(different.Score < 0.1, $"different scored {different.Score:0.00}");
        Assert.Equal(3, similar.Components.Count);
        Assert.NotNull(similar.LogMe);
        Assert.NotNull(similar.BaselineLogMe);
        Assert.True(similar.Components.Single(c => c.Name == "logme-gain").Value > 0.5);

        Assert.Contains("no reference point", Assert.Throws<MlNetTransferException>(() => DomainSimilarity.Measure(embeddings, labels)).Message);
        Assert.Contains("160 embeddings but 10 source-head predictions", Assert.Throws<MlNetTransferException>(() =>
            DomainSimilarity.Measure(embeddings, labels, pixels, Head(0.8f)[..10])).Message);
    }

    [Fact]
    public void Top_layers_that_add_nothing_to_the_middle_read_as_different_even_when_raw_pixels_fail()
    {
        // Both cases: the embeddings separate four classes and raw pixels do not (the pixel measures say "similar").
        // Sketch-like: one of the middle layers separates them as well as the embedding does. Photo-like: only the top layers do.
        var (embeddings, labels) = SyntheticFeatures.Clusters(40, 4, 32, noise: 0.6, seed: 1);
        var (middleSolves, middleLabels) = SyntheticFeatures.Clusters(40, 4, 16, noise: 0.6, seed: 2);
        Assert.Equal(labels, middleLabels);
        var pixels = SyntheticFeatures.Noise(160, 48, 3);
        var weak = new MiddleLayerFeatures("block3/add", 0.4, SyntheticFeatures.Noise(160, 16, 5));
        var sketch = DomainSimilarity.Measure(embeddings, labels, pixels, middleLayers: [weak, new MiddleLayerFeatures("block4/add", 0.5, middleSolves)]);
        var photo = DomainSimilarity.Measure(embeddings, labels, pixels, middleLayers: [weak, new MiddleLayerFeatures("block4/add", 0.5, SyntheticFeatures.Noise(160, 16, 4))]);

        Assert.True(sketch.Probe!.ErrorReduction > 0.9 && photo.Probe!.ErrorReduction > 0.9);
        var gain = sketch.Components.Single(c => c.Name == "top-layer-gain");
        Assert.True(gain.Value < 0.1, $"top-layer gain {gain.Value:0.00} when a middle layer is as good");
        Assert.True(photo.TopLayer!.ErrorReduction > 0.9, $"top-layer gain {photo.TopLayer.ErrorReduction:0.00} when the middle is noise");
        // The embedding is compared with the best middle layer; every layer's probe is kept.
        Assert.Equal("block4/add", sketch.TopLayer!.Tensor);
        Assert.Equal(["block3/add", "block4/add"], sketch.TopLayer.Layers.Select(l => l.Tensor));
        Assert.True(sketch.TopLayer.Middle.BalancedAccuracy > 0.9);
        Assert.Equal(sketch.TopLayer.Layers.Max(l => l.Probe.BalancedAccuracy), sketch.TopLayer.Middle.BalancedAccuracy);
        Assert.Equal(16, sketch.TopLayer.Middle.Dimension);
        Assert.True(photo.Score >= 0.5, $"photo-like scored {photo.Score:0.00}");
        Assert.True(sketch.Score < 0.5, $"sketch-like scored {sketch.Score:0.00}");
        Assert.Contains("'block4/add' (50% of the way up; best of 2, the others ", gain.Description);
        Assert.Equal(new DomainSimilarityOptions().TopLayerGain.SimilarAt, gain.SimilarAt);
        // On the scenario matrix: few images, different → fine-tune from earlier layers, with the measurement in the reasons.
        var decision = ScenarioMatrix.Choose(DatasetSize.FromLabels(labels), sketch);
        Assert.Equal(TransferScenario.FineTuneFromEarlierLayers, decision.Scenario);
        Assert.Contains("so the top layers remove", decision.Explanation);
        Assert.Contains("(0 at 0.2, 1 at 0.5, weight 3)", decision.Explanation);
        Assert.Equal(TransferScenario.FeatureExtractor, ScenarioMatrix.Choose(DatasetSize.FromLabels(labels), photo).Scenario);

        Assert.Contains("160 embeddings but 10 rows of middle layer 'm'", Assert.Throws<MlNetTransferException>(() =>
            DomainSimilarity.Measure(embeddings, labels, pixels, middleLayers: [weak, new MiddleLayerFeatures("m", 0.5, middleSolves[..10])])).Message);
    }
}
