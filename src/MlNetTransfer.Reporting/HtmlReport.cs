using System.Globalization;
using System.Net;
using System.Text;

namespace MlNetTransfer.Reporting;

/// <summary>
/// The human-readable report: one self-contained HTML file (inline CSS, plots as base64 PNG data URIs and thumbnails as
/// JPEG ones, no script, no external resource) that opens in any browser, from a <see cref="TrainingReport"/> plus optional
/// <see cref="ExperimentDetails"/> (scenario decision, leaderboard, learning curves).
/// </summary>
public static class HtmlReport
{
    /// <summary>The <c>data-plot</c> names of the plots a report can contain.</summary>
    public static class PlotNames
    {
        public const string ScenarioMatrix = "scenario-matrix";
        public const string AccuracyVersusTime = "accuracy-vs-time";
        public const string Losses = "learning-curves-loss";
        public const string ValidationAccuracy = "learning-curves-accuracy";
        public const string ConfusionMatrix = "confusion-matrix";
        public const string AccuracyVersusLatency = "accuracy-vs-latency";
        public const string Reliability = "reliability";
    }

    public static void Save(string path, TrainingReport report, ExperimentDetails? details = null)
        => AtomicFile.WriteAllText(path, Render(report, details));

    /// <summary>Writes <see cref="RenderComparison"/> atomically.</summary>
    public static void SaveComparison(string path, Backbones.BackboneComparisonReport comparison) => AtomicFile.WriteAllText(path, RenderComparison(comparison));

