using System.CommandLine;
using System.Globalization;
using Microsoft.ML;
using MlNetTransfer.Heads;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data", "-d")
        {
            Description = "Image folder with one sub-folder per class (or train/ val/ [test/] folders of those), or a CSV/TSV manifest of path,label rows (paths relative to the manifest).",
            Required = true,
        };
        var backbone = new Option<string>("--backbone", "-b")
        {
            Description = "Pretrained network: a catalog name (mlnet-transfer backbones list), a path to an .onnx file (an optional NAME.backbone.json beside it gives its preprocessing), or 'synthetic-cnn' (generated, random weights; for demos).",
            DefaultValueFactory = _ => new TransferLearningOptions().Backbone,
        };
        var strategy = new Option<string>("--strategy", "-s")
        {
            Description = "How much of the pretrained network to reuse. feature-extractor: freeze it, learn a new head on its embeddings.",
            DefaultValueFactory = _ => "feature-extractor",
        };
        strategy.AcceptOnlyFromAmong("feature-extractor");
        var trainer = new Option<string>("--trainer", "-t")
        {
            Description = "Head trained on the embeddings: sdca (SdcaMaximumEntropy), lbfgs (LbfgsMaximumEntropy), svm (one-vs-all LinearSvm, Platt-calibrated).",
            DefaultValueFactory = _ => "sdca",
        };
        trainer.AcceptOnlyFromAmong("sdca", "lbfgs", "svm");
        var output = new Option<string>("--out", "-o") { Description = "Where to save the model zip.", DefaultValueFactory = _ => "model.zip" };
        var report = new Option<string?>("--report", "-r") { Description = "Where to write the JSON report. Default: report.json beside the model." };
        var split = new Option<string>("--split")
        {
            Description = "Train/validation/test fractions for a folder that is not already split, e.g. 0.8,0.1,0.1 (test may be 0).",
            DefaultValueFactory = _ => "0.8,0.1,0.1",
        };
        var seed = new Option<int>("--seed") { Description = "Seed for the split and the trainers: same seed, same result.", DefaultValueFactory = _ => 42 };
        var minPerClass = new Option<int>("--min-per-class") { Description = "Fewest usable images a class may have.", DefaultValueFactory = _ => 2 };
        var embedding = new Option<string?>("--embedding") { Description = "Tensor to cut the backbone at (see mlnet-transfer inspect). Default: the backbone's known embedding, else the best candidate found." };
        var iterations = new Option<int?>("--iterations") { Description = "Trainer iteration cap. Default: sdca 100 passes, lbfgs 200 iterations, svm 50 epochs." };
        var l2 = new Option<float?>("--l2") { Description = "L2 regularisation weight. Default: each trainer's own." };
        var normalize = new Option<string>("--normalize")
        {
            Description = "Embedding scaling before the head: meanvar (each dimension to mean 0, variance 1), l2 (each embedding to unit length), none.",
            DefaultValueFactory = _ => "meanvar",
        };
        normalize.AcceptOnlyFromAmong("meanvar", "l2", "none");
        var mirrors = new Option<string[]>("--mirror")
        {
            Description = "Folder holding backbone files (an offline mirror), searched before any download; repeatable. MLNET_TRANSFER_MIRRORS adds more (':'-separated).",
            AllowMultipleArgumentsPerToken = false,
        };
        var cacheDir = new Option<string?>("--cache-dir") { Description = $"Embedding cache folder. Default {Featurization.EmbeddingCache.DefaultDirectory}." };
        var noCache = new Option<bool>("--no-cache") { Description = "Do not read or write the embedding cache." };
        var threads = new Option<int>("--threads") { Description = "Images featurized at once (decode overlaps inference).", DefaultValueFactory = _ => Environment.ProcessorCount };

        var command = new Command("train", "Train an image classifier: featurize every image once with the pretrained backbone (cached), train a head, evaluate on the held-out split, save one model zip and a JSON report.")
        {
            data, backbone, strategy, trainer, output, report, split, seed, minPerClass, embedding, iterations, l2, normalize, mirrors, cacheDir, noCache, threads,
        };
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            var fractions = ParseSplit(parse.GetValue(split)!);
            var options = new TransferLearningOptions
            {
                DataPath = parse.GetValue(data)!,
                Backbone = parse.GetValue(backbone)!,
                Strategy = parse.GetValue(strategy)!,
                EmbeddingTensor = parse.GetValue(embedding),
                Seed = parse.GetValue(seed),
                Mirrors = parse.GetValue(mirrors)?.ToList() ?? [],
            };
            options.Dataset.TrainFraction = fractions[0];
            options.Dataset.ValidationFraction = fractions[1];
            options.Dataset.TestFraction = fractions[2];
            options.Dataset.Seed = options.Seed;
            options.Dataset.MinImagesPerClass = parse.GetValue(minPerClass);
            options.Head.Trainer = HeadOptions.Parse(parse.GetValue(trainer)!);
            options.Head.MaximumIterations = parse.GetValue(iterations);
            options.Head.L2Regularization = parse.GetValue(l2);
            options.Head.Normalization = HeadOptions.ParseNormalization(parse.GetValue(normalize)!);
            options.Featurizer.DegreeOfParallelism = Math.Max(1, parse.GetValue(threads));
            options.Featurizer.CacheDirectory = parse.GetValue(noCache) ? null : parse.GetValue(cacheDir) ?? options.Featurizer.CacheDirectory;

            var modelPath = parse.GetValue(output)!;
            var reportPath = parse.GetValue(report) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, "report.json");
            return Train(options, modelPath, reportPath, cancel);
        }));
        return command;
    }

    internal static int Train(TransferLearningOptions options, string modelPath, string reportPath, CancellationToken cancel)
    {
        var ml = new MLContext(options.Seed);
        var result = Cli.WithProgress(progress => ml.TransferLearning().Train(options, progress, cancel));
        cancel.ThrowIfCancellationRequested();
        result.Save(modelPath, reportPath);
        ReportPrinter.Print(result.Report);
        AnsiConsole.MarkupLine($"Model:  [green]{Markup.Escape(Path.GetFullPath(modelPath))}[/]");
        AnsiConsole.MarkupLine($"Report: [green]{Markup.Escape(Path.GetFullPath(reportPath))}[/]");
        return 0;
    }

    internal static double[] ParseSplit(string text)
    {
        var parts = text.Split([',', '/'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 2 or > 3)
            throw new MlNetTransferException($"--split '{text}': give train,validation[,test] fractions, e.g. 0.8,0.1,0.1.");
        var values = new double[3];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || values[i] < 0)
                throw new MlNetTransferException($"--split '{text}': '{parts[i]}' is not a non-negative number.");
        }
        var sum = values.Sum();
        if (sum > 1.5) values = values.Select(v => v / 100).ToArray(); // 80/10/10 given as percentages
        if (Math.Abs(values.Sum() - 1) > 1e-6)
            throw new MlNetTransferException($"--split '{text}': the fractions add up to {values.Sum():0.###}, not 1.");
        return values;
    }
}
