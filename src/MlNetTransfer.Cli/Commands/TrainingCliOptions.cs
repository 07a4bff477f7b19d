using System.CommandLine;
using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Cli.Commands;

/// <summary>The options <c>train</c> and <c>experiment</c> share, defined once (name, description, default) and read into
/// <see cref="TransferLearningOptions"/> once; each command adds its own on top.</summary>
internal sealed class TrainingCliOptions
{
    private static readonly FineTuneOptions FineTuneDefaults = new();

    public Option<string> Data { get; } = new("--data", "-d")
    {
        Description = "Image folder with one sub-folder per class (or train/ val/ [test/] folders of those), or a CSV/TSV manifest of path,label rows (paths relative to the manifest).",
        Required = true,
    };

    public Option<string> Backbone { get; } = new("--backbone", "-b")
    {
        Description = "Pretrained network: a catalog name (mlnet-transfer backbones list), a path to an .onnx file (an optional NAME.backbone.json beside it gives its preprocessing), a TF.js model.json, or 'synthetic-cnn' (generated, random weights; for demos). train also takes 'auto': compare the --backbones (as `backbones compare` does) and train with the one of highest cross-validated accuracy within --max-latency-ms and --max-model-mb.",
        DefaultValueFactory = _ => new TransferLearningOptions().Backbone,
    };

    public Option<string> Budget { get; } = new("--budget")
    {
        Description = "Wall-time budget for the whole run, e.g. 90s, 10m, 1h30m (a plain number is seconds). train: used by --strategy auto; experiment: rows that no longer fit are skipped and say so.",
        DefaultValueFactory = _ => "10m",
    };

    public Option<string> Split { get; } = new("--split")
    {
        Description = "Train/validation/test fractions for a folder that is not already split, e.g. 0.8,0.1,0.1 (test may be 0).",
        DefaultValueFactory = _ => "0.8,0.1,0.1",
    };

    public Option<int> Seed { get; } = new("--seed")
    {
        Description = "Seed for the split, the trainers and any weights drawn at random (experiment's from-scratch network): same seed, same result.",
        DefaultValueFactory = _ => 42,
    };

    public Option<string[]> Mirrors { get; } = new("--mirror")
    {
        Description = "Folder holding backbone files (an offline mirror), searched before any download; repeatable. MLNET_TRANSFER_MIRRORS adds more (':'-separated).",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<int> Epochs { get; } = new("--epochs")
    {
        Description = "fine-tune/chain-thaw (and each fine-tuning row of experiment): most passes over the training images (chain-thaw: of its final phase). Auto plans over --max-epochs instead.",
        DefaultValueFactory = _ => FineTuneDefaults.Epoch,
    };

    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "fine-tune/chain-thaw: images per step.", DefaultValueFactory = _ => FineTuneDefaults.BatchSize };

    public Option<float> LearningRate { get; } = new("--lr")
    {
        Description = "fine-tune/chain-thaw: peak learning rate of the new head while layers train; pretrained layers get --pretrained-lr-factor of it " +
                      "(experiment: always 0.1 of it, and all of it for the network trained from scratch).",
        DefaultValueFactory = _ => FineTuneDefaults.LearningRate,
    };

    public Option<bool> NoAugment { get; } = new("--no-augment") { Description = "fine-tune/chain-thaw: train on the plain resized images (lets a frozen prefix be computed once)." };

    public Option<int> Patience { get; } = new("--patience")
    {
        Description = "fine-tune/chain-thaw: stop a phase after this many epochs without beating the phase's own best on --monitor (a phase that thaws layers may start below the head it began from), keeping the run's best epoch; 0 turns early stopping off (the latest epoch is kept).",
        DefaultValueFactory = _ => FineTuneDefaults.EarlyStoppingCriteria!.Patience,
    };

    public Option<string> Monitor { get; } = new("--monitor")
    {
        Description = "fine-tune/chain-thaw: what picks a run's kept epoch and counts --patience: accuracy (validation accuracy, ties to the lower loss, " +
                      "the leaderboard's own rule) or loss (validation cross-entropy).",
        DefaultValueFactory = _ => FineTuneDefaults.EarlyStoppingCriteria!.Metric.ToString().ToLowerInvariant(),
    };

    public Option<bool> NoCache { get; } = new("--no-cache") { Description = "Do not read or write the embedding cache." };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "Images featurized at once (decode overlaps inference); fine-tuning: libtorch's and ONNX Runtime's threads per step, and images decoded at once.",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    public Option<string> ClassWeights { get; } = new("--class-weights")
    {
        Description = "auto: when the largest training class has >= 1.5x the images of the smallest, weigh each class n/(C*n_c) in the " +
                      "fine-tuning loss and as the heads' example weights, and rank candidates (auto's, experiment's rows) by macro-F1 (report.json classBalance); " +
                      "off: every image weighs the same, candidates rank by accuracy.",
        DefaultValueFactory = _ => "auto",
    };

