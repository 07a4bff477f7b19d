using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Heads;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary><c>mlnet-transfer backbones compare</c>: a thin layer over <see cref="BackboneComparison"/>.</summary>
internal static class BackbonesCompareCommand
{
    public const string JsonName = "comparison.json";

    public static Command Create()
    {
        var data = new Option<string>("--data", "-d")
        {
            Description = "Image folder with one sub-folder per class (or train/ val/ [test/] folders of those), or a CSV/TSV manifest.",
            Required = true,
        };
        var mirrors = new Option<string[]>("--mirror")
        {
            Description = "Folder holding backbone files (an offline mirror), searched before any download; repeatable. Its backbones join the default list.",
            AllowMultipleArgumentsPerToken = false,
        };
        var output = new Option<string?>("--out", "-o")
        {
            Description = $"Folder to write {JsonName}, comparison.html and each backbone's model zip (models/NAME.zip) into. Default: backbone-comparison.",
        };
        var report = new Option<string?>("--report", "-r")
        {
            Description = "Write the JSON here instead (the HTML beside it, same name, .html); the model zips are then not kept.",
        };
        var trainer = new Option<string>("--trainer", "-t")
        {
            Description = "Head trained on every backbone's embeddings (its regularisation chosen by --head-cv): " + string.Join(", ", HeadOptions.TrainerNames) + ".",
            DefaultValueFactory = _ => "sdca",
        };
        trainer.AcceptOnlyFromAmong([.. HeadOptions.TrainerNames]);
        var headCv = new Option<int>("--head-cv")
        {
            Description = "Folds of the stratified cross-validation on the training split; its best mean accuracy ranks the backbones (at least 2).",
            DefaultValueFactory = _ => new HeadOptions().CrossValidationFolds,
        };
        var split = new Option<string>("--split")
        {
            Description = "Train/validation/test fractions for a folder that is not already split.",
            DefaultValueFactory = _ => "0.8,0.1,0.1",
        };
        var seed = new Option<int>("--seed") { Description = "Seed for the split, the folds and the trainers.", DefaultValueFactory = _ => 42 };
        var threads = new Option<int>("--threads") { Description = "Images featurized (and pushed through each zip for images/s) at once.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cacheDir = new Option<string?>("--cache-dir") { Description = $"Embedding cache folder (a later train with any backbone compared reads its embeddings from here). Default {Featurization.EmbeddingCache.DefaultDirectory}." };
        var noCache = new Option<bool>("--no-cache") { Description = "Do not read or write the embedding cache." };

        var command = new Command("compare",
            "Measure backbones on your own images: per backbone, a tuned head's cross-validated accuracy on the training split and its validation accuracy, " +
            "images/s, one-image latency p50/p95 from the saved zip, model file and zip size. A table here, the same in JSON, and an HTML report with " +
            "accuracy against latency and the Pareto front. Embeddings go to the cache, so `train` with the winner featurizes nothing again. " +
            "Latencies and throughputs are only comparable on one machine, measured at one time.")
        {
            data, mirrors, output, report, trainer, headCv, split, seed, threads, cacheDir, noCache,
        };
        var choice = BackboneChoiceOptions.AddTo(command);
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            if (parse.GetValue(output) is not null && parse.GetValue(report) is not null)
                throw new MlNetTransferException("Give --out DIR or --report FILE, not both.");
            var fractions = TrainCommand.ParseSplit(parse.GetValue(split)!);
            var options = new TransferLearningOptions
            {
                DataPath = parse.GetValue(data)!,
                Seed = parse.GetValue(seed),
                Mirrors = parse.GetValue(mirrors)?.ToList() ?? [],
            };
            options.Dataset.TrainFraction = fractions[0];
            options.Dataset.ValidationFraction = fractions[1];
            options.Dataset.TestFraction = fractions[2];
            options.Dataset.Seed = options.Seed;
            options.Head.Trainer = HeadOptions.Parse(parse.GetValue(trainer)!);
            options.Head.CrossValidationFolds = parse.GetValue(headCv);
            options.Featurizer.DegreeOfParallelism = Math.Max(1, parse.GetValue(threads));
            options.Featurizer.CacheDirectory = parse.GetValue(noCache) ? null : parse.GetValue(cacheDir) ?? options.Featurizer.CacheDirectory;
            var comparison = options.BackboneChoice;
            choice.Apply(parse, comparison);

            string jsonPath;
            if (parse.GetValue(report) is { } r) jsonPath = Path.GetFullPath(r);
            else
            {
                var folder = Path.GetFullPath(parse.GetValue(output) ?? "backbone-comparison");
                jsonPath = Path.Combine(folder, JsonName);
                comparison.ModelsDirectory = Path.Combine(folder, "models");
            }
            var htmlPath = Path.ChangeExtension(jsonPath, ".html");

            var ml = new MLContext(options.Seed);
            var result = Cli.WithProgress(progress => new BackboneComparison(ml).Compare(options, comparison, progress, cancel));
            var measured = result.Report;
            string? noChoice = null;
            try
            {
                measured = measured with { Choice = BackboneComparison.Choose(measured.Backbones, comparison.MaxLatencyMilliseconds, comparison.MaxModelMegabytes) };
            }
            catch (MlNetTransferException e)
            {
                noChoice = e.Message;   // the measurements stand; only the pick under these limits is missing
            }
            Directory.CreateDirectory(Path.GetDirectoryName(jsonPath)!);
            AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(measured, Reporting.TrainingReport.JsonOptions));
            Reporting.HtmlReport.SaveComparison(htmlPath, measured);
            Print(measured);
            if (noChoice is not null) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(noChoice)}[/]");
            AnsiConsole.MarkupLine($"Report: [green]{Markup.Escape(jsonPath)}[/] and [green]{Markup.Escape(htmlPath)}[/]");
            if (comparison.ModelsDirectory is { } models) AnsiConsole.MarkupLine($"Models: [green]{Markup.Escape(models)}[/]");
            return 0;
        }));
        return command;
    }

    /// <summary>The comparison as a table, best cross-validated accuracy first, then the choice and what was skipped.</summary>
    internal static void Print(BackboneComparisonReport c)
    {
        static string F(double? v, string format) => v is { } x && double.IsFinite(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "—";
        // Plain fixed-width lines: a Spectre table on a redirected (80-column) console wraps names and numbers mid-word.
        var rows = c.Backbones.OrderByDescending(b => b.CrossValidationAccuracy ?? -1).ToList();
        var width = Math.Max(8, rows.Max(b => b.Backbone.Length));
        string Line(params string[] cells) => cells[0].PadRight(width) + string.Concat(cells[1..].Select(x => "  " + x.PadLeft(8))).TrimEnd();
        var writer = AnsiConsole.Profile.Out.Writer;
        writer.WriteLine($"Backbones on {c.Data}: {c.TrainImages} train / {c.ValidationImages} validation images, {c.Head} head, {c.CrossValidationFolds}-fold CV on the training split");
        writer.WriteLine(Line("backbone", "CV acc", "± sd", "val acc", "img/s", "p50 ms", "p95 ms", "model MB", "zip MB", ""));
        foreach (var b in rows)
        {
            var marks = (c.ParetoFront.Contains(b.Backbone) ? "Pareto" : "") + (c.Choice?.Winner == b.Backbone ? " chosen" : "");
            writer.WriteLine(Line(b.Backbone, F(b.CrossValidationAccuracy, "0.000"), F(b.CrossValidationStandardDeviation, "0.000"), F(b.ValidationAccuracy, "0.000"),
                F(b.ImagesPerSecond, "0.0"), F(b.LatencyP50Milliseconds, "0.0"), F(b.LatencyP95Milliseconds, "0.0"), F(b.ModelFileBytes / 1e6, "0.00"), F(b.ZipBytes / 1e6, "0.00"), marks.Trim()));
        }
        if (c.Choice is { } choice) writer.WriteLine($"Choice: {choice.Reason}");
        foreach (var s in c.Skipped) writer.WriteLine($"Skipped {s.Backbone}: {s.Reason}");
        writer.WriteLine("Latency and images/s were measured on this machine now: they rank these backbones against each other, not against another machine.");
        writer.Flush();
    }
}
