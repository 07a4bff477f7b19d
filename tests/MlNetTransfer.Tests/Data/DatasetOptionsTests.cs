using MlNetTransfer.Data;

namespace MlNetTransfer.Tests.Data;

public sealed class DatasetOptionsTests
{
    [Fact]
    public void Defaults_are_80_10_10_seed_42_min_2()
    {
        var o = new DatasetOptions();
        Assert.Equal((0.8, 0.1, 0.1, 42, 2), (o.TrainFraction, o.ValidationFraction, o.TestFraction, o.Seed, o.MinImagesPerClass));
        o.Validate();
    }

    [Theory]
    [InlineData(0.9, 0.0, 0.1, 2, "ValidationFraction")]
    [InlineData(0.0, 0.5, 0.5, 2, "TrainFraction")]
    [InlineData(0.8, 0.1, -0.1, 2, "TestFraction")]
    [InlineData(0.7, 0.2, 0.2, 2, "add up to 1")]
    [InlineData(0.8, 0.1, 0.1, 0, "MinImagesPerClass")]
    public void Invalid_options_name_the_option(double train, double val, double test, int min, string expected)
    {
        var o = new DatasetOptions { TrainFraction = train, ValidationFraction = val, TestFraction = test, MinImagesPerClass = min };
        var ex = Assert.Throws<MlNetTransferException>(o.Validate);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Test_fraction_may_be_zero()
    {
        new DatasetOptions { TrainFraction = 0.75, ValidationFraction = 0.25, TestFraction = 0 }.Validate();
    }
}
