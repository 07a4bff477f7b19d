using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Tests.FineTuning;

public sealed class LearningRateScheduleTests
{
    [Fact]
    public void WarmupRisesLinearlyThenCosineFallsTowardsZero()
    {
        double F(long step) => LearningRateSchedules.Factor(LearningRateSchedule.WarmupCosine, step, 100, 0.1);
        Assert.Equal(0.1, F(0), 6);
        Assert.Equal(0.5, F(4), 6);
        Assert.Equal(1.0, F(9), 6);
        Assert.Equal(1.0, F(10), 6);
        Assert.Equal(0.5, F(55), 6);
        Assert.InRange(F(99), 0, 0.001);
        for (long s = 10; s < 99; s++) Assert.True(F(s + 1) <= F(s));
    }

    [Fact]
    public void OneCycleStartsLowPeaksAtThirtyPercentAndEndsFarLower()
    {
        double F(long step) => LearningRateSchedules.Factor(LearningRateSchedule.OneCycle, step, 100, 0);
        Assert.Equal(1 / 25.0, F(0), 6);
        Assert.Equal(1.0, F(30), 6);
        Assert.Equal(1 / 25_000.0, F(99), 6);
        Assert.True(F(15) > F(0) && F(15) < 1);
    }

    [Fact]
    public void ConstantStaysAtOne() =>
        Assert.All(Enumerable.Range(0, 10), s => Assert.Equal(1.0, LearningRateSchedules.Factor(LearningRateSchedule.Constant, s, 10, 0.1)));
}
