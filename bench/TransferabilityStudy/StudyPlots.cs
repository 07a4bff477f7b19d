using ScottPlot;
using SkiaSharp;

namespace TransferabilityStudy;

/// <summary>
/// The study's PNGs, drawn with ScottPlot like the library's report plots (whose helpers are private to
/// <c>MlNetTransfer.Reporting.ReportPlots</c>, so the few lines of set-up are repeated here).
/// </summary>
public static class StudyPlots
{
    public const string DepthFile = "final-vs-depth.png";
    public static string CurvesFile(int perClass) => $"learning-curves-{perClass}.png";

    private static readonly Color[] Palette =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189), new(140, 86, 75),
    ];

    public static void Write(StudyResult study, IReadOnlyList<Condition> conditions)
    {
        File.WriteAllBytes(Path.Combine(study.Options.Output, DepthFile), FinalVersusDepth(study, conditions));
        foreach (var size in study.Options.Sizes)
            File.WriteAllBytes(Path.Combine(study.Options.Output, CurvesFile(size)), LearningCurves(study, conditions, size));
    }

    /// <summary>Final test accuracy against cut depth, one colour per labelled-set size: AnB+ solid, AnB dashed, both
    /// starting from B at depth 0 (Yosinski et al.'s Figure 2, with size as a third axis).</summary>
    private static byte[] FinalVersusDepth(StudyResult study, IReadOnlyList<Condition> conditions)
    {
        var plot = NewPlot("Final test accuracy on classes 5–9 vs layers copied from A", "blocks copied from A (0 = B, trained from scratch)", "test accuracy (%)");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        var depths = conditions.Max(c => c.CutDepth);
        for (int i = 0; i < study.Options.Sizes.Length; i++)
        {
            var size = study.Options.Sizes[i];
            var color = Palette[i % Palette.Length];
            foreach (var plus in new[] { true, false })
            {
                var xs = new List<double> { 0 };
                var ys = new List<double> { 100 * study.Final(conditions[0], size).Mean };
                foreach (var c in conditions.Where(c => c.CutDepth > 0 && c.FineTuneCopied == plus))
                {
                    xs.Add(c.CutDepth);
                    ys.Add(100 * study.Final(c, size).Mean);
                }
                var series = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), color);
                series.LegendText = $"{size}/class {(plus ? "AnB+ (fine-tuned)" : "AnB (frozen)")}";
                series.LinePattern = plus ? LinePattern.Solid : LinePattern.Dashed;
                series.LineWidth = 2;
                series.MarkerShape = plus ? MarkerShape.FilledCircle : MarkerShape.FilledSquare;
                series.MarkerSize = 8;
            }
        }
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsX(-0.2, depths + 0.2);
        return plot.GetImageBytes(900, 560, ImageFormat.Png);
    }

    /// <summary>Mean test accuracy per epoch at one size: B black, AnB dashed, AnB+ solid, one colour per depth.</summary>
    private static byte[] LearningCurves(StudyResult study, IReadOnlyList<Condition> conditions, int size)
    {
        var plot = NewPlot($"Learning curves, {size} labelled images per class of 5–9", "epoch", "test accuracy (%)");
        foreach (var c in conditions)
        {
            var color = c.CutDepth == 0 ? Colors.Black : Palette[(c.CutDepth - 1) % Palette.Length];
            var curve = study.MeanCurve(c, size);
            var series = plot.Add.Scatter(Enumerable.Range(1, curve.Length).Select(e => (double)e).ToArray(), curve.Select(a => 100 * a).ToArray(), color);
            series.LegendText = c.Name;
            series.LinePattern = c.FineTuneCopied || c.CutDepth == 0 ? LinePattern.Solid : LinePattern.Dashed;
            series.LineWidth = c.CutDepth == 0 ? 3 : 1.8f;
            series.MarkerShape = MarkerShape.FilledCircle;
            series.MarkerSize = 4;
        }
        return plot.GetImageBytes(900, 560, ImageFormat.Png);
    }

    private static Plot NewPlot(string title, string xTitle, string yTitle)
    {
        // Skia answers an unknown family with some other typeface, so the name is compared.
        var font = new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Noto Sans" }.FirstOrDefault(f =>
        {
            using var typeface = SKFontManager.Default.MatchFamily(f);
            return typeface is not null && string.Equals(typeface.FamilyName, f, StringComparison.OrdinalIgnoreCase);
        }) ?? Fonts.Default;
        var plot = new Plot();
        plot.FigureBackground.Color = Colors.White;
        plot.Title(title, 15);
        plot.Axes.Title.Label.Bold = true;
        plot.XLabel(xTitle);
        plot.YLabel(yTitle);
        // By name on each label (plot.Font.Set would fix one typeface, losing the bold title); ScottPlot's own choice on Linux is a serif.
        plot.Axes.Title.Label.FontName = font;
        foreach (var axis in plot.Axes.GetAxes().OfType<ScottPlot.AxisPanels.AxisBase>())
        {
            axis.LabelFontName = font;
            axis.LabelBold = false;   // ScottPlot's axis titles are bold; the title alone is, here
            axis.TickLabelStyle.FontName = font;
        }
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(40);
        plot.Grid.MinorLineColor = Colors.Transparent;
        // To the right of the plot, one entry a line: many conditions, and a legend inside would hide the curves.
        plot.ShowLegend(Edge.Right);
        plot.Legend.Orientation = Orientation.Vertical;
        plot.Legend.FontSize = 11;
        plot.Legend.FontName = font;
        plot.Legend.OutlineColor = Colors.Transparent;
        return plot;
    }
}
