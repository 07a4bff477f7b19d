using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Reporting;

/// <summary>Expected calibration error (Guo et al. 2017, 15 equal-width bins) on cases worked out by hand, and in the report.</summary>
public sealed class CalibrationTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    [Fact]
    public void OneBinOverconfidentByFifteenPoints()
    {
        // Four images at 0.9 confidence, three right: accuracy 0.75, so ECE = |0.75 - 0.9| = 0.15.
        var c = CalibrationReport.From([0.9, 0.9, 0.9, 0.9], [true, true, true, false]);
        Assert.Equal(0.15, c.ExpectedCalibrationError, 12);
        Assert.Equal(0.15, c.MaximumCalibrationError, 12);
        Assert.Equal(15, c.Bins.Count);
        var bin = Assert.Single(c.Bins, b => b.Count > 0);
        Assert.Equal(13 / 15.0, bin.Lower, 12);   // 0.9 lies in (13/15, 14/15]
        Assert.Equal(0.75, bin.Accuracy);
    }

    [Fact]
    public void TwoBinsWeighByTheirShareOfImages()
    {
        // Bin (14/15, 1]: 0.95, 0.95, both right: gap 0.05, half the images -> 0.025.
        // Bin (5/15, 6/15]: 0.4 (its upper edge) right and 0.4 wrong: accuracy 0.5, gap 0.1, half -> 0.05. ECE 0.075, MCE 0.1.
        var c = CalibrationReport.From([0.95, 0.4, 0.95, 0.4], [true, true, true, false]);
        Assert.Equal(0.075, c.ExpectedCalibrationError, 12);
        Assert.Equal(0.1, c.MaximumCalibrationError, 12);
        Assert.Equal(2, c.Bins[5].Count);
        Assert.Equal(2, c.Bins[14].Count);
        Assert.Equal(0.675, c.MeanConfidence, 12);
        Assert.Equal(4, c.Examples);
    }

    [Fact]
    public void CertainAndRightIsCalibratedAndEmptyInputIsZero()
    {
        Assert.Equal(0, CalibrationReport.From([1.0, 1.0, 1.0], [true, true, true]).ExpectedCalibrationError);
        var underconfident = CalibrationReport.From([0.5, 0.5], [true, true]);
        Assert.Equal(0.5, underconfident.ExpectedCalibrationError, 12);
        var empty = CalibrationReport.From([], []);
        Assert.Equal(0, empty.ExpectedCalibrationError);
        Assert.All(empty.Bins, b => Assert.Null(b.Accuracy));
    }

    [Fact]
    public void ReportCarriesCalibrationOfTheEvaluatedSplitAndDrawsTheDiagram()
    {
        var result = new MLContext(1).TransferLearning().Train(new TransferLearningOptions
        {
            DataPath = fixture.DataDir,
            Backbone = BackboneResolver.SyntheticName,
            Head = { Trainer = HeadTrainer.Lbfgs, CrossValidationFolds = 0 },
            Featurizer = { CacheDirectory = fixture.CacheDir },
        });
        var m = result.Report.Metrics;
        var c = Assert.IsType<CalibrationReport>(m.Calibration);
        Assert.Equal(m.Examples, c.Examples);
        Assert.Equal(m.Examples, c.Bins.Sum(b => b.Count));
        // The bins' hits add up to the split's accuracy, so the diagram and the headline number describe the same images.
        Assert.Equal(m.Accuracy, c.Bins.Where(b => b.Count > 0).Sum(b => b.Accuracy!.Value * b.Count) / c.Examples, 9);
        Assert.InRange(c.ExpectedCalibrationError, 0, 1);
        var html = HtmlReport.Render(result.Report);
        Assert.Contains($"data-plot=\"{HtmlReport.PlotNames.Reliability}\"", html);
        Assert.Contains("Expected calibration error", html);
    }
}
