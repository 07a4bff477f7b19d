using MlNetTransfer.Strategy;

namespace MlNetTransfer.Tests.Strategy;

public class SourceHeadStatisticsTests
{
    [Fact]
    public void Confidence_entropy_and_spread_are_computed_per_image_and_averaged()
    {
        float[][] p =
        [
            [1f, 0f, 0f, 0f],                   // certain: max 1, entropy 0, top-1 class 0
            [0.25f, 0.25f, 0.25f, 0.25f],       // uniform: max 0.25, entropy 1, top-1 class 0 (first of the ties)
            [0.1f, 0.7f, 0.1f, 0.1f],           // top-1 class 1
        ];
        var stats = SourceHeadStatistics.Compute(p, ["a", "b", "c", "d"]);
        var h3 = -(0.7 * Math.Log(0.7) + 3 * 0.1 * Math.Log(0.1)) / Math.Log(4);
        Assert.Equal((1 + 0.25 + 0.7) / 3, stats.MeanMaxProbability, 6);
        Assert.Equal((0 + 1 + h3) / 3, stats.MeanNormalizedEntropy, 6);
        Assert.Equal(2, stats.DistinctTop1Classes);
        Assert.Equal(4, stats.SourceClasses);
        Assert.Equal(new SourceClassShare(0, "a", 2 / 3.0), stats.MostFrequentTop1[0]);
        Assert.Equal("b", stats.MostFrequentTop1[1].Name);
    }

    [Fact]
    public void Logits_are_refused()
    {
        Assert.Contains("softmax", Assert.Throws<MlNetTransferException>(() => SourceHeadStatistics.Compute([[2.5f, -1f, 0.3f]])).Message);
        Assert.Contains("sums to", Assert.Throws<MlNetTransferException>(() => SourceHeadStatistics.Compute([[2.5f, 1f, 0.3f]])).Message);
        Assert.Contains("3 class names", Assert.Throws<MlNetTransferException>(() => SourceHeadStatistics.Compute([[0.5f, 0.5f]], ["a", "b", "c"])).Message);
    }
}
