using System.Globalization;
using MlNetTransfer.Reporting;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary>The human-readable end of a training run: metrics, per-class table, confusion matrix, skipped files.</summary>
internal static class ReportPrinter
{
    public static void Print(TrainingReport r)
    {
        var m = r.Metrics;
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(r.Backbone.Name)}[/] ({r.Backbone.EmbeddingSize}-d embedding) + [bold]{Markup.Escape(r.Trainer.MlNetTrainer)}[/], evaluated on {r.EvaluatedOn} ({m.Examples} images)");
        AnsiConsole.MarkupLine($"accuracy [bold]{m.Accuracy:0.000}[/]   macro-F1 [bold]{m.MacroF1:0.000}[/]   log-loss {m.LogLoss:0.000}");
        AnsiConsole.MarkupLine($"images: train {r.Counts.Train}, validation {r.Counts.Validation}, test {r.Counts.Test}, skipped {r.Counts.Skipped}");
        if (r.ClassBalance is { Imbalanced: true } balance) AnsiConsole.MarkupLine($"class imbalance: {Markup.Escape(balance.Note)}");
        if (r.Trainer.CrossValidation is { } cv)
        {
            static string Weight(float? v) => v is { } x ? x.ToString("G3", System.Globalization.CultureInfo.InvariantCulture) : "default";
            var byDefault = cv.Grid.FirstOrDefault(p => p.L2Regularization is null && p.L1Regularization is null);
            if (cv.Score is { } score)
                AnsiConsole.MarkupLine($"head regularisation by {cv.Folds}-fold cross-validation ({cv.Grid.Count} values, {cv.Seconds:0.0}s): L2 {Weight(cv.L2Regularization)}, L1 {Weight(cv.L1Regularization)}, " +
                                       $"mean accuracy {score:0.000}{(byDefault is null ? "" : $" (the trainer's defaults: {byDefault.MeanAccuracy:0.000})")}");
            if (cv.Note is { } note) AnsiConsole.MarkupLine($"head cross-validation {Markup.Escape(note)}");
        }
        AnsiConsole.MarkupLine($"time: featurize {r.Timings.FeaturizeSeconds:0.0}s ({r.Featurization.CacheHits} of {r.Featurization.Images} from cache), train {r.Timings.TrainSeconds:0.0}s, total {r.Timings.TotalSeconds:0.0}s");

        if (r.Scenario is { } scenario)
        {
            AnsiConsole.WriteLine();
            AnsiConsole.MarkupLine($"[bold]Scenario: {Markup.Escape(scenario.Title)}[/] (similarity {scenario.Similarity.Score:0.00}, cut-off {scenario.SimilarityCutoff:0.00}; {scenario.Size.ImagesPerClass:0.#} training images per class, large from {scenario.Size.LargeImagesPerClass})");
            AnsiConsole.WriteLine(scenario.Explanation);
        }
        if (r.Leaderboard is { } board)
        {
            var table = new Table().Title($"leaderboard ({Markup.Escape(board.Metric)})").AddColumns("candidate", "rung", "strategy", "freeze", "val accuracy", "macro-F1", "seconds", "tuning epochs", "img/s", "status");
            foreach (var e in board.Entries)
                table.AddRow($"{(board.IsWinner(e) ? "[bold]" + Markup.Escape(e.Candidate) + " *[/]" : Markup.Escape(e.Candidate))}", e.Rung.ToString(CultureInfo.InvariantCulture), Markup.Escape(e.Strategy),
                    e.FreezeFraction is { } f ? $"{f:0.00}" : "", e.Score is { } a ? $"{a:0.000}" : "-", e.MacroF1 is { } m1 ? $"{m1:0.000}" : "-", $"{e.WallSeconds:0.0}",
                    e.FineTuningEpochs?.ToString() ?? "", e.ImagesPerSecond is { } ips ? $"{ips:0.0}" : "",
                    Markup.Escape(e.Status.Text() + (e.Note is null ? "" : $" ({e.Note})")));
            AnsiConsole.Write(table);
            if (board.Note is { } note) AnsiConsole.WriteLine(note);
            if (board.Margin is { } margin) AnsiConsole.MarkupLine(margin.WithinNoise ? $"[yellow]{Markup.Escape(margin.Description)}[/]" : Markup.Escape(margin.Description));
        }
        if (r.Search is { } search)
        {
            AnsiConsole.WriteLine("successive halving: " + search.Rule);
            if (search.HeadStart is { } start) AnsiConsole.WriteLine("head start: " + start.Reason);
            if (search.Augmentation.Length > 0) AnsiConsole.WriteLine("candidates' augmentation: " + search.Augmentation);
        }
        if (r.Budget is { } budget)
            AnsiConsole.MarkupLine($"budget {budget.BudgetSeconds:0} s, used {budget.ElapsedSeconds:0.0} s, overshoot {budget.OvershootSeconds:0.0} s; {budget.SkippedCandidates} candidate(s) skipped, {budget.StoppedCandidates} stopped at the budget{(budget.FailedCandidates > 0 ? $", {budget.FailedCandidates} failed (see the leaderboard)" : "")}");

        if (r.FineTune is { } ft)
        {
            AnsiConsole.MarkupLine($"{Markup.Escape(ft.Method)}: {ft.PretrainedLayers} pretrained layers, phases {Markup.Escape(string.Join(", ", ft.Phases.Select(p => $"{p.Name} ({p.TrainableLayers} layers)")))}; " +
                                   $"head: {Markup.Escape(ft.HeadInitialization)}; augmentation: {Markup.Escape(ft.AugmentationSettings)}; " +
                                   $"best epoch {ft.BestEpoch} of {ft.EpochsRun}{(ft.StoppedEarly ? " (stopped early)" : "")}{(ft.Cancelled ? " (interrupted)" : "")}");
            var curve = new Table().Title("learning curve").AddColumns("epoch", "phase", "train loss", "val loss", "val acc", "img/s", "seconds");
            foreach (var e in r.LearningCurve)
                curve.AddRow($"{e.Epoch}{(e.Best ? "*" : "")}", Markup.Escape(e.Phase), $"{e.TrainLoss:0.000}", $"{e.ValidationLoss:0.000}", $"{e.ValidationAccuracy:0.000}",
                    $"{e.ImagesPerSecond:0.0}{(e.BottleneckCached ? " (cached)" : e.FrozenPrefix == "onnxruntime" ? " (ORT prefix)" : "")}", $"{e.Seconds:0.0}");
            AnsiConsole.Write(curve);
        }

        var perClass = new Table().AddColumns("class", "precision", "recall", "F1", "support");
        foreach (var c in m.PerClass)
            perClass.AddRow(Markup.Escape(c.Class), $"{c.Precision:0.000}", $"{c.Recall:0.000}", $"{c.F1:0.000}", c.Support.ToString());
        AnsiConsole.Write(perClass);

        var confusion = new Table().Title("confusion (rows: true, columns: predicted)").AddColumn("");
        foreach (var c in m.Confusion.Classes) confusion.AddColumn(Markup.Escape(c));
        for (int i = 0; i < m.Confusion.Classes.Length; i++)
            confusion.AddRow([Markup.Escape(m.Confusion.Classes[i]), .. m.Confusion.Counts[i].Select(v => v.ToString())]);
        AnsiConsole.Write(confusion);

        if (r.Skipped.Count > 0)
        {
            AnsiConsole.MarkupLine($"[yellow]{r.Skipped.Count} file(s) skipped:[/]");
            foreach (var s in r.Skipped.Take(20)) AnsiConsole.MarkupLine($"  [yellow]{Markup.Escape(s.Path)}[/]: {Markup.Escape(s.Reason)}");
            if (r.Skipped.Count > 20) AnsiConsole.MarkupLine($"  ... and {r.Skipped.Count - 20} more (see the report)");
        }
    }
}