    public Option<int> TopLosses { get; } = new("--top-losses")
    {
        Description = "report.html's mistakes section: how many held-out images of highest loss to show, each with a Grad-CAM heat map of its predicted " +
                      "class, beside a gallery of correct images per class; 0 leaves the section out.",
        DefaultValueFactory = _ => new Reporting.MistakesOptions().TopLosses,
    };

    /// <summary>The mistakes section for report.html (null with --top-losses 0 or no held-out images), with a progress bar.</summary>
    public Reporting.MistakesReport? Mistakes(ParseResult parse, TransferLearningResult result, CancellationToken cancel)
    {
        var top = parse.GetValue(TopLosses);
        if (top < 0) throw new MlNetTransferException($"--top-losses {top}: give 0 or more images.");
        if (top == 0) return null;
        var mistakes = Cli.WithProgress(progress => result.Mistakes(new Reporting.MistakesOptions { TopLosses = top }, progress, cancel));
        if (mistakes is not null)
            Spectre.Console.AnsiConsole.MarkupLine(Spectre.Console.Markup.Escape(
                $"Mistakes section: {mistakes.TopLosses.Count} top-loss {mistakes.Split} images " +
                (mistakes.HeatMapLayer is { } layer ? $"with Grad-CAM heat maps of '{layer}'" : $"without heat maps ({mistakes.HeatMapNote})") +
                $", {mistakes.Gallery.Sum(g => g.Examples.Count)} correct examples, {mistakes.Seconds:0.0} s"));
        return mistakes;
    }

    /// <summary><c>--head-init</c>: random (default) or probe; <paramref name="probeOptions"/> names the options the probe follows.</summary>
    public Option<string> HeadInit { get; }

    public TrainingCliOptions(string probeOptions)
    {
        HeadInit = new Option<string>("--head-init")
        {
            Description = "fine-tune/chain-thaw: how the new head starts. random (default): random weights, trained alone first for the head warm-up epochs (train: --head-epochs, default 20); probe: fitted on the frozen network's embeddings exactly as the feature extractor's head " +
                          $"({probeOptions}), then the layers fine-tune from there (LP-FT; best with a low --lr on data close to the backbone's).",
            DefaultValueFactory = _ => "random",
        };
        HeadInit.AcceptOnlyFromAmong("random", "probe");
        ClassWeights.AcceptOnlyFromAmong("auto", "off");
        Monitor.AcceptOnlyFromAmong("accuracy", "loss");
    }

    public IEnumerable<Option> All => [Data, Backbone, Budget, Split, Seed, Mirrors, Epochs, BatchSize, LearningRate, HeadInit, NoAugment, Patience, Monitor, NoCache, Threads, ClassWeights, TopLosses];

    /// <summary>The run options these set; <see cref="FineTuneOptions.LinearProbe"/> is the command's to set from <see cref="ProbeWanted"/>.</summary>
    public TransferLearningOptions Read(ParseResult parse)
    {
        var fractions = TrainCommand.ParseSplit(parse.GetValue(Split)!);
        var options = new TransferLearningOptions
        {
            DataPath = parse.GetValue(Data)!,
            Backbone = parse.GetValue(Backbone)!,
            Seed = parse.GetValue(Seed),
            Mirrors = parse.GetValue(Mirrors)?.ToList() ?? [],
            Budget = Strategy.TrainingBudget.Parse(parse.GetValue(Budget)!),
            ClassWeights = MlNetTransfer.Data.ClassBalance.Parse(parse.GetValue(ClassWeights)!),
        };
        options.Dataset.TrainFraction = fractions[0];
        options.Dataset.ValidationFraction = fractions[1];
        options.Dataset.TestFraction = fractions[2];
        options.Dataset.Seed = options.Seed;
        options.Featurizer.DegreeOfParallelism = Math.Max(1, parse.GetValue(Threads));
        if (parse.GetValue(NoCache)) options.Featurizer.CacheDirectory = null;
        var fineTune = options.FineTune;
        fineTune.Epoch = parse.GetValue(Epochs);
        fineTune.BatchSize = parse.GetValue(BatchSize);
        fineTune.LearningRate = parse.GetValue(LearningRate);
        fineTune.Augmentation.Enabled = !parse.GetValue(NoAugment);
        fineTune.EarlyStoppingCriteria = parse.GetValue(Patience) > 0 ? new EarlyStopping
        {
            Patience = parse.GetValue(Patience),
            Metric = Enum.Parse<EarlyStoppingMetric>(parse.GetValue(Monitor)!, ignoreCase: true),
        } : null;
        fineTune.DecodeParallelism = options.Featurizer.DegreeOfParallelism;
        fineTune.NumberOfThreads = options.Featurizer.DegreeOfParallelism;
        return options;
    }

    public bool ProbeWanted(ParseResult parse) => parse.GetValue(HeadInit) == "probe";
}
