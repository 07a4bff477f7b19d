using System.Globalization;
using MlNetTransfer.Strategy;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using SkiaSharp;

namespace MlNetTransfer.Reporting;

/// <summary>
/// The report's plots as PNG bytes, drawn with OxyPlot on SkiaSharp. (ScottPlot 5 needs SkiaSharp ≥ 3.119 and ScottPlot 4
/// System.Drawing, which .NET supports only on Windows; OxyPlot.SkiaSharp 2.2 runs on the SkiaSharp 2.88 the project pins.)
/// </summary>
public static class ReportPlots
{
    /// <summary>Default image size in pixels.</summary>
    public const int Width = 900, Height = 500;

    private static readonly OxyColor[] Palette =
    [
        OxyColor.FromRgb(31, 119, 180), OxyColor.FromRgb(255, 127, 14), OxyColor.FromRgb(44, 160, 44), OxyColor.FromRgb(214, 39, 40),
        OxyColor.FromRgb(148, 103, 189), OxyColor.FromRgb(140, 86, 75), OxyColor.FromRgb(227, 119, 194), OxyColor.FromRgb(127, 127, 127),
        OxyColor.FromRgb(188, 189, 34), OxyColor.FromRgb(23, 190, 207),
    ];

    // The first of these a machine has; OxyPlot's own default (Segoe UI) exists only on Windows and falls back to a serif.
    private static readonly Lazy<string> Font = new(() =>
        new[] { "Segoe UI", "Helvetica Neue", "Arial", "DejaVu Sans", "Liberation Sans", "Noto Sans" }
            .FirstOrDefault(f => SKFontManager.Default.MatchFamily(f) is { } t && Dispose(t)) ?? "sans-serif");

    private static bool Dispose(SKTypeface typeface) { typeface.Dispose(); return true; }

    /// <summary>Loss per epoch: training (solid) and validation (dashed) for each candidate, one colour per candidate.</summary>
    public static byte[] Losses(IReadOnlyList<LearningCurve> curves)
    {
        var model = NewModel("Loss per epoch", "epoch", "loss");
        for (int i = 0; i < curves.Count; i++)
        {
            var color = Palette[i % Palette.Length];
            AddLine(model, $"{curves[i].Candidate} (train)", color, LineStyle.Solid, curves[i].Points.Select(p => (p.Epoch, p.TrainLoss)));
            AddLine(model, $"{curves[i].Candidate} (validation)", color, LineStyle.Dash, curves[i].Points.Select(p => (p.Epoch, p.ValidationLoss)));
        }
        return Export(model);
    }

    /// <summary>Validation accuracy per epoch for each candidate.</summary>
    public static byte[] ValidationAccuracy(IReadOnlyList<LearningCurve> curves)
    {
        var model = NewModel("Validation accuracy per epoch", "epoch", "accuracy");
        for (int i = 0; i < curves.Count; i++)
            AddLine(model, curves[i].Candidate, Palette[i % Palette.Length], LineStyle.Solid, curves[i].Points.Select(p => (p.Epoch, p.ValidationAccuracy)));
        return Export(model);
    }

