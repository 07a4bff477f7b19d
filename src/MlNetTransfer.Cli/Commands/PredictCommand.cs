using System.CommandLine;
using System.Globalization;
using System.Text;
using Microsoft.ML;
using MlNetTransfer.Data;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

internal static class PredictCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "A model zip saved by 'train' (or by predict --save-model)." };
        var backbone = new Option<string?>("--backbone", "-b")
        {
            Description = "Instead of --model: a pretrained classifier used as it is (its own head and labels, e.g. mobilenet_v2 → the 1000 ImageNet classes), no training.",
        };
        var mirrors = new Option<string[]>("--mirror") { Description = "Folder holding backbone files (offline mirror) for --backbone; repeatable." };
        var saveModel = new Option<string?>("--save-model") { Description = "With --backbone: also save the pretrained classifier as a model zip." };
        var input = new Option<string>("--input", "-i") { Description = "An image file, or a folder (searched recursively) of images.", Required = true };
        var output = new Option<string?>("--out", "-o")
        {
            Description = "Also write the predictions as CSV (path,label,confidence, then one probability column per class). " +
                          "With --shard (or an existing folder): the folder for Parquet shards predictions-iiiii-of-nnnnn.parquet, see --shard.",
        };
        var shards = new ShardOptions();
        var top = new Option<int>("--top") { Description = "How many classes to show per image.", DefaultValueFactory = _ => 1 };
        var command = new Command("predict",
            "Label images with a trained model zip (--model), or with a pretrained network's own classifier (--backbone). " +
            "Files that are not decodable images are listed and skipped.")
        {
            model, backbone, mirrors, saveModel, input, output, top,
        };
        shards.AddTo(command);
        command.Validators.Add(r =>
        {
            if ((r.GetValue(model) is null) == (r.GetValue(backbone) is null)) r.AddError("Give exactly one of --model or --backbone.");
            if (r.GetValue(saveModel) is not null && r.GetValue(backbone) is null) r.AddError("--save-model goes with --backbone.");
        });
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            var ml = new MLContext();
            ImageClassifier classifier;
            if (parse.GetValue(model) is { } zip) classifier = ImageClassifier.Load(ml, zip);
            else
            {
                classifier = ml.TransferLearning().Pretrained(parse.GetValue(backbone)!,
                    new Backbones.BackboneResolveOptions { Mirrors = parse.GetValue(mirrors)?.ToList() ?? [] });
                if (parse.GetValue(saveModel) is { } save)
                {
                    classifier.Save(save);
                    AnsiConsole.MarkupLine($"Model: [green]{Markup.Escape(Path.GetFullPath(save))}[/]");
                }
            }
            if (shards.Given(parse) || Directory.Exists(parse.GetValue(output)))
                return PredictShard(classifier, parse.GetValue(input)!, parse.GetValue(output), shards.Resolve(parse), cancel);
            return Predict(classifier, parse.GetValue(input)!, parse.GetValue(output), Math.Max(1, parse.GetValue(top)), cancel);
        }));
        return command;
    }

    private static int Predict(ImageClassifier classifier, string inputPath, string? csvPath, int top, CancellationToken cancel)
    {
        var (images, skipped) = CollectImages(inputPath);
        var predictions = new List<ImagePrediction>();
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("Predicting", maxValue: Math.Max(1, images.Count));
                foreach (var chunk in images.Chunk(32))
                {
                    cancel.ThrowIfCancellationRequested();
                    predictions.AddRange(classifier.PredictBatch(chunk));
                    task.Increment(chunk.Length);
                }
            });

        var table = new Table().AddColumns("image", "prediction");
        foreach (var p in predictions)
            table.AddRow(Markup.Escape(Path.GetRelativePath(Environment.CurrentDirectory, p.ImagePath)),
                string.Join(", ", p.Top(top).Select(s => $"{Markup.Escape(s.Key)} {s.Value:0.000}")));
        AnsiConsole.Write(table);
        foreach (var s in skipped) AnsiConsole.MarkupLine($"[yellow]skipped[/] {Markup.Escape(s.Path)}: {Markup.Escape(s.Reason)}");

        if (csvPath is not null)
        {
            AtomicFile.WriteAllText(csvPath, ToCsv(predictions, classifier.Classes));
            AnsiConsole.MarkupLine($"Predictions: [green]{Markup.Escape(Path.GetFullPath(csvPath))}[/]");
        }
        return 0;
    }

    /// <summary>Batch prediction of one shard into Parquet (see <see cref="Serving.ShardedPredictor"/>).</summary>
    private static int PredictShard(ImageClassifier classifier, string inputPath, string? outDir, Data.ShardSpec shard, CancellationToken cancel)
    {
        if (outDir is null) throw new MlNetTransferException("--shard writes Parquet shards: give --out DIR (the same folder for every shard).");
        var result = Serving.ShardedPredictor.Run(classifier,
            new Serving.ShardedPredictorOptions { InputPath = inputPath, OutputDirectory = outDir, Shard = shard }, cancel: cancel);
        ShardOptions.Print(result, "predictions");
        return 0;
    }

    /// <summary>A single bad file is an error; in a folder, bad files are reported and the rest predicted.</summary>
    private static (List<string> Images, List<SkippedFile> Skipped) CollectImages(string inputPath)
    {
        if (File.Exists(inputPath))
        {
            var check = ImageFileValidator.Validate(inputPath);
            if (!check.IsValid) throw new MlNetTransferException($"{inputPath}: {check.Reason}");
            return ([Path.GetFullPath(inputPath)], []);
        }
        if (!Directory.Exists(inputPath)) throw new MlNetTransferException($"{inputPath}: no such file or folder.");
        var images = new List<string>();
        var skipped = new List<SkippedFile>();
        foreach (var file in Directory.EnumerateFiles(inputPath, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var check = ImageFileValidator.Validate(file);
            if (check.IsValid) images.Add(Path.GetFullPath(file));
            else skipped.Add(new SkippedFile(file, check.Reason ?? "not an image"));
        }
        if (images.Count == 0) throw new MlNetTransferException($"{inputPath}: no decodable images found ({skipped.Count} other files).");
        return (images, skipped);
    }

    internal static string ToCsv(IReadOnlyList<ImagePrediction> predictions, IReadOnlyList<string> classes)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", new[] { "path", "label", "confidence" }.Concat(classes.Select(c => "p_" + c)).Select(Csv)));
        foreach (var p in predictions)
        {
            var cells = new List<string> { Csv(p.ImagePath), Csv(p.Label), p.Confidence.ToString("R", CultureInfo.InvariantCulture) };
            cells.AddRange(p.Scores.Select(s => s.Value.ToString("R", CultureInfo.InvariantCulture)));
            sb.AppendLine(string.Join(",", cells));
        }
        return sb.ToString();
    }

    private static string Csv(string s) => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
