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
        var data = new Option<string>("--data", "-d") { Description = "Image folder (one sub-folder per class, or train/ val/ [test/]) or a CSV/TSV manifest.", Required = true };
        var backbone = new Option<string>("--backbone", "-b") { Description = "Pretrained network: a catalog name, an .onnx file or a TF.js model.json.", DefaultValueFactory = _ => new TransferLearningOptions().Backbone };
        var output = new Option<string>("--out", "-o") { Description = "Folder for report.json, report.html and the best model (model.zip).", Required = true };
        var budget = new Option<string>("--budget") { Description = "Wall-time budget for the whole experiment, e.g. 90s, 10m, 1h (rows that no longer fit are skipped and say so).", DefaultValueFactory = _ => "10m" };
        var split = new Option<string>("--split") { Description = "Train/validation/test fractions for a folder that is not already split.", DefaultValueFactory = _ => "0.8,0.1,0.1" };
        var seed = new Option<int>("--seed") { Description = "Seed for the split, the trainers and the from-scratch weights.", DefaultValueFactory = _ => 42 };
        var mirrors = new Option<string[]>("--mirror") { Description = "Folder holding backbone files (an offline mirror); repeatable.", AllowMultipleArgumentsPerToken = false };
        var defaults = new FineTuneOptions();
        var epochs = new Option<int>("--epochs") { Description = "Most epochs per fine-tuning row (chain-thaw: of its final phase).", DefaultValueFactory = _ => defaults.Epoch };
        var batchSize = new Option<int>("--batch-size") { Description = "Images per fine-tuning step.", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate of the new head; pretrained layers get 0.1 of it (from scratch: all of it).", DefaultValueFactory = _ => defaults.LearningRate };
        var noAugment = new Option<bool>("--no-augment") { Description = "Train on the plain resized images (lets a frozen prefix be computed once)." };
        var patience = new Option<int>("--patience") { Description = "Stop a row after this many epochs without a lower validation loss; 0 turns early stopping off.", DefaultValueFactory = _ => defaults.EarlyStoppingCriteria!.Patience };
        var headInit = TrainCommand.HeadInitOption("sdca, standardised embeddings, regularisation by 5-fold cross-validation");
        var noCache = new Option<bool>("--no-cache") { Description = "Do not read or write the embedding cache." };
        var threads = new Option<int>("--threads") { Description = "Images featurized at once.", DefaultValueFactory = _ => Environment.ProcessorCount };

        var command = new Command("experiment", "Compare, on one split and one budget: each head on the frozen backbone, fine-tuning the top, fine-tuning everything, " +
                                                "chain-thaw and the same architecture trained from scratch; writes report.json and report.html (leaderboard, learning curves, scenario) and the best model.")
        {
            data, backbone, output, budget, split, seed, mirrors, epochs, batchSize, lr, headInit, noAugment, patience, noCache, threads,
        };
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            var fractions = TrainCommand.ParseSplit(parse.GetValue(split)!);
            var options = new TransferLearningOptions
            {
                DataPath = parse.GetValue(data)!,
                Backbone = parse.GetValue(backbone)!,
                Seed = parse.GetValue(seed),
                Mirrors = parse.GetValue(mirrors)?.ToList() ?? [],
                Budget = Strategy.TrainingBudget.Parse(parse.GetValue(budget)!),
            };
            options.Dataset.TrainFraction = fractions[0];
            options.Dataset.ValidationFraction = fractions[1];
            options.Dataset.TestFraction = fractions[2];
            options.Dataset.Seed = options.Seed;
            options.Featurizer.DegreeOfParallelism = Math.Max(1, parse.GetValue(threads));
            if (parse.GetValue(noCache)) options.Featurizer.CacheDirectory = null;
            options.FineTune.Epoch = parse.GetValue(epochs);
            options.FineTune.BatchSize = parse.GetValue(batchSize);
            options.FineTune.LearningRate = parse.GetValue(lr);
            options.FineTune.LinearProbe = parse.GetValue(headInit) == "probe" ? new Heads.HeadOptions() : null;
            options.FineTune.Augmentation.Enabled = !parse.GetValue(noAugment);
            options.FineTune.EarlyStoppingCriteria = parse.GetValue(patience) > 0 ? new EarlyStopping { Patience = parse.GetValue(patience) } : null;
            options.FineTune.DecodeParallelism = options.Featurizer.DegreeOfParallelism;

            var outDir = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(outDir);
            var ml = new MLContext(options.Seed);
            var result = Cli.WithProgress(progress => ml.TransferLearning().Experiment(options, progress, cancel));
            result.Save(Path.Combine(outDir, "model.zip"), Path.Combine(outDir, "report.json"));
            HtmlReport.Save(Path.Combine(outDir, "report.html"), result.Report,
                ExperimentDetails.From(result.Report, $"MlNetTransfer experiment — {result.Report.Data.Source} on {result.Report.Backbone.Name}"));
            ReportPrinter.Print(result.Report);
            AnsiConsole.MarkupLine($"Best model ({Markup.Escape(result.Report.Leaderboard?.Winner ?? "")}): [green]{Markup.Escape(Path.Combine(outDir, "model.zip"))}[/]");
            AnsiConsole.MarkupLine($"Report: [green]{Markup.Escape(Path.Combine(outDir, "report.json"))}[/] and [green]{Markup.Escape(Path.Combine(outDir, "report.html"))}[/]");
            return 0;
        }));
        return command;
    }
}
