using System.Globalization;
using MlNetTransfer.Strategy;
using ScottPlot;
using SkiaSharp;

namespace MlNetTransfer.Reporting;

/// <summary>
/// The report's plots as PNG bytes, drawn with ScottPlot 5 on SkiaSharp 3 (the SkiaSharp ML.NET 6's image transforms need;
/// OxyPlot.SkiaSharp is bound to SkiaSharp 2.88). ScottPlot has no logarithmic axis: log-scale plots place log10 of the value
/// and label the ticks with the value itself.
/// </summary>
public static class ReportPlots
{
    /// <summary>Default image size in pixels.</summary>
    public const int Width = 900, Height = 500;

    private static readonly Color[] Palette =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189),
        new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207),
    ];

    // The first of these a machine has. Skia answers an unknown family with some other typeface, so the name is compared.
    private static readonly Lazy<string> Font = new(() =>
        new[] { "Segoe UI", "Helvetica Neue", "Arial", "DejaVu Sans", "Liberation Sans", "Noto Sans" }.FirstOrDefault(Installed) ?? Fonts.Default);

    private static bool Installed(string family)
    {
        using var typeface = SKFontManager.Default.MatchFamily(family);
        return typeface is not null && string.Equals(typeface.FamilyName, family, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Loss per epoch: training (solid) and validation (dashed) for each candidate, one colour per candidate.</summary>
    public static byte[] Losses(IReadOnlyList<LearningCurve> curves)
    {
        var plot = NewPlot("Loss per epoch", "epoch", "loss");
        EpochTicks(plot);
        for (int i = 0; i < curves.Count; i++)
        {
            var color = Palette[i % Palette.Length];
            AddLine(plot, $"{curves[i].Candidate} (train)", color, LinePattern.Solid, curves[i].Points.Select(p => (p.Epoch, p.TrainLoss)));
            AddLine(plot, $"{curves[i].Candidate} (validation)", color, LinePattern.Dashed, curves[i].Points.Select(p => (p.Epoch, p.ValidationLoss)));
        }
        return Export(plot);
    }

    /// <summary>Validation accuracy per epoch for each candidate.</summary>
    public static byte[] ValidationAccuracy(IReadOnlyList<LearningCurve> curves)
    {
        var plot = NewPlot("Validation accuracy per epoch", "epoch", "accuracy");
        EpochTicks(plot);
        for (int i = 0; i < curves.Count; i++)
            AddLine(plot, curves[i].Candidate, Palette[i % Palette.Length], LinePattern.Solid, curves[i].Points.Select(p => (p.Epoch, p.ValidationAccuracy)));
        return Export(plot);
    }

    /// <summary>Heatmap of the confusion matrix: rows true classes (top to bottom), columns predicted; the colour is the
    /// share of the row (so small classes read as clearly as large ones), the number the count.</summary>
    public static byte[] ConfusionMatrix(ConfusionMatrixReport confusion, string split = "validation")
    {
        var n = confusion.Classes.Length;
        if (n == 0 || confusion.Counts.Length != n || confusion.Counts.Any(r => r.Length != n))
            throw new MlNetTransferException($"Confusion matrix: {n} classes but a {confusion.Counts.Length}-row table; it must be square.");
        var plot = NewPlot($"Confusion matrix ({split})", "predicted", "true", legend: false);
        plot.HideGrid();
        // The heatmap centres cell [t, p] on (p, n - 1 - t): row 0 at the top, as the table reads.
        var share = new double[n, n];
        for (int t = 0; t < n; t++)
        {
            double rowTotal = confusion.Counts[t].Sum();
            for (int p = 0; p < n; p++) share[t, p] = rowTotal == 0 ? 0 : confusion.Counts[t][p] / rowTotal;
        }
        var heatmap = plot.Add.Heatmap(share);
        heatmap.Colormap = new ScottPlot.Colormaps.CustomInterpolated([Colors.White, new Color(31, 119, 180), new Color(8, 48, 107)]);
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        var colorBar = plot.Add.ColorBar(heatmap);
        colorBar.Label = "share of the true class";
        colorBar.LabelStyle.FontSize = 13;
        colorBar.LabelStyle.FontName = Font.Value;
        colorBar.LabelStyle.Bold = false;
        if (colorBar.Axis is ScottPlot.AxisPanels.AxisBase colorAxis) colorAxis.TickLabelStyle.FontName = Font.Value;
        var positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, confusion.Classes);
        plot.Axes.Left.SetTicks(positions.Select(y => n - 1 - y).ToArray(), confusion.Classes);
        if (n > 6)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -40;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            // Slanted names need the depth of the longest one below the axis.
            var longest = confusion.Classes.Max(c => c.Length);
            plot.Axes.Bottom.MinimumSize = Math.Min(220, 30 + 8f * longest * MathF.Sin(40 * MathF.PI / 180));
        }
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);
        if (n <= 25)
        {
            var fontSize = n <= 10 ? 14 : 9;
            for (int t = 0; t < n; t++)
                for (int p = 0; p < n; p++)
                {
                    var text = plot.Add.Text(confusion.Counts[t][p].ToString(CultureInfo.InvariantCulture), p, n - 1 - t);
                    text.Alignment = Alignment.MiddleCenter;
                    text.LabelFontSize = fontSize;
                    text.LabelFontName = Font.Value;
                    text.LabelFontColor = share[t, p] > 0.55 ? Colors.White : Colors.Black;
                }
        }
        var side = Math.Clamp(260 + 40 * n, 420, 1000);
        return Export(plot, side + 120, side);
    }

    /// <summary>Each finished candidate's score against its wall time; the winner is drawn larger and named in the legend.</summary>
    public static byte[] AccuracyVersusTime(Leaderboard leaderboard)
    {
        var finished = leaderboard.Entries.Where(e => e.Score is not null).ToList();
        var times = finished.Select(e => Math.Max(e.WallSeconds, 0.01)).DefaultIfEmpty(1).ToList();
        var logScale = times.Max() / times.Min() > 30;
        var plot = NewPlot($"{Capitalise(leaderboard.Metric)} vs wall time", logScale ? "wall time (s, log scale)" : "wall time (s)", leaderboard.Metric);
        if (logScale) LogTicks(plot.Axes.Bottom);
        double X(double seconds) => logScale ? Math.Log10(Math.Max(seconds, 0.01)) : Math.Max(seconds, 0.01);
        // Room round the extreme points, so that markers and their names are not cut at the frame.
        plot.Axes.Margins(0.16, 0.24);
        var xs = finished.Select(e => X(e.WallSeconds)).ToList();
        double Position(double x) => (x - xs.Min()) / Math.Max(xs.Max() - xs.Min(), 1e-9);
        var strategies = finished.Select(e => e.Strategy).Distinct().ToList();
        foreach (var strategy in strategies)
        {
            var mine = finished.Where(e => e.Strategy == strategy).ToList();
            var series = plot.Add.ScatterPoints(mine.Select(e => X(e.WallSeconds)).ToArray(), mine.Select(e => e.Score!.Value).ToArray(),
                Palette[strategies.IndexOf(strategy) % Palette.Length]);
            series.LegendText = strategy;
            series.MarkerShape = MarkerShape.FilledCircle;
            series.MarkerSize = 12;
        }
        if (leaderboard.Winner is { } winner && finished.FirstOrDefault(leaderboard.IsWinner) is { } best)
        {
            var marker = plot.Add.Marker(X(best.WallSeconds), best.Score!.Value, MarkerShape.OpenDiamond, 24, Colors.Black);
            marker.MarkerLineWidth = 2;
            marker.LegendText = $"winner: {winner}";
        }
        foreach (var e in finished)
        {
            var right = Position(X(e.WallSeconds)) > 0.6;   // names of points on the right go to their left
            var label = plot.Add.Text(e.Rung > 1 ? $"{e.Candidate} (rung {e.Rung})" : e.Candidate, X(e.WallSeconds), e.Score!.Value);
            label.LabelFontSize = 11;
            label.LabelFontName = Font.Value;
            label.OffsetX = right ? -9 : 9;
            label.OffsetY = -5;
            label.Alignment = right ? Alignment.LowerRight : Alignment.LowerLeft;
        }
        if (leaderboard.BudgetSeconds is { } budget)
        {
            var line = plot.Add.VerticalLine(X(budget), 1, Colors.Gray, LinePattern.Dashed);
            line.Text = "budget";
            line.LabelFontName = Font.Value;
            line.EnableAutoscale = false;   // a marker of the budget, not data: it does not stretch the axis
        }
        return Export(plot);
    }

    /// <summary>Each backbone's cross-validated accuracy against its median one-image latency; the Pareto front (no other
    /// backbone both more accurate and faster) joined by a line, the chosen one (if any) ringed.</summary>
    public static byte[] AccuracyVersusLatency(Backbones.BackboneComparisonReport comparison)
    {
        var rows = comparison.Backbones.Where(b => b.CrossValidationAccuracy is not null).ToList();
        var latencies = rows.Select(b => Math.Max(b.LatencyP50Milliseconds, 0.01)).DefaultIfEmpty(1).ToList();
        var logScale = latencies.Max() / latencies.Min() > 30;
        var plot = NewPlot("Cross-validated accuracy vs latency", logScale ? "median one-image latency (ms, log scale)" : "median one-image latency (ms)",
            $"{comparison.CrossValidationFolds}-fold CV accuracy (training split)");
        if (logScale) LogTicks(plot.Axes.Bottom);
        double X(double ms) => logScale ? Math.Log10(Math.Max(ms, 0.01)) : ms;
        plot.Axes.Margins(0.18, 0.24);
        var front = rows.Where(b => comparison.ParetoFront.Contains(b.Backbone)).OrderBy(b => b.LatencyP50Milliseconds).ToList();
        if (front.Count > 1)
        {
            var line = plot.Add.Scatter(front.Select(b => X(b.LatencyP50Milliseconds)).ToArray(), front.Select(b => b.CrossValidationAccuracy!.Value).ToArray(), Palette[3]);
            line.LineWidth = 2;
            line.LinePattern = LinePattern.Dashed;
            line.MarkerSize = 0;
            line.LegendText = "Pareto front";
        }
        var onFront = plot.Add.ScatterPoints(front.Select(b => X(b.LatencyP50Milliseconds)).ToArray(), front.Select(b => b.CrossValidationAccuracy!.Value).ToArray(), Palette[3]);
        onFront.MarkerShape = MarkerShape.FilledCircle;
        onFront.MarkerSize = 13;
        onFront.LegendText = "on the front";
        var behind = rows.Except(front).ToList();
        if (behind.Count > 0)
        {
            var dominated = plot.Add.ScatterPoints(behind.Select(b => X(b.LatencyP50Milliseconds)).ToArray(), behind.Select(b => b.CrossValidationAccuracy!.Value).ToArray(), Palette[7]);
            dominated.MarkerShape = MarkerShape.FilledCircle;
            dominated.MarkerSize = 11;
            dominated.LegendText = "dominated";
        }
        if (comparison.Choice is { } choice && rows.FirstOrDefault(b => b.Backbone == choice.Winner) is { } won)
        {
            var marker = plot.Add.Marker(X(won.LatencyP50Milliseconds), won.CrossValidationAccuracy!.Value, MarkerShape.OpenCircle, 26, Colors.Black);
            marker.MarkerLineWidth = 2;
            marker.LegendText = $"chosen: {choice.Winner}";
        }
        if (comparison.Choice?.MaxLatencyMilliseconds is { } limit)
        {
            var line = plot.Add.VerticalLine(X(limit), 1, Colors.Gray, LinePattern.Dotted);
            line.Text = "latency limit";
            line.LabelFontName = Font.Value;
        }
        var xs = rows.Select(b => X(b.LatencyP50Milliseconds)).DefaultIfEmpty(0).ToList();
        foreach (var b in rows)
        {
            var right = (X(b.LatencyP50Milliseconds) - xs.Min()) / Math.Max(xs.Max() - xs.Min(), 1e-9) > 0.6;
            var label = plot.Add.Text(string.Create(CultureInfo.InvariantCulture, $"{b.Backbone} ({b.ZipBytes / 1e6:0.#} MB)"), X(b.LatencyP50Milliseconds), b.CrossValidationAccuracy!.Value);
            label.LabelFontSize = 11;
            label.LabelFontName = Font.Value;
            label.OffsetX = right ? -10 : 10;
            label.OffsetY = -5;
            label.Alignment = right ? Alignment.LowerRight : Alignment.LowerLeft;
        }
        return Export(plot);
    }

    /// <summary>The scenario matrix as a plane — similarity (x) × images per class (y, log scale) — with the cut-off lines,
    /// the four scenario regions labelled and the data set placed on it.</summary>
    public static byte[] ScenarioMatrix(ScenarioDecision decision)
    {
        var plot = NewPlot("Scenario matrix", $"domain similarity to {decision.SourceDomain} (0 = different, 1 = similar)",
            "training images per class (log scale)", legend: false);
        var threshold = (double)decision.Size.LargeImagesPerClass;
        var perClass = Math.Max(decision.Size.ImagesPerClass, 1);
        var top = Math.Pow(10, Math.Ceiling(Math.Log10(Math.Max(threshold * 20, perClass * 3))));
        var bottom = Math.Pow(10, Math.Floor(Math.Log10(Math.Min(threshold / 20, perClass / 3))));
        bottom = Math.Max(bottom, 1);
        const double left = -0.03, right = 1.03;   // a margin, so that a data set at 0 or 1 is drawn whole
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, 11).Select(i => i / 10.0).ToArray(),
            Enumerable.Range(0, 11).Select(i => (i / 10.0).ToString("0.#", CultureInfo.InvariantCulture)).ToArray());
        LogTicks(plot.Axes.Left);
        var (yBottom, yTop, yThreshold) = (Math.Log10(bottom), Math.Log10(top), Math.Log10(threshold));
        var cut = decision.SimilarityCutoff;
        // Regions and their names first: ScottPlot draws in the order added, so they lie beneath the lines and the point.
        void Region(double x0, double x1, double y0, double y1, TransferScenario scenario, Color color)
        {
            var (min, max) = Strategy.ScenarioMatrix.FreezeRange(scenario);
            var freeze = min == max ? $"freeze {Strategy.ScenarioMatrix.Percent(min)}" : $"freeze {Strategy.ScenarioMatrix.Percent(min)}–{Strategy.ScenarioMatrix.Percent(max)}";
            var chosen = scenario == decision.Scenario;
            var rectangle = plot.Add.Rectangle(x0, x1, y0, y1);
            rectangle.FillColor = color.WithAlpha((byte)(chosen ? 90 : 35));
            rectangle.LineColor = chosen ? color : Colors.Transparent;
            rectangle.LineWidth = chosen ? 2 : 0;
            var name = plot.Add.Text($"{Strategy.ScenarioMatrix.Title(scenario)}\n({freeze})", (x0 + x1) / 2, (y0 + y1) / 2);
            name.Alignment = Alignment.MiddleCenter;
            name.LabelFontSize = 13;
            name.LabelFontName = Font.Value;
            name.LabelBold = chosen;
            name.LabelFontColor = Colors.Black.WithAlpha((byte)(chosen ? 255 : 170));
        }
        Region(cut, right, yBottom, yThreshold, TransferScenario.FeatureExtractor, Palette[2]);
        Region(cut, right, yThreshold, yTop, TransferScenario.FineTuneTop, Palette[0]);
        Region(left, cut, yBottom, yThreshold, TransferScenario.FineTuneFromEarlierLayers, Palette[1]);
        Region(left, cut, yThreshold, yTop, TransferScenario.FineTuneAll, Palette[3]);
        plot.Add.VerticalLine(cut, 1.5f, Colors.Black, LinePattern.Dashed);
        var cutName = plot.Add.Text($"similarity cut-off {cut.ToString("0.00", CultureInfo.InvariantCulture)}", cut, yTop);
        cutName.LabelRotation = -90;   // along the line, reading upwards, from its top down
        cutName.Alignment = Alignment.LowerRight;
        cutName.OffsetX = -2;
        cutName.OffsetY = 4;
        cutName.LabelFontName = Font.Value;
        plot.Add.HorizontalLine(yThreshold, 1.5f, Colors.Black, LinePattern.Dashed);
        var thresholdName = plot.Add.Text($"large from {decision.Size.LargeImagesPerClass} per class", right, yThreshold);
        thresholdName.Alignment = Alignment.LowerRight;
        thresholdName.OffsetX = -4;
        thresholdName.OffsetY = -2;
        thresholdName.LabelFontName = Font.Value;
        var x = Math.Clamp(decision.Similarity.Score, 0, 1);
        var point = plot.Add.Marker(x, Math.Log10(perClass), MarkerShape.FilledCircle, 18, Colors.Black);
        point.MarkerLineColor = Colors.White;
        point.MarkerLineWidth = 2;
        var label = plot.Add.Text(string.Create(CultureInfo.InvariantCulture, $"this data set: similarity {decision.Similarity.Score:0.00}, {decision.Size.ImagesPerClass:0.#} per class"),
            x, Math.Log10(perClass));
        label.OffsetX = x > 0.6 ? -12 : 12;
        label.OffsetY = -12;
        label.Alignment = x > 0.6 ? Alignment.LowerRight : Alignment.LowerLeft;
        label.LabelBorderColor = Colors.Black;
        label.LabelBorderWidth = 1;
        label.LabelBackgroundColor = Colors.White.WithAlpha(230);
        label.LabelFontSize = 12;
        label.LabelFontName = Font.Value;
        label.LabelBold = true;
        label.LabelPadding = 4;
        plot.Axes.SetLimits(left, right, yBottom, yTop);
        return Export(plot, Width, 560);
    }

    /// <summary>Reliability diagram (Guo et al. 2017): each confidence bin's accuracy as a bar over its width, the bin's mean
    /// confidence as a marker, and the diagonal a calibrated model would follow.</summary>
    public static byte[] Reliability(CalibrationReport calibration, string split = "validation")
    {
        var plot = NewPlot(FormattableString.Invariant($"Reliability on {split}: ECE {calibration.ExpectedCalibrationError:0.000} ({calibration.Bins.Count} bins)"),
            "confidence (top-class probability)", "accuracy");
        var filled = calibration.Bins.Where(b => b.Count > 0).ToList();
        var bars = filled.Select(b => new Bar
        {
            Position = (b.Lower + b.Upper) / 2,
            Value = b.Accuracy!.Value,
            Size = (b.Upper - b.Lower) * 0.9,
            FillColor = Palette[0].WithAlpha(170),
            Label = b.Count.ToString(CultureInfo.InvariantCulture),
        }).ToList();
        var series = plot.Add.Bars(bars);
        series.LegendText = "accuracy per bin (count above)";
        series.ValueLabelStyle.FontName = Font.Value;
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LineColor = Colors.Gray;
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.LegendText = "perfect calibration";
        if (filled.Count > 0)
        {
            var mean = plot.Add.ScatterPoints(filled.Select(b => (b.Lower + b.Upper) / 2).ToArray(), filled.Select(b => b.Confidence!.Value).ToArray(), Palette[1]);
            mean.MarkerShape = MarkerShape.FilledDiamond;
            mean.MarkerSize = 9;
            mean.LegendText = "mean confidence per bin";
        }
        plot.Axes.SetLimits(0, 1, 0, 1.08);
        return Export(plot, 640, 520);
    }

    private static Plot NewPlot(string title, string? xTitle, string? yTitle, bool legend = true)
    {
        var plot = new Plot();
        plot.FigureBackground.Color = Colors.White;
        plot.Title(title, 16);
        plot.Axes.Title.Label.Bold = true;
        if (xTitle is not null) plot.XLabel(xTitle, 13);
        if (yTitle is not null) plot.YLabel(yTitle, 13);
        plot.Axes.FrameColor(Colors.Black.WithAlpha(120));
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(40);
        plot.Grid.MinorLineColor = Colors.Transparent;
        if (legend)
        {
            // Beneath the plot, in a row: the plots share the page's width, and a legend inside would hide points.
            plot.ShowLegend(Edge.Bottom);
            plot.Legend.Orientation = Orientation.Horizontal;
            plot.Legend.FontSize = 11;
            plot.Legend.FontName = Font.Value;
            plot.Legend.OutlineColor = Colors.Transparent;
            plot.Legend.ShadowColor = Colors.Transparent;
        }
        return plot;
    }

    private static void EpochTicks(Plot plot) => plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };

    /// <summary>An axis that carries log10 of its values: decades labelled with the value, minor ticks at 2..9 of each.</summary>
    private static void LogTicks(IAxis axis) => axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
    {
        IntegerTicksOnly = true,
        MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        LabelFormatter = v => Math.Pow(10, v).ToString("0.##", CultureInfo.InvariantCulture),
    };

    private static void AddLine(Plot plot, string title, Color color, LinePattern pattern, IEnumerable<(int Epoch, double? Value)> points)
    {
        var kept = points.Where(p => p.Value is { } v && double.IsFinite(v)).ToList();
        if (kept.Count == 0) return;
        var series = plot.Add.Scatter(kept.Select(p => (double)p.Epoch).ToArray(), kept.Select(p => p.Value!.Value).ToArray(), color);
        series.LegendText = title;
        series.LineWidth = 2;
        series.LinePattern = pattern;
        series.MarkerShape = MarkerShape.FilledCircle;
        series.MarkerSize = 5;
    }

    private static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    private static byte[] Export(Plot plot, int width = Width, int height = Height)
    {
        // The font by name on each label rather than plot.Font.Set, which fixes one typeface (no bold) and sets ScottPlot's
        // process-wide default; left alone, ScottPlot picks DejaVu Serif on Linux.
        plot.Axes.Title.Label.FontName = Font.Value;
        foreach (var axis in plot.Axes.GetAxes().OfType<ScottPlot.AxisPanels.AxisBase>())
        {
            axis.LabelFontName = Font.Value;
            axis.LabelBold = false;   // ScottPlot's axis titles are bold; the title alone is, here
            axis.TickLabelStyle.FontName = Font.Value;
        }
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }
}
