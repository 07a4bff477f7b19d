using System.Text.Json;
using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;

namespace MlNetTransfer.Tests.Strategy;

public class ScenarioMatrixTests
{
    private static DomainSimilarityResult Similarity(double score) => new()
    {
        Score = score,
        Components = [new SimilarityComponent("probe-error-reduction", 0.1234, score, 0.3, 0.8, 1, "a probe removing 12% of the pixel probe's errors")],
    };

    private static DatasetSize Size(double perClass) => DatasetSize.FromCounts([(int)Math.Round(perClass * 2) / 2, (int)Math.Round(perClass * 2) - (int)Math.Round(perClass * 2) / 2]);

    [Theory]
    [InlineData(100, 0.9, TransferScenario.FeatureExtractor)]
    [InlineData(2000, 0.9, TransferScenario.FineTuneTop)]
    [InlineData(100, 0.1, TransferScenario.FineTuneFromEarlierLayers)]
    [InlineData(2000, 0.1, TransferScenario.FineTuneAll)]
    public void Each_cell_maps_to_its_scenario(int perClass, double similarity, TransferScenario expected)
    {
        var decision = ScenarioMatrix.Choose(Size(perClass), Similarity(similarity));
        Assert.Equal(expected, decision.Scenario);
        var (min, max) = ScenarioMatrix.FreezeRange(expected);
        Assert.InRange(decision.FreezeFraction, min, max);
    }

    [Fact]
    public void Freeze_ranges_follow_the_seeds()
    {
        Assert.Equal((1.0, 1.0), ScenarioMatrix.FreezeRange(TransferScenario.FeatureExtractor));
        Assert.Equal((0.6, 0.8), ScenarioMatrix.FreezeRange(TransferScenario.FineTuneTop));
        Assert.Equal((1 / 3.0, 0.5), ScenarioMatrix.FreezeRange(TransferScenario.FineTuneFromEarlierLayers));
        Assert.Equal((0.0, 0.0), ScenarioMatrix.FreezeRange(TransferScenario.FineTuneAll));
    }

    [Fact]
    public void Cut_offs_are_inclusive_from_above()
    {
        var options = new ScenarioMatrixOptions { SimilarityCutoff = 0.5 };
        Assert.True(ScenarioMatrix.Choose(Size(100), Similarity(0.5), options).IsSimilar);
        Assert.False(ScenarioMatrix.Choose(Size(100), Similarity(0.4999), options).IsSimilar);

        Assert.True(DatasetSize.FromCounts([500, 500]).IsLarge);
        Assert.False(DatasetSize.FromCounts([500, 499]).IsLarge);   // 499.5 per class
        Assert.True(DatasetSize.FromCounts([900, 100]).IsLarge);    // the mean decides, 500
        Assert.False(DatasetSize.FromCounts([100, 100], new DatasetSizeOptions { LargeImagesPerClass = 101 }).IsLarge);
        Assert.True(DatasetSize.FromCounts([100, 100], new DatasetSizeOptions { LargeImagesPerClass = 100 }).IsLarge);
    }

    [Fact]
    public void Dataset_size_counts_images_per_class()
    {
        var size = DatasetSize.FromLabels([0, 0, 0, 1, 2, 2]);
        Assert.Equal(6, size.Total);
        Assert.Equal(3, size.Classes);
        Assert.Equal(2.0, size.ImagesPerClass);
        Assert.Equal(1, size.SmallestClass);
        Assert.Equal(500, size.LargeImagesPerClass);
        Assert.Contains("no classes", Assert.Throws<MlNetTransferException>(() => DatasetSize.FromCounts([])).Message);
        Assert.Contains("LargeImagesPerClass", Assert.Throws<MlNetTransferException>(() => DatasetSize.FromCounts([3], new DatasetSizeOptions { LargeImagesPerClass = 0 })).Message);
    }

