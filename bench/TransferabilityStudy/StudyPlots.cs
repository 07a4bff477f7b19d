using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using SkiaSharp;

namespace TransferabilityStudy;

/// <summary>
/// The study's PNGs, drawn with OxyPlot on SkiaSharp like the library's report plots (whose helpers are private to
/// <c>MlNetTransfer.Reporting.ReportPlots</c>, so the few lines of set-up are repeated here).
/// </summary>
public static class StudyPlots
{
    public const string DepthFile = "final-vs-depth.png";
    public static string CurvesFile(int perClass) => $"learning-curves-{perClass}.png";

    private static readonly OxyColor[] Palette =
    [
        OxyColor.FromRgb(31, 119, 180), OxyColor.FromRgb(255, 127, 14), OxyColor.FromRgb(44, 160, 44), OxyColor.FromRgb(214, 39, 40),
        OxyColor.FromRgb(148, 103, 189), OxyColor.FromRgb(140, 86, 75),
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
        var model = NewModel("Final test accuracy on classes 5–9 vs layers copied from A", "blocks copied from A (0 = B, trained from scratch)", "test accuracy (%)");
        model.Axes[0].MajorStep = 1;
        var depths = conditions.Max(c => c.CutDepth);
        for (int i = 0; i < study.Options.Sizes.Length; i++)
        {
            var size = study.Options.Sizes[i];
            var color = Palette[i % Palette.Length];
            foreach (var plus in new[] { true, false })
            {
                var series = new LineSeries
                {
                    Title = $"{size}/class {(plus ? "AnB+ (fine-tuned)" : "AnB (frozen)")}", Color = color, LineStyle = plus ? LineStyle.Solid : LineStyle.Dash,
                    StrokeThickness = 2, MarkerType = plus ? MarkerType.Circle : MarkerType.Square, MarkerSize = 4, MarkerFill = color,
                };
                series.Points.Add(new DataPoint(0, 100 * study.Final(conditions[0], size).Mean));
                foreach (var c in conditions.Where(c => c.CutDepth > 0 && c.FineTuneCopied == plus))
                    series.Points.Add(new DataPoint(c.CutDepth, 100 * study.Final(c, size).Mean));
                model.Series.Add(series);
            }
        }
        model.Axes[0].Minimum = -0.2;
        model.Axes[0].Maximum = depths + 0.2;
        return Export(model, 900, 560);
    }

    /// <summary>Mean test accuracy per epoch at one size: B black, AnB dashed, AnB+ solid, one colour per depth.</summary>
    private static byte[] LearningCurves(StudyResult study, IReadOnlyList<Condition> conditions, int size)
    {
        var model = NewModel($"Learning curves, {size} labelled images per class of 5–9", "epoch", "test accuracy (%)");
        foreach (var c in conditions)
        {
            var color = c.CutDepth == 0 ? OxyColors.Black : Palette[(c.CutDepth - 1) % Palette.Length];
            var series = new LineSeries
            {
                Title = c.Name, Color = color, LineStyle = c.FineTuneCopied || c.CutDepth == 0 ? LineStyle.Solid : LineStyle.Dash,
                StrokeThickness = c.CutDepth == 0 ? 3 : 1.8, MarkerType = MarkerType.Circle, MarkerSize = 2, MarkerFill = color,
            };
            var curve = study.MeanCurve(c, size);
            for (int e = 0; e < curve.Length; e++) series.Points.Add(new DataPoint(e + 1, 100 * curve[e]));
            model.Series.Add(series);
        }
        return Export(model, 900, 560);
    }

    private static PlotModel NewModel(string title, string xTitle, string yTitle)
    {
        var font = new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Noto Sans" }
            .FirstOrDefault(f => SKFontManager.Default.MatchFamily(f) is { } t && Release(t)) ?? "sans-serif";
        var grid = OxyColor.FromAColor(40, OxyColors.Black);
        var model = new PlotModel { Title = title, DefaultFont = font, Background = OxyColors.White, TitleFontSize = 15, TitleFontWeight = FontWeights.Bold };
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = xTitle, MajorGridlineStyle = LineStyle.Solid, MajorGridlineColor = grid });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = yTitle, MajorGridlineStyle = LineStyle.Solid, MajorGridlineColor = grid });
        model.Legends.Add(new Legend
        {
            LegendPosition = LegendPosition.RightTop, LegendPlacement = LegendPlacement.Outside, LegendOrientation = LegendOrientation.Vertical,
            LegendFontSize = 11, LegendBorder = OxyColors.Transparent,
        });
        return model;
    }

    private static bool Release(SKTypeface typeface) { typeface.Dispose(); return true; }

    private static byte[] Export(PlotModel model, int width, int height)
    {
        using var stream = new MemoryStream();
        // No text shaping: it needs HarfBuzz's native library, which the NoDependencies SkiaSharp assets lack.
        new OxyPlot.SkiaSharp.PngExporter { Width = width, Height = height, UseTextShaping = false }.Export(model, stream);
        return stream.ToArray();
    }
}
