using Microsoft.ML;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The fine-tune and chain-thaw strategies through the facade and the command line.</summary>
public sealed class FineTuneStrategyTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private string BackboneFile() => data.BackboneFile("cnn");

    private TransferLearningOptions Options(string strategy)
    {
        var options = new TransferLearningOptions
        {
            DataPath = data.DataDir,
            Backbone = BackboneFile(),
            Strategy = strategy,
            Seed = 4,
            FineTune = FineTuneFixture.Options(epochs: 3),
            Featurizer = { CacheDirectory = null, DegreeOfParallelism = 2 },
        };
        return options.WithSixtyTwentyTwenty();
    }

    [Fact]
    public void FineTuneStrategyReportsItsLearningCurveAndSavesAModelThatPredictsAlone()
    {
        var result = new MLContext(1).TransferLearning().Train(Options(TransferLearningOptions.FineTuneStrategy));
        var report = result.Report;
        Assert.Equal("fine-tune", report.Strategy);
        Assert.Equal("test", report.EvaluatedOn);
        Assert.True(report.Metrics.Accuracy >= 0.6, $"accuracy {report.Metrics.Accuracy}");
        Assert.NotNull(report.FineTune);
        Assert.Equal("fine-tune", report.FineTune!.Method);
        Assert.Equal(3, report.LearningCurve.Count);
        Assert.All(report.LearningCurve, e => Assert.True(e.Seconds > 0 && double.IsFinite(e.TrainLoss) && double.IsFinite(e.ValidationLoss)));
        Assert.Single(report.LearningCurve, e => e.Best);
        Assert.Equal(6, report.FineTune.PretrainedLayers);
        Assert.Equal(SyntheticClasses, result.Metadata.Classes);
        Assert.Equal("fine-tune", result.Metadata.Kind);

        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        result.Save(zip, dir.Combine("report.json"));
        var roundTrip = TrainingReport.Load(dir.Combine("report.json"));
        Assert.Equal(report.LearningCurve.Select(e => e.ValidationAccuracy), roundTrip.LearningCurve.Select(e => e.ValidationAccuracy));

        var classifier = ImageClassifier.Load(new MLContext(9), zip);
        var images = Directory.GetFiles(data.DataDir, "*.*", SearchOption.AllDirectories).Order().Take(6).ToList();
        var fromZip = classifier.PredictBatch(images);
        var inProcess = result.ToClassifier().PredictBatch(images);
        Assert.Equal(inProcess.Select(p => p.Label), fromZip.Select(p => p.Label));
        for (int i = 0; i < images.Count; i++)
            Assert.Equal(inProcess[i].Scores.Select(s => s.Value), fromZip[i].Scores.Select(s => s.Value));
        Assert.All(fromZip, p => Assert.Contains(p.Label, SyntheticClasses));
    }

    private static IReadOnlyList<string> SyntheticClasses => MlNetTransfer.Data.SyntheticImageDataset.Classes;

    [Fact]
    public void ChainThawStrategyRunsItsPhases()
    {
        var options = Options(TransferLearningOptions.ChainThawStrategy);
        options.FineTune.Epoch = 1;
        options.FineTune.HeadWarmupEpochs = 1;
        options.FineTune.ChainThaw = new MlNetTransfer.FineTuning.ChainThawOptions { Blocks = 2 };
        var report = new MLContext(1).TransferLearning().Train(options).Report;
        Assert.Equal("chain-thaw", report.FineTune!.Method);
        Assert.Equal(["head", "block 1/2", "block 2/2", "all"], report.FineTune.Phases.Select(p => p.Name));
        Assert.Equal(["head", "block 1/2", "block 2/2", "all"], report.LearningCurve.Select(e => e.Phase));
    }

    [Fact]
    public void CancellingAFineTuningRunReturnsTheBestEpochSoFar()
    {
        using var cancel = new CancellationTokenSource();
        var options = Options(TransferLearningOptions.FineTuneStrategy);
        options.FineTune.Epoch = 20;
        var progress = new InlineProgress<TrainingProgress>(p =>
        {
            // Batch 1 of epoch 3 done: stop there.
            if (p.Stage == TrainingProgress.FineTuning && p.Total > 0 && p.Done > 2 * p.Total / 20) cancel.Cancel();
        });
        var result = new MLContext(1).TransferLearning().Train(options, progress, cancel.Token);
        Assert.True(result.Report.FineTune!.Cancelled);
        Assert.Equal(2, result.Report.LearningCurve.Count);
        Assert.InRange(result.Report.FineTune.BestEpoch, 1, 2);
        using var dir = new TempDirectory();
        result.Save(dir.Combine("model.zip"));
        Assert.NotEmpty(ImageClassifier.Load(new MLContext(2), dir.Combine("model.zip")).PredictBatch([data.Validation[0].Path]));
    }

    [Fact]
    public void CommandLineFineTunes()
    {
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        var run = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune",
            "--head-init", "probe", "--freeze", "0.5", "--epochs", "2", "--lr", "0.01", "--batch-size", "8", "--no-augment", "--patience", "0", "--seed", "3",
            "--split", "0.6,0.2,0.2", "--no-cache", "--out", zip);
        Assert.True(run.ExitCode == 0, run.All);
        Assert.True(File.Exists(zip));
        var report = TrainingReport.Load(dir.Combine("report.json"));
        Assert.Equal("fine-tune", report.Strategy);
        // The head starts as a linear probe (its own epoch), then the 2 fine-tuning epochs.
        Assert.Equal(["head", "fine-tune", "fine-tune"], report.LearningCurve.Select(e => e.Phase));
        Assert.Equal("linear probe (Sdca, MeanVariance)", report.FineTune!.HeadInitialization);
        // No --l2 given: the probe's regularisation was cross-validated like the feature extractor's head (--head-cv 5).
        Assert.True(report.FineTune.ProbeCrossValidation is { Folds: >= 2, Grid.Count: > 1 }, "the probe's cross-validation is in the report");
        Assert.Equal(0.5, report.FineTune.FreezeFraction);
        Assert.False(report.FineTune.Augmentation);
        Assert.Equal("off", report.FineTune.AugmentationSettings);
        Assert.Equal("off", report.FineTune.EarlyStopping);
        Assert.Equal(3, report.FineTune.BottleneckCachedEpochs);
        Assert.Contains("learning curve", run.StdOut);

        var bad = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune", "--freeze", "1.5", "--out", zip);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("FreezeFraction", bad.All);

        // An SVM is not a softmax layer: it cannot start fine-tuning as a probe, and says what to use instead.
        var svm = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune", "--head-init", "probe", "--trainer", "svm", "--out", zip);
        Assert.Equal(1, svm.ExitCode);
        Assert.Contains("sdca or lbfgs", svm.All);

        var random = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune",
            "--head-epochs", "0", "--epochs", "1", "--batch-size", "8", "--crop-min-area", "0.8", "--no-flip", "--color-jitter", "0.1",
            "--patience", "2", "--monitor", "loss", "--split", "0.6,0.2,0.2", "--no-cache", "--out", zip);
        Assert.True(random.ExitCode == 0, random.All);
        report = TrainingReport.Load(dir.Combine("report.json"));
        Assert.Equal("random", report.FineTune!.HeadInitialization);
        Assert.Equal(["fine-tune"], report.LearningCurve.Select(e => e.Phase));
        // The augmentation flags reach the training run: a milder crop, no flip, a lighter jitter.
        Assert.True(report.FineTune.Augmentation);
        Assert.Equal("random resized crop (area 0.8-1, aspect 1/1.33-1.33), colour jitter (brightness 0.1, contrast 0.1, saturation 0.1)",
            report.FineTune.AugmentationSettings);
        Assert.Contains("augmentation: random resized crop (area 0.8-1", random.StdOut);
        Assert.StartsWith("Loss, patience 2", report.FineTune.EarlyStopping);
        // Augmented images through a frozen prefix: ONNX Runtime runs it unless told otherwise.
        Assert.Equal(["onnxruntime"], report.LearningCurve.Select(e => e.FrozenPrefix));
        // Channels-last order, unless this machine's channels-last kernels failed the check (then NCHW, and the report says why).
        Assert.Equal(report.FineTune.ChannelsLastFallback is null, report.FineTune.ChannelsLast);
        Assert.Null(report.FineTune.ChannelsLastFallback); // plain 3x3 convolutions: they pass here

        var libtorchPrefix = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune",
            "--head-epochs", "0", "--epochs", "1", "--batch-size", "8", "--prefix-engine", "torchsharp", "--decoded-cache-mb", "0",
            "--patience", "0", "--split", "0.6,0.2,0.2", "--no-cache", "--out", zip);
        Assert.True(libtorchPrefix.ExitCode == 0, libtorchPrefix.All);
        Assert.Equal(["torchsharp"], TrainingReport.Load(dir.Combine("report.json")).LearningCurve.Select(e => e.FrozenPrefix));

        // The int8 prefix asked of a float backbone: the float network runs the prefix, and the report says why.
        var int8Prefix = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune",
            "--head-epochs", "0", "--epochs", "1", "--batch-size", "8", "--prefix-engine", "onnxruntime-int8",
            "--patience", "0", "--split", "0.6,0.2,0.2", "--no-cache", "--out", zip);
        Assert.True(int8Prefix.ExitCode == 0, int8Prefix.All);
        report = TrainingReport.Load(dir.Combine("report.json"));
        Assert.Equal(["onnxruntime"], report.LearningCurve.Select(e => e.FrozenPrefix));
        Assert.Equal("onnxruntime-int8", report.FineTune!.FrozenPrefixEngine);
        Assert.False(report.FineTune.SavedInt8Prefix);
        Assert.Contains("not the dequantized twin of an int8 backbone", report.FineTune.Int8PrefixFallback);
        var badEngine = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune", "--prefix-engine", "int4", "--out", zip);
        Assert.NotEqual(0, badEngine.ExitCode);
        Assert.Contains("onnxruntime-int8", badEngine.All);

        var badCache = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune", "--decoded-cache-mb", "-1", "--out", zip);
        Assert.Equal(1, badCache.ExitCode);
        Assert.Contains("DecodedImageCacheMegabytes", badCache.All);

        var badMonitor = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune", "--monitor", "f1", "--out", zip);
        Assert.NotEqual(0, badMonitor.ExitCode);
        Assert.Contains("accuracy", badMonitor.All);

        var badCrop = CliRunner.Run(dir.Path, "train", "--data", data.DataDir, "--backbone", BackboneFile(), "--strategy", "fine-tune", "--crop-min-area", "0", "--out", zip);
        Assert.Equal(1, badCrop.ExitCode);
        Assert.Contains("MinCropArea", badCrop.All);
    }
}