    [Fact]
    public void The_explanation_states_scenario_measurements_cut_offs_and_choice()
    {
        var decision = ScenarioMatrix.Choose(DatasetSize.FromCounts([120, 125]), Similarity(0.8765), new ScenarioMatrixOptions { SimilarityCutoff = 0.55 },
            sourceDomain: "ImageNet-1k natural photos");
        var text = decision.Explanation;
        Assert.Contains("small + similar → feature extractor", text);
        Assert.Contains("245 training images in 2 classes, 122.5 per class", text);
        Assert.Contains("large from 500 images per class", text);
        Assert.Contains("Similarity to ImageNet-1k natural photos: 0.88", text);
        Assert.Contains("from 0.55 up counts as similar", text);
        Assert.Contains("a probe removing 12% of the pixel probe's errors: score 0.88 (0 at 0.3, 1 at 0.8", text);
        Assert.Contains("Choice: ", text);

        var different = ScenarioMatrix.Choose(DatasetSize.FromCounts([1000, 1000]), Similarity(0.2)).Explanation;
        Assert.Contains("large + different → fine-tune the whole network", different);
        Assert.Contains("Similarity to the backbone's training data: 0.20", different);
    }

    [Fact]
    public void Candidates_start_with_the_cheap_head_then_the_choice()
    {
        Assert.Equal([TransferScenario.FeatureExtractor, TransferScenario.FineTuneTop, TransferScenario.FineTuneFromEarlierLayers, TransferScenario.FineTuneAll],
            ScenarioMatrix.Choose(Size(100), Similarity(0.9)).CandidateOrder);
        Assert.Equal([TransferScenario.FeatureExtractor, TransferScenario.FineTuneAll, TransferScenario.FineTuneFromEarlierLayers, TransferScenario.FineTuneTop],
            ScenarioMatrix.Choose(Size(1000), Similarity(0.1)).CandidateOrder);
        Assert.Equal([TransferScenario.FeatureExtractor, TransferScenario.FineTuneFromEarlierLayers, TransferScenario.FineTuneTop, TransferScenario.FineTuneAll],
            ScenarioMatrix.Choose(Size(100), Similarity(0.1)).CandidateOrder);
    }

    [Fact]
    public void The_cut_off_must_be_inside_the_scale()
    {
        var e = Assert.Throws<MlNetTransferException>(() => ScenarioMatrix.Choose(Size(10), Similarity(0.5), new ScenarioMatrixOptions { SimilarityCutoff = 1 }));
        Assert.Contains("SimilarityCutoff", e.Message);
    }

    [Fact]
    public void A_decision_round_trips_through_the_report_json()
    {
        var (f, y) = SyntheticFeatures.Clusters(20, 2, 8, noise: 0.5, seed: 1);
        var similarity = DomainSimilarity.Measure(f, y, SyntheticFeatures.Noise(40, 12, 2), [.. Enumerable.Repeat(new[] { 0.7f, 0.2f, 0.1f }, 40)], ["x", "y", "z"]);
        var decision = ScenarioMatrix.Choose(DatasetSize.FromLabels(y), similarity, sourceDomain: "ImageNet");
        var json = JsonSerializer.Serialize(decision, TrainingReport.JsonOptions);
        Assert.Contains("\"scenario\": \"featureExtractor\"", json);
        var back = JsonSerializer.Deserialize<ScenarioDecision>(json, TrainingReport.JsonOptions)!;
        Assert.Equal(decision.Scenario, back.Scenario);
        Assert.Equal(decision.Explanation, back.Explanation);
        Assert.Equal(decision.Similarity.Score, back.Similarity.Score);
        Assert.Equal(decision.Similarity.Components, back.Similarity.Components);
        Assert.Equal(decision.Similarity.LogMe!.PerClass, back.Similarity.LogMe!.PerClass);
        Assert.Equal(decision.Similarity.SourceHead!.MostFrequentTop1, back.Similarity.SourceHead!.MostFrequentTop1);
        Assert.Equal(decision.CandidateOrder, back.CandidateOrder);
        Assert.Equal(decision.Size, back.Size);
    }
}
