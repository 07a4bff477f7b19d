using MlNetTransfer.Strategy;

namespace MlNetTransfer.Tests.Strategy;

public class KnnProbeTests
{
    [Fact]
    public void Separated_clusters_are_classified_perfectly_and_noise_at_chance()
    {
        var (f, y) = SyntheticFeatures.Clusters(50, 3, 20, noise: 0.3, seed: 1);
        var clean = KnnProbe.CrossValidate(f, y);
        Assert.Equal(1.0, clean.BalancedAccuracy);
        Assert.Equal(150, clean.Examples);
        Assert.Equal(3, clean.Classes);

        var noise = KnnProbe.CrossValidate(SyntheticFeatures.Noise(300, 20, 2), y.Concat(y).ToArray());
        Assert.InRange(noise.BalancedAccuracy, 1 / 3.0 - 0.1, 1 / 3.0 + 0.1);
    }

    [Fact]
    public void One_mislabelled_point_costs_exactly_one_error()
    {
        // Class 0 points right (x ≈ +1), class 1 left (x ≈ −1), and one point on the right labelled 1: its three nearest
        // neighbours are class 0 so it is wrong, and it is outvoted wherever it is a neighbour, so nothing else is.
        var random = new Random(7);
        var f = new List<float[]>();
        var y = new List<int>();
        for (int i = 0; i < 20; i++) { f.Add([1, (float)(random.NextDouble() - 0.5)]); y.Add(0); }
        for (int i = 0; i < 20; i++) { f.Add([-1, (float)(random.NextDouble() - 0.5)]); y.Add(1); }
        f.Add([1, 0.01f]); y.Add(1);
        var result = KnnProbe.CrossValidate(f.ToArray(), y.ToArray(), new KnnProbeOptions { Neighbors = 3 });
        Assert.Equal(40 / 41.0, result.Accuracy, 12);
        Assert.Equal((1 + 20 / 21.0) / 2, result.BalancedAccuracy, 12);
    }

    [Fact]
    public void Balanced_accuracy_does_not_reward_predicting_the_majority()
    {
        var y = Enumerable.Range(0, 200).Select(i => i < 180 ? 0 : 1).ToArray();
        var result = KnnProbe.CrossValidate(SyntheticFeatures.Noise(200, 10, 4), y);
        Assert.True(result.Accuracy > 0.8, $"accuracy {result.Accuracy}");
        Assert.InRange(result.BalancedAccuracy, 0.4, 0.6);
    }

    [Fact]
    public void Same_seed_same_result()
    {
        var (f, y) = SyntheticFeatures.Clusters(30, 2, 5, noise: 2, seed: 9);
        Assert.Equal(KnnProbe.CrossValidate(f, y), KnnProbe.CrossValidate(f, y));
    }

    [Fact]
    public void Options_are_checked()
    {
        var (f, y) = SyntheticFeatures.Clusters(5, 2, 3, noise: 1, seed: 1);
        Assert.Contains("Neighbors", Assert.Throws<MlNetTransferException>(() => KnnProbe.CrossValidate(f, y, new KnnProbeOptions { Neighbors = 0 })).Message);
        Assert.Contains("Folds", Assert.Throws<MlNetTransferException>(() => KnnProbe.CrossValidate(f, y, new KnnProbeOptions { Folds = 1 })).Message);
    }

    [Fact]
    public void Comparison_measures_the_share_of_baseline_errors_removed()
    {
        var (f, y) = SyntheticFeatures.Clusters(40, 2, 16, noise: 0.3, seed: 2);
        var noise = SyntheticFeatures.Noise(80, 16, 3);
        var better = ProbeComparison.Compare(f, noise, y);
        Assert.Equal(1.0, better.Embedding.BalancedAccuracy);
        Assert.Equal(1.0, better.ErrorReduction);
        var (blurred, _) = SyntheticFeatures.Clusters(40, 2, 16, noise: 2.5, seed: 2);
        var worse = ProbeComparison.Compare(noise, blurred, y);
        Assert.InRange(worse.Baseline.BalancedAccuracy, 0.6, 0.99);
        Assert.True(worse.ErrorReduction < 0, $"error reduction {worse.ErrorReduction}");

        Assert.Equal(0.5, ProbeComparison.ErrorReduction(0.9, 0.8), 12);
        Assert.Equal(0, ProbeComparison.ErrorReduction(1.0, 1.0));
        Assert.Contains("same images", Assert.Throws<MlNetTransferException>(() => ProbeComparison.Compare(f, noise[..10], y)).Message);
    }
}
