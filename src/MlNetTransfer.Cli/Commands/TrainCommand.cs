using System.CommandLine;
using System.Globalization;
using Microsoft.ML;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create()
    {
        var shared = new TrainingCliOptions("--trainer sdca or lbfgs, --l2 or else --head-cv, --iterations, --normalize meanvar or none");
        shared.Data.Required = false; // train also takes --embeddings instead (checked below)
        var embeddings = new Option<string?>("--embeddings")
        {
            Description = "Instead of --data: a folder of Parquet shards written by 'mlnet-transfer featurize' (every shard of the run); trains on them without opening an image, same split. " +
                          "feature-extractor: the head; auto: its head candidates, ranked as usual (fine-tuning and the pixel side of the domain similarity need the images: " +
                          "the report says what was left out). --backbone defaults to the one the shards name, and must match their SHA-256: the model still predicts from images.",
        };
        var strategy = new Option<string>("--strategy", "-s")
        {
            Description = "How much of the pretrained network to reuse. feature-extractor: freeze it, learn a new head on its embeddings. " +
                          "fine-tune: retrain the top of the network (--freeze) with a new head on TorchSharp. chain-thaw: train the new head, then each block of layers alone, then everything. " +
                          "auto: measure dataset size and domain similarity, choose the scenario, try heads and fine-tuning depths in its order within --budget, keep the best on validation.",
            DefaultValueFactory = _ => TransferLearningOptions.FeatureExtractor,
        };
        strategy.AcceptOnlyFromAmong([.. TransferLearningOptions.Strategies]);
        var trainer = new Option<string>("--trainer", "-t")
        {
            Description = "Head trained on the embeddings: sdca (SdcaMaximumEntropy), lbfgs (LbfgsMaximumEntropy), svm (one-vs-all LinearSvm, Platt-calibrated), lightgbm (gradient-boosted trees: 8 leaves, >= 10 rows a leaf, 100 rounds at rate 0.1; --head-cv tunes its leaf L2).",
            DefaultValueFactory = _ => "sdca",
        };
        trainer.AcceptOnlyFromAmong([.. HeadOptions.TrainerNames]);
        var autoDefaults = new Strategy.AutoSearchOptions();
        var heads = new Option<string>("--heads")
        {
            Description = "auto: the heads tried on the cached embeddings, comma-separated, in order (" + string.Join(", ", HeadOptions.TrainerNames) +
                          "); each searches its regularisation within --head-share when fine-tuning follows. Leaving out a dear one (lightgbm) leaves its seconds to fine-tuning.",
            DefaultValueFactory = _ => string.Join(",", autoDefaults.Heads.Select(h => h.ToString().ToLowerInvariant())),
        };
        var halvingRate = new Option<int>("--halving-rate")
        {
            Description = "auto: successive halving over the fine-tuning candidates keeps the best 1/N of each rung, and gives them N times the epochs they had.",
            DefaultValueFactory = _ => autoDefaults.HalvingRate,
        };
        var rungEpochs = new Option<int>("--rung-epochs")
        {
            Description = "auto: fine-tuning epochs every candidate gets in the first rung (the head's warm-up or probe comes on top).",
            DefaultValueFactory = _ => autoDefaults.RungEpochs,
        };
        var finalEpochs = new Option<int>("--final-epochs")
        {
            Description = "auto: fine-tuning epochs the last candidate left gets at least; fewer candidates enter rung 1 (and fewer go on after a rung) when, at the epoch time measured so far, the budget could not give it these (capped by --max-epochs).",
            DefaultValueFactory = _ => autoDefaults.MinimumFinalEpochs,
        };
        var maxEpochs = new Option<int>("--max-epochs")
        {
            Description = "auto: the most fine-tuning epochs a candidate's schedule is planned over; the last one left trains to what the budget fits, up to this (auto does not use --epochs).",
            DefaultValueFactory = _ => autoDefaults.MaximumEpochs,
        };
        var headShare = new Option<double>("--head-share")
        {
            Description = "auto: share of the budget left after featurizing that the heads (their regularisation searches included) may take together when fine-tuning candidates follow; the rest is kept for fine-tuning.",
            DefaultValueFactory = _ => autoDefaults.HeadShare,
        };
        var freezeDepths = new Option<int>("--freeze-depths")
        {
            Description = "auto: freeze depths tried, the scenario's and its nearest neighbours.",
            DefaultValueFactory = _ => autoDefaults.FreezeDepths,
        };
        var lrGrid = new Option<string>("--lr-grid")
        {
            Description = "auto: the learning rates tried, as factors of --lr, comma-separated; factors below 1 go to probe starts only (e.g. 1,0.3 adds LP-FT's gentler step, which rung 1 tends to overrate after one epoch).",
            DefaultValueFactory = _ => string.Join(",", autoDefaults.LearningRateFactors.Select(f => f.ToString(CultureInfo.InvariantCulture))),
        };
        var headStart = new Option<string>("--head-start")
        {
            Description = "auto: how fine-tuning candidates' heads start. auto: from the data (probe where the frozen head scores at least --strong-head on validation " +
                          "and the domain is similar, random with warm-up where the domain is not, both for a similar domain with a weaker head; a start left out gets the budget the chosen one's runs leave unspent); probe, random or both fix it.",
            DefaultValueFactory = _ => "auto",
        };
        headStart.AcceptOnlyFromAmong("auto", "probe", "random", "both");
        var strongHead = new Option<double>("--strong-head")
        {
            Description = "auto: the frozen head's validation accuracy from which --head-start auto counts the frozen features as strong.",
            DefaultValueFactory = _ => autoDefaults.StrongHeadAccuracy,
        };
        var output = new Option<string>("--out", "-o") { Description = "Where to save the model zip.", DefaultValueFactory = _ => "model.zip" };
        var report = new Option<string?>("--report", "-r") { Description = "Where to write the JSON report. Default: report.json beside the model." };
        var minPerClass = new Option<int>("--min-per-class") { Description = "Fewest usable images a class may have.", DefaultValueFactory = _ => 2 };
        var embedding = new Option<string?>("--embedding") { Description = "Tensor to cut the backbone at (see mlnet-transfer inspect). Default: the backbone's known embedding, else the best candidate found." };
        var iterations = new Option<int?>("--iterations") { Description = "Trainer iteration cap. Default: sdca 100 passes, lbfgs 200 iterations, svm 50 epochs." };
        var l2 = new Option<float?>("--l2") { Description = "L2 regularisation weight (svm: lambda). Default: chosen by --head-cv (on by default), else each trainer's own." };
        var l1 = new Option<float?>("--l1") { Description = "L1 regularisation weight (sdca, lbfgs). Default: chosen by --head-cv (on by default), else each trainer's own." };
        var headCv = new Option<int>("--head-cv")
        {
            Description = "Folds of the stratified cross-validation on the training embeddings that picks the head's L2 (then L1) from a grid " +
                          "around the trainer's default (highest mean accuracy; ties to the stronger regularisation), when --l2 and --l1 are not given; the report's " +
                          "trainer.crossValidation has every value's score. 0 = the trainer's defaults. Costs (1 + grid) x K head fits on the cached embeddings, " +
                          "in parallel: 3-11 times one head fit. Under --strategy auto the heads share --head-share of the budget when fine-tuning follows.",
            DefaultValueFactory = _ => new HeadOptions().CrossValidationFolds,
        };
        var normalize = new Option<string>("--normalize")
        {
            Description = "Embedding scaling before the head: meanvar (each dimension to mean 0, variance 1), l2 (each embedding to unit length), none.",
            DefaultValueFactory = _ => "meanvar",
        };
        normalize.AcceptOnlyFromAmong("meanvar", "l2", "none");
        var cacheDir = new Option<string?>("--cache-dir") { Description = $"Embedding cache folder. Default {Featurization.EmbeddingCache.DefaultDirectory}." };
        var defaults = new FineTuneOptions();
        var freeze = new Option<double>("--freeze")
        {
            Description = "fine-tune: fraction of the pretrained layers kept frozen, input side first (0 trains everything, 1 only the new head).",
            DefaultValueFactory = _ => defaults.FreezeFraction,
        };
        var trainFrom = new Option<string?>("--train-from") { Description = "fine-tune: freeze by name instead: the first layer (ONNX node) that trains." };
        var headEpochs = new Option<int>("--head-epochs") { Description = "fine-tune/chain-thaw with --head-init random: epochs training the new head alone first, on plain images (cheap: the frozen network runs once).", DefaultValueFactory = _ => defaults.HeadWarmupEpochs };
        var headLr = new Option<float>("--head-lr") { Description = "fine-tune/chain-thaw with --head-init random: peak learning rate of the head-only warm-up.", DefaultValueFactory = _ => defaults.HeadWarmupLearningRate };
        var layerRate = new Option<float>("--pretrained-lr-factor") { Description = "fine-tune/chain-thaw: pretrained layers learn at --lr times this (discriminative rates; 1 = the head's rate).", DefaultValueFactory = _ => defaults.PretrainedLearningRateFactor };
        var smoothing = new Option<float>("--label-smoothing") { Description = "fine-tune/chain-thaw: label smoothing of the training loss (0 = plain cross-entropy).", DefaultValueFactory = _ => defaults.LabelSmoothing };
        var headDropout = new Option<float>("--head-dropout") { Description = "fine-tune/chain-thaw: dropout on the embedding in front of the new head while training.", DefaultValueFactory = _ => defaults.HeadDropout };
        var augment = new Option<bool>("--augment") { Description = "fine-tune/chain-thaw: random crop, flip and colour jitter on training images (the default).", DefaultValueFactory = _ => true };
        var cropArea = new Option<float>("--crop-min-area") { Description = "fine-tune/chain-thaw/auto augmentation: the random crop keeps at least this fraction of the image's area (1 = no crop; raise it when the object fills the frame). Auto's fine-tuning candidates, whose schedules are short, use " + FormattableString.Invariant($"{autoDefaults.MinCropArea:0.##}") + " unless this is given.", DefaultValueFactory = _ => defaults.Augmentation.MinCropArea };
        var noFlip = new Option<bool>("--no-flip") { Description = "fine-tune/chain-thaw augmentation: no left-right mirroring (text, digits, anything handed)." };
        var jitter = new Option<float>("--color-jitter") { Description = "fine-tune/chain-thaw augmentation: brightness, contrast and saturation factors drawn from [1-x, 1+x] (0 = none).", DefaultValueFactory = _ => defaults.Augmentation.Brightness };
        var patienceFrom = new Option<int>("--patience-from")
        {
            Description = "fine-tune/chain-thaw: epochs at the start of each phase that do not count toward --patience (a phase that thaws layers starts at its highest rate and validates worse at first).",
            DefaultValueFactory = _ => defaults.EarlyStoppingCriteria!.StartFromEpoch,
        };
        var optimizer = new Option<string>("--optimizer") { Description = "fine-tune/chain-thaw: adamw or sgd (with momentum 0.9).", DefaultValueFactory = _ => "adamw" };
        optimizer.AcceptOnlyFromAmong("adamw", "sgd");
        var schedule = new Option<string>("--schedule") { Description = "fine-tune/chain-thaw: learning-rate schedule: cosine (warm-up then cosine decay), onecycle, constant.", DefaultValueFactory = _ => "cosine" };
        schedule.AcceptOnlyFromAmong("cosine", "onecycle", "constant");
        var blocks = new Option<int>("--blocks") { Description = "chain-thaw: blocks of layers thawed one at a time.", DefaultValueFactory = _ => new ChainThawOptions().Blocks };
        var device = new Option<string>("--device") { Description = "fine-tune/chain-thaw: cpu, cuda or cuda:N (needs a CUDA build of libtorch).", DefaultValueFactory = _ => TorchDevices.Cpu };
        var prefixEngine = new Option<string>("--prefix-engine")
        {
            Description = "fine-tune/chain-thaw: what runs the frozen layers in front of the trained ones: onnxruntime-int8 (default; an int8 backbone's own int8 layers on ONNX Runtime, which the saved model then keeps, so prediction computes what training saw; a float backbone falls back to onnxruntime), onnxruntime (the float network on ONNX Runtime's inference kernels, same values as libtorch within float rounding) or torchsharp (libtorch, without gradients).",
            DefaultValueFactory = _ => defaults.FrozenPrefixEngine.Name(),
        };
        prefixEngine.AcceptOnlyFromAmong([.. FrozenPrefixEngines.Names]);
        var decodedCache = new Option<int>("--decoded-cache-mb")
        {
            Description = "fine-tune/chain-thaw: memory for training images kept decoded (shrunk to a little above the input size) so later epochs augment without decoding files again; 0 decodes and shrinks each image again for every view (the same views, slower).",
            DefaultValueFactory = _ => defaults.DecodedImageCacheMegabytes,
        };

        var command = new Command("train", "Train an image classifier: featurize every image once with the pretrained backbone (cached) and train a head, " +
                                           "or fine-tune the network itself (--strategy fine-tune / chain-thaw); evaluate on the held-out split, save one model zip and a JSON report.");
        // The shared options first, so --help lists --data and --backbone at the top.
        foreach (var option in shared.All.Concat<Option>([
            strategy, trainer, heads, halvingRate, rungEpochs, finalEpochs, maxEpochs, headShare, freezeDepths, lrGrid, headStart, strongHead, output, report, minPerClass, embedding, iterations, l2, l1, headCv, normalize, cacheDir,
            freeze, trainFrom, headEpochs, layerRate, headLr, smoothing, headDropout, augment, cropArea, noFlip, jitter, patienceFrom, optimizer, schedule, blocks, device,
            prefixEngine, decodedCache, embeddings,
        ]))
            command.Options.Add(option);
        var backboneChoice = BackboneChoiceOptions.AddTo(command);
        command.Validators.Add(r =>
        {
            if ((r.GetValue(shared.Data) is null) == (r.GetValue(embeddings) is null)) r.AddError("Give exactly one of --data (images) or --embeddings (featurized shards).");
        });
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            var options = shared.Read(parse);
            options.DataPath = parse.GetValue(shared.Data) ?? "";
            options.EmbeddingsPath = parse.GetValue(embeddings);
            // With --embeddings and no --backbone: the backbone the shards name.
            if (options.EmbeddingsPath is not null && parse.GetResult(shared.Backbone) is null or { Implicit: true }) options.Backbone = "";
            options.Strategy = parse.GetValue(strategy)!;
            options.EmbeddingTensor = parse.GetValue(embedding);
            options.Auto.Heads = ParseHeads(parse.GetValue(heads)!);
            options.Auto.HalvingRate = parse.GetValue(halvingRate);
            options.Auto.RungEpochs = parse.GetValue(rungEpochs);
            options.Auto.MinimumFinalEpochs = parse.GetValue(finalEpochs);
            options.Auto.MaximumEpochs = parse.GetValue(maxEpochs);
            options.Auto.FreezeDepths = parse.GetValue(freezeDepths);
            options.Auto.HeadShare = parse.GetValue(headShare);
            options.Auto.LearningRateFactors = ParseFactors(parse.GetValue(lrGrid)!);
            options.Auto.HeadStart = Enum.Parse<Strategy.HeadStartMode>(parse.GetValue(headStart)!, ignoreCase: true);
            options.Auto.StrongHeadAccuracy = parse.GetValue(strongHead);
            options.Dataset.MinImagesPerClass = parse.GetValue(minPerClass);
            options.Head.Trainer = HeadOptions.Parse(parse.GetValue(trainer)!);
            options.Head.MaximumIterations = parse.GetValue(iterations);
            options.Head.L2Regularization = parse.GetValue(l2);
            options.Head.L1Regularization = parse.GetValue(l1);
            options.Head.CrossValidationFolds = parse.GetValue(headCv);
            options.Head.Normalization = HeadOptions.ParseNormalization(parse.GetValue(normalize)!);
            if (parse.GetValue(cacheDir) is { } dir && options.Featurizer.CacheDirectory is not null) options.Featurizer.CacheDirectory = dir;
            backboneChoice.Apply(parse, options.BackboneChoice);
            if (backboneChoice.AnyGiven(parse) && !Backbones.BackboneComparison.IsAuto(options.Backbone))
                throw new MlNetTransferException("--backbones, --max-latency-ms and --max-model-mb choose the backbone: use them with --backbone auto.");

            var fineTune = options.FineTune;
            fineTune.FreezeFraction = parse.GetValue(freeze);
            fineTune.TrainFromNode = parse.GetValue(trainFrom);
            // The probe is the feature extractor's head (--trainer, --l2, --iterations, --normalize): fine-tuning starts where it ends.
            fineTune.LinearProbe = shared.ProbeWanted(parse) ? options.Head : null;
            fineTune.HeadWarmupEpochs = parse.GetValue(headEpochs);
            fineTune.HeadWarmupLearningRate = parse.GetValue(headLr);
            fineTune.PretrainedLearningRateFactor = parse.GetValue(layerRate);
            fineTune.LabelSmoothing = parse.GetValue(smoothing);
            fineTune.HeadDropout = parse.GetValue(headDropout);
            fineTune.Augmentation.Enabled &= parse.GetValue(augment);
            fineTune.Augmentation.MinCropArea = parse.GetValue(cropArea);
            // Auto's candidates have their own, milder default crop; one given on the command line is the user's for both.
            if (parse.GetResult(cropArea) is { Implicit: false }) options.Auto.MinCropArea = fineTune.Augmentation.MinCropArea;
            fineTune.Augmentation.HorizontalFlip = !parse.GetValue(noFlip);
            fineTune.Augmentation.Brightness = fineTune.Augmentation.Contrast = fineTune.Augmentation.Saturation = parse.GetValue(jitter);
            if (fineTune.EarlyStoppingCriteria is { } stopping) stopping.StartFromEpoch = parse.GetValue(patienceFrom);
            fineTune.Optimizer = parse.GetValue(optimizer) == "sgd" ? FineTuneOptimizer.Sgd : FineTuneOptimizer.AdamW;
            fineTune.Schedule = parse.GetValue(schedule) switch
            {
                "onecycle" => LearningRateSchedule.OneCycle,
                "constant" => LearningRateSchedule.Constant,
                _ => LearningRateSchedule.WarmupCosine,
            };
            fineTune.ChainThaw = new ChainThawOptions { Blocks = parse.GetValue(blocks) };
            fineTune.Device = parse.GetValue(device)!;
            fineTune.FrozenPrefixEngine = FrozenPrefixEngines.Parse(parse.GetValue(prefixEngine)!);
            fineTune.DecodedImageCacheMegabytes = parse.GetValue(decodedCache);

            var modelPath = parse.GetValue(output)!;
            var reportPath = parse.GetValue(report) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, "report.json");
            return Train(options, modelPath, reportPath, cancel, result => shared.Mistakes(parse, result, cancel));
        }));
        return command;
    }

    internal static int Train(TransferLearningOptions options, string modelPath, string reportPath, CancellationToken cancel,
        Func<TransferLearningResult, Reporting.MistakesReport?>? mistakes = null)
    {
        var ml = new MLContext(options.Seed);
        var result = Cli.WithProgress(progress => ml.TransferLearning().Train(options, progress, cancel));
        // A fine-tuning run cancelled by Ctrl-C comes back holding its best epoch so far: that one is saved.
        // So does a search (auto), holding its best candidate so far.
        if (result.Report.FineTune is null && result.Report.Leaderboard is null) cancel.ThrowIfCancellationRequested();
        result.Save(modelPath, reportPath);
        var htmlPath = Path.ChangeExtension(reportPath, ".html");
        Reporting.HtmlReport.Save(htmlPath, result.Report, Reporting.ExperimentDetails.From(result.Report) with { Mistakes = mistakes?.Invoke(result) });
        ReportPrinter.Print(result.Report);
        if (result.Report.BackboneComparison is { } compared) BackbonesCompareCommand.Print(compared);
        if (result.Report.FineTune is { Cancelled: true } ft)
            AnsiConsole.MarkupLine($"[yellow]Interrupted after {ft.EpochsRun} epoch(s); saved the best epoch so far (epoch {ft.BestEpoch}).[/]");
        AnsiConsole.MarkupLine($"Model:  [green]{Markup.Escape(Path.GetFullPath(modelPath))}[/]");
        AnsiConsole.MarkupLine($"Report: [green]{Markup.Escape(Path.GetFullPath(reportPath))}[/] and [green]{Markup.Escape(Path.GetFullPath(htmlPath))}[/]");
        return 0;
    }

    internal static List<HeadTrainer> ParseHeads(string text)
    {
        var heads = new List<HeadTrainer>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            HeadTrainer head;
            try { head = HeadOptions.Parse(part); }
            catch (MlNetTransferException) { throw new MlNetTransferException($"--heads '{text}': '{part}' is not a head; use {string.Join(", ", HeadOptions.TrainerNames)}."); }
            if (heads.Contains(head)) throw new MlNetTransferException($"--heads '{text}': '{part}' is given twice.");
            heads.Add(head);
        }
        if (heads.Count == 0) throw new MlNetTransferException($"--heads '{text}': give one or more of {string.Join(", ", HeadOptions.TrainerNames)}.");
        return heads;
    }

    internal static List<float> ParseFactors(string text)
    {
        var factors = new List<float>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!float.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) || !(f > 0) || !float.IsFinite(f))
                throw new MlNetTransferException($"--lr-grid '{text}': '{part}' is not a positive number; give factors of --lr, e.g. 1,0.3.");
            factors.Add(f);
        }
        if (factors.Count == 0) throw new MlNetTransferException($"--lr-grid '{text}': give one or more factors of --lr, e.g. 1,0.3.");
        return factors;
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