    public static string Render(TrainingReport report, ExperimentDetails? details = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        details ??= new ExperimentDetails();
        var title = details.Title ?? $"MlNetTransfer report — {(report.Data.Source.Length > 0 ? report.Data.Source : "model")}";
        var html = new Html();
        html.Raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        html.Raw("<title>").Text(title).Raw("</title>\n<style>").Raw(Css).Raw("</style>\n</head>\n<body>\n<main>\n");
        html.Raw("<h1>").Text(title).Raw("</h1>\n");
        html.Raw("<p class=\"meta\">").Text($"{report.Tool} {report.Version} · created {report.CreatedUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC · strategy {report.Strategy}").Raw("</p>\n");

        Summary(html, report);
        if (report.BackboneComparison is { } backbones) BackboneSection(html, backbones);
        if (details.Scenario is { } scenario) Scenario(html, scenario);
        if (details.Leaderboard is { } leaderboard) LeaderboardSection(html, leaderboard);
        if (report.Search is { } search) SearchSection(html, search);
        if (details.LearningCurves.Count > 0) Curves(html, details.LearningCurves);
        Evaluation(html, report);
        if (details.Mistakes is { } mistakes) Mistakes(html, mistakes);
        Data(html, report);
        Setup(html, report);
        html.Raw("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>A page of its own for <c>backbones compare</c>: the table and the accuracy-vs-latency plot.</summary>
    public static string RenderComparison(Backbones.BackboneComparisonReport comparison)
    {
        ArgumentNullException.ThrowIfNull(comparison);
        var title = $"MlNetTransfer backbone comparison — {comparison.Data}";
        var html = new Html();
        html.Raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        html.Raw("<title>").Text(title).Raw("</title>\n<style>").Raw(Css).Raw("</style>\n</head>\n<body>\n<main>\n<h1>").Text(title).Raw("</h1>\n");
        html.Raw("<p class=\"meta\">").Text($"{comparison.TrainImages} training / {comparison.ValidationImages} validation images · head {comparison.Head} · seed {comparison.Seed} · {F(comparison.Seconds, "0")} s").Raw("</p>\n");
        BackboneSection(html, comparison);
        html.Raw("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    private static void BackboneSection(Html html, Backbones.BackboneComparisonReport c)
    {
        html.Raw("<section>\n<h2>Backbones compared</h2>\n");
        if (c.Choice is { } choice) html.Raw("<pre class=\"explanation\">").Text($"Chosen: {choice.Reason}\nRule: {choice.Rule}.").Raw("</pre>\n");
        html.Raw("<p>").Text(c.Method).Raw("</p>\n");
        html.Raw("<table>\n<thead><tr><th>backbone</th><th class=\"n\">CV accuracy</th><th class=\"n\">validation</th><th class=\"n\">img/s</th><th class=\"n\">latency p50 (ms)</th>" +
                 "<th class=\"n\">p95 (ms)</th><th class=\"n\">model (MB)</th><th class=\"n\">zip (MB)</th><th>Pareto</th></tr></thead>\n<tbody>\n");
        foreach (var b in c.Backbones.OrderByDescending(b => b.CrossValidationAccuracy ?? -1))
        {
            var won = c.Choice?.Winner == b.Backbone;
            html.Raw(won ? "<tr class=\"winner\">" : "<tr>");
            Cells(html, b.Backbone + (won ? " ★" : ""), b.CrossValidationAccuracy is { } cv ? $"{F(cv, "0.000")} ± {F(b.CrossValidationStandardDeviation ?? double.NaN, "0.000")}" : "—",
                b.ValidationAccuracy is { } v ? F(v, "0.000") : "—", F(b.ImagesPerSecond, "0.0"), F(b.LatencyP50Milliseconds, "0.0"), F(b.LatencyP95Milliseconds, "0.0"),
                F(b.ModelFileBytes / 1e6, "0.00"), F(b.ZipBytes / 1e6, "0.00"), c.ParetoFront.Contains(b.Backbone) ? "front" : "");
            html.Raw("</tr>\n");
        }
        html.Raw("</tbody>\n</table>\n");
        foreach (var s in c.Skipped) html.Raw("<p class=\"meta\">").Text($"Skipped {s.Backbone}: {s.Reason}").Raw("</p>\n");
        if (c.Backbones.Any(b => b.CrossValidationAccuracy is not null))
            Plot(html, PlotNames.AccuracyVersusLatency, ReportPlots.AccuracyVersusLatency(c), "Cross-validated accuracy against median one-image latency; the Pareto front joined");
        html.Raw("</section>\n");
    }

    private static void Summary(Html html, TrainingReport r)
    {
        html.Raw("<section class=\"cards\">\n");
        Card(html, "accuracy", Pct(r.Metrics.Accuracy), $"on {r.EvaluatedOn} ({r.Metrics.Examples} images)");
        Card(html, "macro-F1", F(r.Metrics.MacroF1, "0.000"), "mean of the per-class F1");
        Card(html, "images", $"{r.Counts.Train} / {r.Counts.Validation} / {r.Counts.Test}", "train / validation / test");
        if (r.ClassBalance is { Imbalanced: true } balance)
            Card(html, "class imbalance", $"{F(balance.Ratio, "0.0")}x", balance.Applied ? "classes weighted; ranked by macro-F1" : "not weighted (--class-weights off)");
        Card(html, "backbone", r.Backbone.Name, r.Backbone.EmbeddingSize > 0 ? $"{r.Backbone.EmbeddingSize}-d embedding" : "");
        Card(html, "total time", $"{F(r.Timings.TotalSeconds, "0.0")} s", $"featurize {F(r.Timings.FeaturizeSeconds, "0.0")} s, train {F(r.Timings.TrainSeconds, "0.0")} s");
        html.Raw("</section>\n");
    }

    private static void Card(Html html, string label, string value, string note)
        => html.Raw("<div class=\"card\"><div class=\"label\">").Text(label).Raw("</div><div class=\"value\">").Text(value)
            .Raw("</div><div class=\"note\">").Text(note).Raw("</div></div>\n");

    private static void Scenario(Html html, Strategy.ScenarioDecision d)
    {
        html.Raw("<section>\n<h2>Strategy: ").Text(d.Title).Raw("</h2>\n");
        html.Raw("<pre class=\"explanation\">").Text(d.Explanation).Raw("</pre>\n");
        Plot(html, PlotNames.ScenarioMatrix, ReportPlots.ScenarioMatrix(d), "The scenario matrix with this data set placed on it");
        if (d.Similarity.Components.Count > 0)
        {
            html.Raw("<table>\n<thead><tr><th>measurement</th><th class=\"n\">value</th><th class=\"n\">0 (different) at</th><th class=\"n\">1 (similar) at</th><th class=\"n\">score</th><th class=\"n\">weight</th></tr></thead>\n<tbody>\n");
            foreach (var c in d.Similarity.Components)
                Row(html, c.Name, F(c.Value, "0.000"), F(c.DifferentAt, "0.###"), F(c.SimilarAt, "0.###"), F(c.Score, "0.00"), F(c.Weight, "0.##"));
            html.Raw("<tr class=\"total\"><td>similarity</td><td></td><td></td><td></td><td class=\"n\">").Text(F(d.Similarity.Score, "0.00"))
                .Raw("</td><td class=\"n\">cut-off ").Text(F(d.SimilarityCutoff, "0.00")).Raw("</td></tr>\n</tbody>\n</table>\n");
        }
        html.Raw("</section>\n");
    }

    private static void LeaderboardSection(Html html, Leaderboard board)
    {
        var rankedBy = board.RankedByMacroF1 ? "validation macro-F1, as the classes are imbalanced (accuracy breaks ties)" : board.Metric;
        html.Raw("<section>\n<h2>Leaderboard</h2>\n<p>").Text($"Ranked by {rankedBy}. Search took {F(board.ElapsedSeconds, "0.0")} s");
        if (board.BudgetSeconds is { } budget)
        {
            var over = board.ElapsedSeconds - budget;
            html.Text($" of a {F(budget, "0.#")} s budget ({(over > 0 ? $"over by {F(over, "0.0")} s" : "within budget")})");
        }
        html.Text(".").Raw("</p>\n");
        html.Raw("<table>\n<thead><tr><th class=\"n\">#</th><th>candidate</th><th class=\"n\">rung</th><th>strategy</th><th class=\"n\">frozen</th><th class=\"n\">").Text(board.Metric)
            .Raw("</th><th class=\"n\">macro-F1</th><th class=\"n\">wall time (s)</th><th class=\"n\">fine-tuning epochs</th><th class=\"n\">img/s</th><th>status</th></tr></thead>\n<tbody>\n");
        var rank = 0;
        foreach (var e in board.Ranked())
        {
            rank++;
            html.Raw(board.IsWinner(e) ? "<tr class=\"winner\">" : "<tr>");
            Cells(html, rank.ToString(CultureInfo.InvariantCulture), e.Candidate + (board.IsWinner(e) ? " ★" : ""), e.Rung.ToString(CultureInfo.InvariantCulture), e.Strategy,
                e.FreezeFraction is { } f ? Pct(f) : "", e.Score is { } s ? F(s, "0.000") : "—", e.MacroF1 is { } m ? F(m, "0.000") : "—",
                F(e.WallSeconds, "0.0"), e.FineTuningEpochs?.ToString(CultureInfo.InvariantCulture) ?? "", e.ImagesPerSecond is { } ips ? F(ips, "0.0") : "",
                e.Status.Text() + (e.Note is { Length: > 0 } note ? $" — {note}" : ""));
            html.Raw("</tr>\n");
        }
        html.Raw("</tbody>\n</table>\n");
        if (board.Margin is { } margin) html.Raw(margin.WithinNoise ? "<p class=\"warn\">" : "<p>").Text(margin.Description).Raw("</p>\n");
        if (board.Entries.Any(e => e.Score is not null))
            Plot(html, PlotNames.AccuracyVersusTime, ReportPlots.AccuracyVersusTime(board), $"{board.Metric} against wall time per candidate");
        html.Raw("</section>\n");
    }

    private static void SearchSection(Html html, Strategy.HalvingPlan search)
    {
        html.Raw("<section>\n<h2>Successive halving</h2>\n<p>").Text(search.Rule).Raw("</p>\n");
        if (search.HeadStart is { } start) html.Raw("<p>").Text("Head start: " + start.Reason).Raw("</p>\n");
        if (search.Augmentation.Length > 0) html.Raw("<p>").Text("Every candidate's augmentation: " + search.Augmentation).Raw("</p>\n");
        html.Raw("</section>\n");
    }

    private static void Curves(Html html, IReadOnlyList<LearningCurve> curves)
    {
        html.Raw("<section>\n<h2>Learning curves</h2>\n");
        if (curves.Any(c => c.Points.Any(p => p.TrainLoss is not null || p.ValidationLoss is not null)))
            Plot(html, PlotNames.Losses, ReportPlots.Losses(curves), "Training and validation loss per epoch");
        if (curves.Any(c => c.Points.Any(p => p.ValidationAccuracy is not null)))
            Plot(html, PlotNames.ValidationAccuracy, ReportPlots.ValidationAccuracy(curves), "Validation accuracy per epoch");
        html.Raw("</section>\n");
    }

    private static void Evaluation(Html html, TrainingReport r)
    {
        html.Raw("<section>\n<h2>Evaluation on ").Text(r.EvaluatedOn).Raw("</h2>\n");
        Metrics(html, "", r.Metrics);
        if (r.Metrics.Confusion.Classes.Length > 0)
            Plot(html, PlotNames.ConfusionMatrix, ReportPlots.ConfusionMatrix(r.Metrics.Confusion, r.EvaluatedOn), $"Confusion matrix on {r.EvaluatedOn}");
        if (r.Metrics.Calibration is { Examples: > 0 } calibration)
        {
            html.Raw("<h3 id=\"calibration\">Calibration</h3>\n<p>").Text(
                $"Expected calibration error {F(calibration.ExpectedCalibrationError, "0.000")} (the confidence-weighted gap between how sure the model is " +
                $"and how often it is right, {calibration.Bins.Count} equal-width bins, Guo et al. 2017); largest bin gap {F(calibration.MaximumCalibrationError, "0.000")}; " +
                $"mean confidence {F(calibration.MeanConfidence, "0.000")} against accuracy {F(r.Metrics.Accuracy, "0.000")}. A threshold on confidence keeps about " +
                "the accuracy of the bins above it.").Raw("</p>\n");
            Plot(html, PlotNames.Reliability, ReportPlots.Reliability(calibration, r.EvaluatedOn), $"Reliability diagram on {r.EvaluatedOn}");
        }
        if (r.ValidationMetrics is { } v && r.EvaluatedOn != "validation") Metrics(html, "Validation", v);
        html.Raw("</section>\n");
    }

    /// <summary><c>id</c> of the mistakes section and <c>data-image</c> kinds of its pictures.</summary>
    public const string MistakesId = "mistakes";

    private static void Mistakes(Html html, MistakesReport m)
    {
        html.Raw("<section id=\"").Raw(MistakesId).Raw("\">\n<h2>Mistakes</h2>\n<p>").Text(
            $"The {m.TopLosses.Count} {m.Split} images with the highest loss (cross-entropy of the true class, −ln p), highest first; " +
            $"{m.Wrong} of {m.Images} {m.Split} images were misclassified. ").Text(m.HeatMapLayer is { } layer
            ? $"Beside each, the Grad-CAM heat map of the predicted class (Selvaraju et al. 2017: the activations of '{layer}', each channel weighted by " +
              "the spatial mean of the class score's gradient, summed and ReLU'd), blue for none to red for the strongest evidence."
            : "").Raw("</p>\n");
        if (m.HeatMapNote is { } note) html.Raw("<p class=\"meta\">").Text("No heat maps: " + note).Raw("</p>\n");
        html.Raw("<div class=\"gallery\">\n");
        foreach (var e in m.TopLosses)
        {
            html.Raw(e.Correct ? "<figure class=\"tile\">" : "<figure class=\"tile wrong\">");
            Thumb(html, "thumbnail", e.Thumbnail, $"{Path.GetFileName(e.ImagePath)}, a {e.TrueLabel}");
            if (e.HeatMap is { } heat) Thumb(html, "heatmap", heat, $"Grad-CAM of {e.HeatMapClass} on {Path.GetFileName(e.ImagePath)}");
            html.Raw("<figcaption>").Text($"true {e.TrueLabel} · predicted {e.PredictedLabel} ({Pct(e.Confidence)})").Raw("<br>")
                .Text($"p(true) {F(e.TrueClassProbability, "0.000")} · loss {F(e.Loss, "0.00")}").Raw("<br><span class=\"path\">").Text(Path.GetFileName(e.ImagePath))
                .Raw("</span></figcaption></figure>\n");
        }
        html.Raw("</div>\n");
        if (m.Gallery.Count > 0)
        {
            html.Raw("<h3>Correct examples per class</h3>\n<p>").Text($"The most confident correct {m.Split} images of each class.").Raw("</p>\n");
            foreach (var g in m.Gallery)
            {
                html.Raw("<h4>").Text($"{g.Class} — {g.Correct} of {g.Images} right").Raw("</h4>\n<div class=\"gallery\" data-class=\"").Text(g.Class).Raw("\">\n");
                foreach (var e in g.Examples)
                {
                    html.Raw("<figure class=\"tile\">");
                    Thumb(html, "gallery", e.Thumbnail, $"{Path.GetFileName(e.ImagePath)}, a {e.TrueLabel}");
                    html.Raw("<figcaption>").Text($"{Pct(e.Confidence)}").Raw("<br><span class=\"path\">").Text(Path.GetFileName(e.ImagePath)).Raw("</span></figcaption></figure>\n");
                }
                if (g.Examples.Count == 0) html.Raw("<p class=\"meta\">None right.</p>\n");
                html.Raw("</div>\n");
            }
        }
        html.Raw("</section>\n");
    }

    private static void Thumb(Html html, string kind, byte[] jpeg, string alt)
        => html.Raw("<img class=\"thumb\" data-image=\"").Text(kind).Raw("\" alt=\"").Text(alt).Raw("\" src=\"data:image/jpeg;base64,")
            .Raw(Convert.ToBase64String(jpeg)).Raw("\">");

    private static void Metrics(Html html, string heading, ClassificationReport m)
    {
        if (heading.Length > 0) html.Raw("<h3>").Text(heading).Raw("</h3>\n");
        html.Raw("<p>").Text($"Accuracy {F(m.Accuracy, "0.000")}, macro-F1 {F(m.MacroF1, "0.000")}, macro-accuracy {F(m.MacroAccuracy, "0.000")}, log-loss {F(m.LogLoss, "0.000")} over {m.Examples} images.").Raw("</p>\n");
        if (m.PerClass.Count == 0) return;
        html.Raw("<table>\n<thead><tr><th>class</th><th class=\"n\">precision</th><th class=\"n\">recall</th><th class=\"n\">F1</th><th class=\"n\">support</th></tr></thead>\n<tbody>\n");
        foreach (var c in m.PerClass) Row(html, c.Class, F(c.Precision, "0.000"), F(c.Recall, "0.000"), F(c.F1, "0.000"), c.Support.ToString(CultureInfo.InvariantCulture));
        html.Raw("</tbody>\n</table>\n");
    }

    private static void Data(Html html, TrainingReport r)
    {
        html.Raw("<section>\n<h2>Data</h2>\n<p>").Text($"{r.Data.Source} — {r.Data.Classes.Count} classes, {(r.Data.PreSplit ? "split by folder" : $"split with seed {r.Data.Seed}")}.").Raw("</p>\n");
        if (r.Counts.PerClass.Count > 0)
        {
            html.Raw("<table>\n<thead><tr><th>class</th><th class=\"n\">train</th><th class=\"n\">validation</th><th class=\"n\">test</th></tr></thead>\n<tbody>\n");
            foreach (var (name, counts) in r.Counts.PerClass)
                Row(html, [name, .. counts.Select(c => c.ToString(CultureInfo.InvariantCulture))]);
            html.Raw("</tbody>\n</table>\n");
        }
        if (r.Skipped.Count > 0)
        {
            html.Raw("<details><summary>").Text(r.Skipped.Count == 1 ? "1 file skipped" : $"{r.Skipped.Count} files skipped").Raw("</summary>\n<ul>\n");
            foreach (var s in r.Skipped.Take(200)) html.Raw("<li><code>").Text(s.Path).Raw("</code>: ").Text(s.Reason).Raw("</li>\n");
            html.Raw("</ul>\n</details>\n");
        }
        html.Raw("</section>\n");
    }

    private static void Setup(Html html, TrainingReport r)
    {
        html.Raw("<section>\n<h2>Set-up</h2>\n<table class=\"kv\">\n<tbody>\n");
        Row(html, "backbone", $"{r.Backbone.Name} ({r.Backbone.Source}), input {r.Backbone.InputWidth}×{r.Backbone.InputHeight}, trained on {r.Backbone.SourceDomain}");
        Row(html, "embedding", $"'{r.Backbone.EmbeddingTensor}', {r.Backbone.EmbeddingSize} values");
        Row(html, "backbone SHA-256", r.Backbone.Sha256);
        Row(html, "head", $"{r.Trainer.Name} ({r.Trainer.MlNetTrainer}), up to {r.Trainer.MaximumIterations} iterations, L2 {Weight(r.Trainer.L2Regularization)}, " +
                          $"L1 {Weight(r.Trainer.L1Regularization)}, normalization {r.Trainer.Normalization.ToLowerInvariant()}");
        if (r.Trainer.CrossValidation is { } cv)
            Row(html, "regularisation", $"chosen by {cv.Folds}-fold stratified cross-validation on the training embeddings (mean accuracy {F(cv.Score ?? double.NaN, "0.000")}); tried: " +
                string.Join(", ", cv.Grid.Select(p => $"L2 {Weight(p.L2Regularization)} / L1 {Weight(p.L1Regularization)}: {F(p.MeanAccuracy, "0.000")}")) +
                (cv.Note is { } note ? $"; {note}" : ""));
        Row(html, "featurization", $"{r.Featurization.Images} images ({r.Featurization.CacheHits} from the cache), {F(r.Featurization.ImagesPerSecond, "0.0")} images/s, {r.Featurization.DegreeOfParallelism} in parallel");
        Row(html, "timings (s)", $"load {F(r.Timings.LoadSeconds, "0.0")}, featurize {F(r.Timings.FeaturizeSeconds, "0.0")}, train {F(r.Timings.TrainSeconds, "0.0")}, evaluate {F(r.Timings.EvaluateSeconds, "0.0")}, total {F(r.Timings.TotalSeconds, "0.0")}");
        html.Raw("</tbody>\n</table>\n</section>\n");
    }

    private static void Plot(Html html, string name, byte[] png, string alt)
        => html.Raw("<figure><img class=\"plot\" data-plot=\"").Text(name).Raw("\" alt=\"").Text(alt).Raw("\" src=\"data:image/png;base64,")
            .Raw(Convert.ToBase64String(png)).Raw("\"><figcaption>").Text(alt).Raw("</figcaption></figure>\n");

    private static void Row(Html html, params string[] cells)
    {
        html.Raw("<tr>");
        Cells(html, cells);
        html.Raw("</tr>\n");
    }

    private static void Cells(Html html, params string[] cells)
    {
        for (int i = 0; i < cells.Length; i++)
            html.Raw(LooksNumeric(cells[i]) ? "<td class=\"n\">" : "<td>").Text(cells[i]).Raw("</td>");
    }

    private static bool LooksNumeric(string s) => s.Length > 0 && (char.IsDigit(s[0]) || s[0] is '—' or '-') && s.Length < 12;

    private static string Weight(float? v) => v is { } x ? x.ToString("G3", CultureInfo.InvariantCulture) : "default";

    private static string F(double value, string format) => double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "—";

    private static string Pct(double fraction) => double.IsFinite(fraction) ? (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%" : "—";

    private const string Css = """
        body { margin: 0; background: #f5f6f8; color: #1d2330; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
        main { max-width: 1000px; margin: 0 auto; padding: 24px; }
        h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 0 0 12px; } h3 { font-size: 16px; }
        .meta { color: #5b6475; margin: 0 0 20px; }
        section { background: #fff; border: 1px solid #dfe3ea; border-radius: 8px; padding: 18px 20px; margin: 0 0 18px; }
        section.cards { display: flex; flex-wrap: wrap; gap: 12px; background: none; border: none; padding: 0; }
        .card { flex: 1 1 170px; background: #fff; border: 1px solid #dfe3ea; border-radius: 8px; padding: 12px 14px; }
        .card .label { color: #5b6475; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
        .card .value { font-size: 20px; font-weight: 600; overflow-wrap: break-word; }
        .card .note { color: #5b6475; font-size: 12px; }
        table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 14px; }
        th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e8ebf0; vertical-align: top; }
        th { background: #f0f2f6; font-weight: 600; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
        tr.winner td { background: #eaf6ea; font-weight: 600; } p.warn { background: #fff6e0; border-left: 3px solid #e0a800; padding: 6px 10px; } tr.total td { font-weight: 600; border-top: 2px solid #c9ced8; }
        table.kv td:first-child { width: 170px; color: #5b6475; } table.kv td { overflow-wrap: anywhere; }
        figure { margin: 10px 0 16px; } img.plot { display: block; max-width: 100%; height: auto; border: 1px solid #e8ebf0; border-radius: 4px; }
        figcaption { color: #5b6475; font-size: 13px; margin-top: 4px; }
        pre.explanation { white-space: pre-wrap; font: inherit; background: #f7f8fb; border-left: 4px solid #1f77b4; padding: 10px 14px; margin: 0 0 12px; }
        code { font-size: 13px; }
        .gallery { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 14px; }
        figure.tile { margin: 0; padding: 6px; border: 1px solid #dfe3ea; border-radius: 6px; background: #fafbfc; max-width: 250px; }
        figure.tile.wrong { border-color: #e6a1a1; background: #fdf3f3; }
        img.thumb { display: inline-block; max-width: 120px; max-height: 120px; margin: 0 2px; vertical-align: top; }
        figure.tile figcaption { font-size: 12px; margin-top: 2px; } .path { color: #5b6475; overflow-wrap: anywhere; }
        """;

    /// <summary>A string builder that HTML-encodes text and passes markup through.</summary>
    private sealed class Html
    {
        private readonly StringBuilder _b = new();
        public Html Raw(string markup) { _b.Append(markup); return this; }
        public Html Text(string? text) { _b.Append(WebUtility.HtmlEncode(text ?? "")); return this; }
        public override string ToString() => _b.ToString();
    }
}