    /// <summary>Heatmap of the confusion matrix: rows true classes (top to bottom), columns predicted; the colour is the
    /// share of the row (so small classes read as clearly as large ones), the number the count.</summary>
    public static byte[] ConfusionMatrix(ConfusionMatrixReport confusion, string split = "validation")
    {
        var n = confusion.Classes.Length;
        if (n == 0 || confusion.Counts.Length != n || confusion.Counts.Any(r => r.Length != n))
            throw new MlNetTransferException($"Confusion matrix: {n} classes but a {confusion.Counts.Length}-row table; it must be square.");
        var model = NewModel($"Confusion matrix ({split})", null, null);
        model.Axes.Clear();
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Bottom, Title = "predicted", ItemsSource = confusion.Classes, Angle = n > 6 ? -40 : 0, IsZoomEnabled = false });
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, Title = "true", ItemsSource = confusion.Classes, StartPosition = 1, EndPosition = 0, IsZoomEnabled = false });
        model.Axes.Add(new LinearColorAxis
        {
            Position = AxisPosition.Right, Minimum = 0, Maximum = 1, Title = "share of the true class",
            Palette = OxyPalette.Interpolate(100, OxyColors.White, OxyColor.FromRgb(31, 119, 180), OxyColor.FromRgb(8, 48, 107)),
        });
        var share = new double[n, n];
        for (int t = 0; t < n; t++)
        {
            double rowTotal = confusion.Counts[t].Sum();
            for (int p = 0; p < n; p++) share[p, t] = rowTotal == 0 ? 0 : confusion.Counts[t][p] / rowTotal;
        }
        model.Series.Add(new HeatMapSeries
        {
            X0 = 0, X1 = n - 1, Y0 = 0, Y1 = n - 1, Data = share,
            CoordinateDefinition = HeatMapCoordinateDefinition.Center, RenderMethod = HeatMapRenderMethod.Rectangles,
        });
        if (n <= 25)
        {
            var fontSize = n <= 10 ? 14 : 9;
            for (int t = 0; t < n; t++)
                for (int p = 0; p < n; p++)
                    model.Annotations.Add(new TextAnnotation
                    {
                        Text = confusion.Counts[t][p].ToString(CultureInfo.InvariantCulture), TextPosition = new DataPoint(p, t),
                        TextHorizontalAlignment = HorizontalAlignment.Center, TextVerticalAlignment = VerticalAlignment.Middle,
                        Stroke = OxyColors.Transparent, FontSize = fontSize, TextColor = share[p, t] > 0.55 ? OxyColors.White : OxyColors.Black,
                    });
        }
        var side = Math.Clamp(260 + 40 * n, 420, 1000);
        return Export(model, side + 120, side);
    }

    /// <summary>Each finished candidate's score against its wall time; the winner is drawn larger and named in the legend.</summary>
    public static byte[] AccuracyVersusTime(Leaderboard leaderboard)
    {
        var finished = leaderboard.Entries.Where(e => e.Score is not null).ToList();
        var model = NewModel($"{Capitalise(leaderboard.Metric)} vs wall time", "wall time (s)", leaderboard.Metric);
        var times = finished.Select(e => Math.Max(e.WallSeconds, 0.01)).DefaultIfEmpty(1).ToList();
        var logScale = times.Max() / times.Min() > 30;
        if (logScale)
            model.Axes[0] = new LogarithmicAxis { Position = AxisPosition.Bottom, Title = "wall time (s, log scale)", MajorGridlineStyle = LineStyle.Solid, MajorGridlineColor = OxyColor.FromAColor(40, OxyColors.Black) };
        // Room round the extreme points, so that markers and their names are not cut at the frame.
        model.Axes[0].MinimumPadding = model.Axes[0].MaximumPadding = 0.08;
        model.Axes[1].MinimumPadding = model.Axes[1].MaximumPadding = 0.12;
        double Position(double t) => logScale
            ? (Math.Log(t) - Math.Log(times.Min())) / Math.Max(Math.Log(times.Max()) - Math.Log(times.Min()), 1e-9)
            : (t - times.Min()) / Math.Max(times.Max() - times.Min(), 1e-9);
        var strategies = finished.Select(e => e.Strategy).Distinct().ToList();
        foreach (var strategy in strategies)
        {
            var series = new ScatterSeries { Title = strategy, MarkerType = MarkerType.Circle, MarkerSize = 6, MarkerFill = Palette[strategies.IndexOf(strategy) % Palette.Length] };
            foreach (var e in finished.Where(e => e.Strategy == strategy))
                series.Points.Add(new ScatterPoint(Math.Max(e.WallSeconds, 0.01), e.Score!.Value));
            model.Series.Add(series);
        }
        if (leaderboard.Winner is { } winner && finished.FirstOrDefault(leaderboard.IsWinner) is { } best)
        {
            var marker = new ScatterSeries { Title = $"winner: {winner}", MarkerType = MarkerType.Diamond, MarkerSize = 11, MarkerFill = OxyColors.Transparent, MarkerStroke = OxyColors.Black, MarkerStrokeThickness = 2 };
            marker.Points.Add(new ScatterPoint(Math.Max(best.WallSeconds, 0.01), best.Score!.Value));
            model.Series.Add(marker);
        }
        foreach (var e in finished)
        {
            var right = Position(Math.Max(e.WallSeconds, 0.01)) > 0.6;   // names of points on the right go to their left
            model.Annotations.Add(new TextAnnotation
            {
                Text = e.Rung > 1 ? $"{e.Candidate} (rung {e.Rung})" : e.Candidate, TextPosition = new DataPoint(Math.Max(e.WallSeconds, 0.01), e.Score!.Value), Stroke = OxyColors.Transparent,
                FontSize = 11, Offset = new ScreenVector(right ? -9 : 9, -5),
                TextHorizontalAlignment = right ? HorizontalAlignment.Right : HorizontalAlignment.Left, TextVerticalAlignment = VerticalAlignment.Bottom,
            });
        }
        if (leaderboard.BudgetSeconds is { } budget)
            model.Annotations.Add(new LineAnnotation { Type = LineAnnotationType.Vertical, X = budget, Color = OxyColors.Gray, LineStyle = LineStyle.Dash, Text = "budget" });
        return Export(model);
    }

    /// <summary>The scenario matrix as a plane — similarity (x) × images per class (y, log scale) — with the cut-off lines,
    /// the four scenario regions labelled and the data set placed on it.</summary>
    public static byte[] ScenarioMatrix(ScenarioDecision decision)
    {
        var model = NewModel("Scenario matrix", null, null);
        var threshold = (double)decision.Size.LargeImagesPerClass;
        var perClass = Math.Max(decision.Size.ImagesPerClass, 1);
        var top = Math.Pow(10, Math.Ceiling(Math.Log10(Math.Max(threshold * 20, perClass * 3))));
        var bottom = Math.Pow(10, Math.Floor(Math.Log10(Math.Min(threshold / 20, perClass / 3))));
        bottom = Math.Max(bottom, 1);
        model.Axes.Clear();
        const double left = -0.03, right = 1.03;   // a margin, so that a data set at 0 or 1 is drawn whole
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = left, Maximum = right, Title = $"domain similarity to {decision.SourceDomain} (0 = different, 1 = similar)", MajorStep = 0.1, IsZoomEnabled = false });
        model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Left, Minimum = bottom, Maximum = top, Title = "training images per class (log scale)", IsZoomEnabled = false });
        var cut = decision.SimilarityCutoff;
        void Region(double x0, double x1, double y0, double y1, TransferScenario scenario, OxyColor color)
        {
            var (min, max) = Strategy.ScenarioMatrix.FreezeRange(scenario);
            var freeze = min == max ? $"freeze {Strategy.ScenarioMatrix.Percent(min)}" : $"freeze {Strategy.ScenarioMatrix.Percent(min)}–{Strategy.ScenarioMatrix.Percent(max)}";
            var chosen = scenario == decision.Scenario;
            model.Annotations.Add(new RectangleAnnotation
            {
                MinimumX = x0, MaximumX = x1, MinimumY = y0, MaximumY = y1, Fill = OxyColor.FromAColor((byte)(chosen ? 90 : 35), color),
                Stroke = chosen ? color : OxyColors.Transparent, StrokeThickness = chosen ? 2 : 0, Layer = AnnotationLayer.BelowSeries,
            });
            model.Annotations.Add(new TextAnnotation
            {
                Text = $"{Strategy.ScenarioMatrix.Title(scenario)}\n({freeze})", TextPosition = new DataPoint((x0 + x1) / 2, Math.Sqrt(y0 * y1)),
                TextHorizontalAlignment = HorizontalAlignment.Center, TextVerticalAlignment = VerticalAlignment.Middle, Stroke = OxyColors.Transparent,
                FontSize = 13, FontWeight = chosen ? FontWeights.Bold : FontWeights.Normal, TextColor = OxyColor.FromAColor(chosen ? (byte)255 : (byte)170, OxyColors.Black),
                Layer = AnnotationLayer.BelowSeries,
            });
        }
        Region(cut, right, bottom, threshold, TransferScenario.FeatureExtractor, Palette[2]);
        Region(cut, right, threshold, top, TransferScenario.FineTuneTop, Palette[0]);
        Region(left, cut, bottom, threshold, TransferScenario.FineTuneFromEarlierLayers, Palette[1]);
        Region(left, cut, threshold, top, TransferScenario.FineTuneAll, Palette[3]);
        model.Annotations.Add(new LineAnnotation
        {
            Type = LineAnnotationType.Vertical, X = cut, Color = OxyColors.Black, LineStyle = LineStyle.Dash, StrokeThickness = 1.5,
            Text = $"similarity cut-off {cut.ToString("0.00", CultureInfo.InvariantCulture)}", TextOrientation = AnnotationTextOrientation.Vertical,
        });
        model.Annotations.Add(new LineAnnotation
        {
            Type = LineAnnotationType.Horizontal, Y = threshold, Color = OxyColors.Black, LineStyle = LineStyle.Dash, StrokeThickness = 1.5,
            Text = $"large from {decision.Size.LargeImagesPerClass} per class", TextHorizontalAlignment = HorizontalAlignment.Right,
        });
        var point = new ScatterSeries { Title = "this data set", MarkerType = MarkerType.Circle, MarkerSize = 9, MarkerFill = OxyColors.Black, MarkerStroke = OxyColors.White, MarkerStrokeThickness = 2 };
        var x = Math.Clamp(decision.Similarity.Score, 0, 1);
        point.Points.Add(new ScatterPoint(x, perClass));
        model.Series.Add(point);
        model.Annotations.Add(new TextAnnotation
        {
            Text = string.Create(CultureInfo.InvariantCulture, $"this data set: similarity {decision.Similarity.Score:0.00}, {decision.Size.ImagesPerClass:0.#} per class"),
            TextPosition = new DataPoint(x, perClass), Offset = new ScreenVector(x > 0.6 ? -12 : 12, -12), Stroke = OxyColors.Black, StrokeThickness = 1,
            Background = OxyColor.FromAColor(230, OxyColors.White), FontSize = 12, FontWeight = FontWeights.Bold, Padding = new OxyThickness(4),
            TextHorizontalAlignment = x > 0.6 ? HorizontalAlignment.Right : HorizontalAlignment.Left, TextVerticalAlignment = VerticalAlignment.Bottom,
        });
        model.IsLegendVisible = false;
        return Export(model, Width, 560);
    }

    private static PlotModel NewModel(string title, string? xTitle, string? yTitle)
    {
        var model = new PlotModel
        {
            Title = title, DefaultFont = Font.Value, Background = OxyColors.White, TitleFontSize = 16, TitleFontWeight = FontWeights.Bold,
            PlotAreaBorderColor = OxyColor.FromAColor(120, OxyColors.Black),
        };
        var grid = OxyColor.FromAColor(40, OxyColors.Black);
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = xTitle, MajorGridlineStyle = LineStyle.Solid, MajorGridlineColor = grid });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = yTitle, MajorGridlineStyle = LineStyle.Solid, MajorGridlineColor = grid });
        model.Legends.Add(new Legend
        {
            LegendPosition = LegendPosition.BottomCenter, LegendPlacement = LegendPlacement.Outside, LegendOrientation = LegendOrientation.Horizontal,
            LegendFontSize = 11, LegendBorder = OxyColors.Transparent, LegendItemSpacing = 16,
        });
        return model;
    }

    private static void AddLine(PlotModel model, string title, OxyColor color, LineStyle style, IEnumerable<(int Epoch, double? Value)> points)
    {
        var series = new LineSeries { Title = title, Color = color, LineStyle = style, StrokeThickness = 2, MarkerType = MarkerType.Circle, MarkerSize = 2.5, MarkerFill = color };
        foreach (var (epoch, value) in points)
            if (value is { } v && double.IsFinite(v)) series.Points.Add(new DataPoint(epoch, v));
        if (series.Points.Count > 0) model.Series.Add(series);
    }

    private static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    private static byte[] Export(PlotModel model, int width = Width, int height = Height)
    {
        using var stream = new MemoryStream();
        // Text shaping would need HarfBuzz's native library, which the Linux NoDependencies SkiaSharp assets lack; plain
        // Skia text draws these labels (Latin, digits, arrows) the same.
        new OxyPlot.SkiaSharp.PngExporter { Width = width, Height = height, UseTextShaping = false }.Export(model, stream);
        return stream.ToArray();
    }
}
