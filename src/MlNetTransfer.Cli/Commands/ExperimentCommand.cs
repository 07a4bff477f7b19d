using System.CommandLine;
using Microsoft.ML;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Reporting;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary><c>mlnet-transfer experiment</c>: the side-by-side comparison of every way to reuse (or not reuse) the backbone.</summary>
internal static class ExperimentCommand
{
    public static Command Create()
    {
        var shared = new TrainingCliOptions("sdca, standardised embeddings, regularisation by 5-fold cross-validation");
        var output = new Option<string>("--out", "-o") { Description = "Folder for report.json, report.html and the best model (model.zip).", Required = true };

        var command = new Command("experiment", "Compare, on one split and one budget: each head on the frozen backbone, fine-tuning the top, fine-tuning everything, " +
                                                "chain-thaw and the same architecture trained from scratch; writes report.json and report.html (leaderboard, learning curves, scenario) and the best model.");
        foreach (var option in shared.All.Append(output)) command.Options.Add(option);
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            var options = shared.Read(parse);
            options.FineTune.LinearProbe = shared.ProbeWanted(parse) ? new Heads.HeadOptions() : null;

            var outDir = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(outDir);
            var ml = new MLContext(options.Seed);
            var result = Cli.WithProgress(progress => ml.TransferLearning().Experiment(options, progress, cancel));
            result.Save(Path.Combine(outDir, "model.zip"), Path.Combine(outDir, "report.json"));
            HtmlReport.Save(Path.Combine(outDir, "report.html"), result.Report,
                ExperimentDetails.From(result.Report, $"MlNetTransfer experiment — {result.Report.Data.Source} on {result.Report.Backbone.Name}")
                    with { Mistakes = shared.Mistakes(parse, result, cancel) });
            ReportPrinter.Print(result.Report);
            AnsiConsole.MarkupLine($"Best model ({Markup.Escape(result.Report.Leaderboard?.Winner ?? "")}): [green]{Markup.Escape(Path.Combine(outDir, "model.zip"))}[/]");
            AnsiConsole.MarkupLine($"Report: [green]{Markup.Escape(Path.Combine(outDir, "report.json"))}[/] and [green]{Markup.Escape(Path.Combine(outDir, "report.html"))}[/]");
            return 0;
        }));
        return command;
    }
}
