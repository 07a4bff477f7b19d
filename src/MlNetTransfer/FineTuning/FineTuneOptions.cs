using Microsoft.ML;
using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Heads;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Options of <c>FineTuningTrainer</c> (package MlNetTransfer.FineTuning): retrain part or all of a pretrained network with a new head. Names follow
/// ML.NET's <c>ImageClassificationTrainer.Options</c> where the concept is the same (<see cref="Arch"/>, <see cref="Epoch"/>,
/// <see cref="BatchSize"/>, <see cref="LearningRate"/>, <see cref="EarlyStoppingCriteria"/>, <see cref="ValidationSet"/>,
/// <see cref="ValidationSetFraction"/>, <see cref="MetricsCallback"/>, the column names). Every property has a default, so
/// <c>new FineTuneOptions()</c> fine-tunes the top 30% of <c>mobilenet_v2</c>.
/// </summary>
public sealed class FineTuneOptions
{
    /// <summary>The pretrained network: a catalog name, an .onnx path or a TF.js model.json (as <c>--backbone</c>). Default <c>mobilenet_v2</c>.</summary>
    public string Arch { get; set; } = "mobilenet_v2";

    /// <summary>Tensor the new head is put on; null means the backbone's known embedding (or the inspector's best candidate).</summary>
    public string? EmbeddingTensor { get; set; }

    /// <summary>Folders searched for backbone files before any download. Default none.</summary>
    public IList<string> Mirrors { get; set; } = new List<string>();

    /// <summary>Input column of image file paths. Default <c>ImagePath</c>.</summary>
    public string ImagePathColumnName { get; set; } = "ImagePath";

    /// <summary>Label column (text, or a key with class names as key values). Default <c>Label</c>.</summary>
    public string LabelColumnName { get; set; } = "Label";

    /// <summary>Output column of class probabilities. Default <c>Score</c>.</summary>
    public string ScoreColumnName { get; set; } = "Score";

    /// <summary>Output column of the predicted class name. Default <c>PredictedLabel</c>.</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

    /// <summary>Maximum passes over the training images (of the last phase, for chain-thaw). Default 10.</summary>
    public int Epoch { get; set; } = 10;

    /// <summary>Images per optimizer step. Default 16.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>Peak learning rate of the head while pretrained layers train. Default 0.0003 (AdamW; about 10 times more with
    /// SGD): lower than the warm-up's, because once the head fits, large steps mostly undo what the pretrained layers know.</summary>
    public float LearningRate { get; set; } = 3e-4f;

    /// <summary>Discriminative rates: pretrained layers learn at <see cref="LearningRate"/> times this, so the features they
    /// already have change slowly while the head adapts faster. Default 0.1.</summary>
    public float PretrainedLearningRateFactor { get; set; } = 0.1f;

    /// <summary>Peak learning rate of the head-only warm-up (<see cref="HeadWarmupEpochs"/>, chain-thaw's head phase): a new
    /// head learns from scratch, so it gets a larger rate. Default 0.001 (AdamW).</summary>
    public float HeadWarmupLearningRate { get; set; } = 1e-3f;

    /// <summary>The optimizer. Default <see cref="FineTuneOptimizer.AdamW"/>.</summary>
    public FineTuneOptimizer Optimizer { get; set; } = FineTuneOptimizer.AdamW;

    /// <summary>SGD momentum (ignored by AdamW). Default 0.9.</summary>
    public float Momentum { get; set; } = 0.9f;

    /// <summary>Weight decay on weights (never on biases and normalisation parameters); null means the optimizer's usual:
    /// 0.01 for AdamW (decoupled), 0.0001 for SGD. Default null.</summary>
    public float? WeightDecay { get; set; }

    /// <summary>How the learning rate moves over each phase. Default <see cref="LearningRateSchedule.WarmupCosine"/>.</summary>
    public LearningRateSchedule Schedule { get; set; } = LearningRateSchedule.WarmupCosine;

    /// <summary>Fraction of a phase's steps spent warming up (<see cref="LearningRateSchedule.WarmupCosine"/>). Default 0.1.</summary>
    public float WarmupFraction { get; set; } = 0.1f;

    /// <summary>Dropout on the embedding in front of the new head while training (a regulariser: a few hundred images and a
    /// thousand-wide embedding overfit easily). Default 0.2.</summary>
    public float HeadDropout { get; set; } = 0.2f;

    /// <summary>Weight of each class (by name) in the training loss, as PyTorch's <c>cross_entropy(weight=...)</c>; classes not
    /// listed weigh 1. Default null: every image weighs the same. The facade sets it from <see cref="Data.ClassBalance"/>.</summary>
    public IReadOnlyDictionary<string, float>? ClassWeights { get; set; }

    /// <summary>Label smoothing of the training loss (0 = plain cross-entropy). Default 0.1.</summary>
    public float LabelSmoothing { get; set; } = 0.1f;

    /// <summary>Fraction of the pretrained layers (parameter groups, input side first) kept frozen: 0 trains everything,
    /// 1 only the new head. Ignored when <see cref="TrainFromNode"/> is set or with <see cref="ChainThaw"/>. Default 0.7.</summary>
    public double FreezeFraction { get; set; } = 0.7;

    /// <summary>Freeze by name instead of fraction: the ONNX node where training starts (it and every later layer train,
    /// earlier ones stay frozen). Default null.</summary>
    public string? TrainFromNode { get; set; }

    /// <summary>How the new head starts: a linear probe fitted to convergence by ML.NET's trainer on the frozen network's
    /// embeddings, with the same options as the feature extractor's head (linear probing, then fine-tuning: Kumar et al.
    /// 2022 — a head that already fits sends the pretrained layers useful gradients from the first step, instead of a random
    /// head's, which distort the features). The probe is the run's first epoch (phase <c>head</c>; chain-thaw's head phase),
    /// so with early stopping the fine-tuned model is never kept when it validates worse than the feature extractor would.
    /// Trainer sdca or lbfgs, normalisation meanvar or none (they fold into one linear layer). Null (default) starts from
    /// random weights trained for <see cref="HeadWarmupEpochs"/>. Measured (README): on hymenoptera the probe (0.974) is a
    /// better start than the warmed-up random head (0.948); on the Fashion-MNIST subset it is worse (0.812 against 0.846),
    /// so neither is the default for every data set, and the measured default stays.</summary>
    public HeadOptions? LinearProbe { get; set; }

    /// <summary>When <see cref="LinearProbe"/> is null: epochs of training the new head alone with the optimizer before any
    /// pretrained layer thaws (chain-thaw's first phase). These epochs see plain images, so the frozen network runs once over
    /// the training set and the epochs themselves cost next to nothing; early stopping may end them sooner. 0 skips the
    /// warm-up (not allowed with chain-thaw without a probe). Ignored with a probe. Default 20.</summary>
    public int HeadWarmupEpochs { get; set; } = 20;

    /// <summary>Chain-thaw instead of one phase at a fixed depth; null (default) fine-tunes once at <see cref="FreezeFraction"/>.</summary>
    public ChainThawOptions? ChainThaw { get; set; }

    /// <summary>Training-image augmentation. Default: random resized crop, horizontal flip, light colour jitter.</summary>
    public ImageAugmentation Augmentation { get; set; } = new();

    /// <summary>Early stopping on the validation set, restoring the best epoch's weights. Default: accuracy (ties to the lower loss), patience 3.
    /// Null trains every epoch and keeps the last weights.</summary>
    public EarlyStopping? EarlyStoppingCriteria { get; set; } = new();

    /// <summary>Validation data (same columns as the training data). Null: <see cref="ValidationSetFraction"/> of the
    /// training data is held out (stratified by class).</summary>
    public IDataView? ValidationSet { get; set; }

    /// <summary>Fraction held out for validation when <see cref="ValidationSet"/> is null. Default 0.1; 0 trains without
    /// validation (no early stopping, last epoch kept).</summary>
    public float ValidationSetFraction { get; set; } = 0.1f;

    /// <summary>Called after every epoch with its metrics (like ML.NET's <c>MetricsCallback</c>).</summary>
    public Action<FineTuneEpoch>? MetricsCallback { get; set; }

    /// <summary>Compute a frozen prefix's activations once and train only the rest, whenever that gives the same result:
    /// the prefix is fixed (frozen, no dropout, batch norms frozen) and training images are not augmented. Validation
    /// images are never augmented, so their prefix is cached whenever it is fixed. Default true.</summary>
    public bool UseBottleneckCache { get; set; } = true;

    /// <summary>Memory the bottleneck cache may use, in MiB; above it training runs uncached. Default 2048.</summary>
    public int BottleneckCacheMaxMegabytes { get; set; } = 2048;

    /// <summary>How images are brought to the network's input size for validation and prediction (and for training when
    /// augmentation is off). Must match the featurizer's. Default <see cref="ImageResizingEstimator.ResizingKind.IsoCrop"/>.</summary>
    public ImageResizingEstimator.ResizingKind Resizing { get; set; } = ImageResizingEstimator.ResizingKind.IsoCrop;

    /// <summary>Images decoded and augmented at once, in parallel with the training step. Default: the number of cores.</summary>
    public int DecodeParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>Keep weights and activations in channels-last memory order (<c>OnnxTorchModuleOptions.ChannelsLast</c>).
    /// Default true: the same values, computed faster on CPU.</summary>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>Memory for training images kept decoded for augmentation, each shrunk to a shorter side 1.15x the input size
    /// (about 0.3 MB for a 224 px input), so every epoch after the first draws its random views without decoding a file
    /// again. Images past the budget are decoded for each view. Default 2048 MB (about 7000 images); 0 decodes and shrinks
    /// the image again for every view (the views are the same either way).</summary>
    public int DecodedImageCacheMegabytes { get; set; } = 2048;

    /// <summary>Where a frozen prefix runs (layers before the first trainable one, when nothing there changes during a phase).
    /// Default <see cref="FineTuning.FrozenPrefixEngine.OnnxRuntimeInt8"/>: an int8 backbone's own int8 layers on ONNX Runtime,
    /// kept in the saved model, which measured about 2× the float twin's training speed with the whole network frozen, 1.15× at
    /// 0.7, 1.3-1.7× the saved model's prediction speed and the same accuracy (bench/FineTuneBench/RESULTS.md); a float
    /// backbone runs <see cref="FineTuning.FrozenPrefixEngine.OnnxRuntime"/> (the float graph on ONNX Runtime, the same values as
    /// libtorch within float rounding).</summary>
    public FrozenPrefixEngine FrozenPrefixEngine { get; set; } = FrozenPrefixEngine.OnnxRuntimeInt8;

    /// <summary>Keep native memory libtorch frees during training in the process heap for the next step instead of returning
    /// it to the kernel (glibc on Linux; ignored elsewhere). Saves re-faulting every step's activations: 15-20% of a step when
    /// layers near the input train (bench/FineTuneBench/RESULTS.md). The process keeps its peak training memory until the run
    /// ends, then the defaults return and the heap's free tail is released. Default true.</summary>
    public bool RetainNativeMemory { get; set; } = true;

    /// <summary>Threads libtorch uses for one training step; null keeps libtorch's default (the number of cores).</summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>Where training runs: "cpu" (default), "cuda" or "cuda:&lt;index&gt;" (needs a CUDA libtorch package).</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Seed of the head's initial weights, the shuffling, the augmentation and dropout: same seed, same model
    /// (on the same device and thread count). Default 42.</summary>
    public int Seed { get; set; } = 42;

    internal void Validate()
    {
        if (Epoch < 1) throw new MlNetTransferException($"Fine-tuning Epoch is {Epoch}; it must be at least 1.");
        if (BatchSize < 1) throw new MlNetTransferException($"Fine-tuning BatchSize is {BatchSize}; it must be at least 1.");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new MlNetTransferException($"Fine-tuning LearningRate is {LearningRate}; it must be positive.");
        if (!(HeadWarmupLearningRate > 0) || !float.IsFinite(HeadWarmupLearningRate))
            throw new MlNetTransferException($"Fine-tuning HeadWarmupLearningRate is {HeadWarmupLearningRate}; it must be positive.");
        if (!(PretrainedLearningRateFactor >= 0) || !float.IsFinite(PretrainedLearningRateFactor))
            throw new MlNetTransferException($"Fine-tuning PretrainedLearningRateFactor is {PretrainedLearningRateFactor}; it must be 0 or more.");
        if (FreezeFraction is < 0 or > 1 || double.IsNaN(FreezeFraction)) throw new MlNetTransferException($"Fine-tuning FreezeFraction is {FreezeFraction}; it must be between 0 and 1.");
        if (LabelSmoothing is < 0 or >= 1) throw new MlNetTransferException($"Fine-tuning LabelSmoothing is {LabelSmoothing}; it must be in [0, 1).");
        if (HeadDropout is < 0 or >= 1) throw new MlNetTransferException($"Fine-tuning HeadDropout is {HeadDropout}; it must be in [0, 1).");
        if (WarmupFraction is < 0 or >= 1) throw new MlNetTransferException($"Fine-tuning WarmupFraction is {WarmupFraction}; it must be in [0, 1).");
        if (WeightDecay is < 0) throw new MlNetTransferException($"Fine-tuning WeightDecay is {WeightDecay}; it must not be negative.");
        if (Momentum is < 0 or >= 1) throw new MlNetTransferException($"Fine-tuning Momentum is {Momentum}; it must be in [0, 1).");
        if (ValidationSetFraction is < 0 or >= 1) throw new MlNetTransferException($"Fine-tuning ValidationSetFraction is {ValidationSetFraction}; it must be in [0, 1).");
        if (EarlyStoppingCriteria is { Patience: < 1 } e) throw new MlNetTransferException($"Early stopping Patience is {e.Patience}; it must be at least 1.");
        if (EarlyStoppingCriteria is { StartFromEpoch: < 0 } s) throw new MlNetTransferException($"Early stopping StartFromEpoch is {s.StartFromEpoch}; it must not be negative.");
        if (ChainThaw is { } c && (c.Blocks < 1 || c.EpochsPerPhase < 1))
            throw new MlNetTransferException($"Chain-thaw needs at least 1 block and 1 epoch per phase (got {c.Blocks} blocks, {c.EpochsPerPhase} epochs).");
        if (HeadWarmupEpochs < 0 || (ChainThaw is not null && LinearProbe is null && HeadWarmupEpochs < 1))
            throw new MlNetTransferException($"Fine-tuning HeadWarmupEpochs is {HeadWarmupEpochs}; it must be 0 or more (at least 1 with chain-thaw and no linear probe: it is chain-thaw's first phase).");
        if (LinearProbe is { } probe) FineTuning.LinearProbe.Validate(probe);
        if (DecodeParallelism < 1) throw new MlNetTransferException($"Fine-tuning DecodeParallelism is {DecodeParallelism}; it must be at least 1.");
        if (NumberOfThreads is < 1) throw new MlNetTransferException($"Fine-tuning NumberOfThreads is {NumberOfThreads}; it must be at least 1.");
        if (DecodedImageCacheMegabytes < 0) throw new MlNetTransferException($"DecodedImageCacheMegabytes is {DecodedImageCacheMegabytes}; it must not be negative.");
        if (BottleneckCacheMaxMegabytes < 0) throw new MlNetTransferException($"BottleneckCacheMaxMegabytes is {BottleneckCacheMaxMegabytes}; it must not be negative.");
        Augmentation?.Validate();
    }

    /// <summary>A shallow copy (nested option objects are shared).</summary>
    public FineTuneOptions Clone() => (FineTuneOptions)MemberwiseClone();

    internal float EffectiveWeightDecay => WeightDecay ?? (Optimizer == FineTuneOptimizer.AdamW ? 0.01f : 1e-4f);

    internal bool Augments => Augmentation is { Enabled: true };

    /// <summary>The frozen network's embeddings of the training and validation images (in their order), already computed by
    /// a featurization of the same backbone: the head-only phase (warm-up or probe) then trains and validates on these instead
    /// of running the frozen network over every image again. Null: computed by the run.</summary>
    internal (IReadOnlyList<float[]> Train, IReadOnlyList<float[]> Validation)? HeadInputs { get; set; }

    /// <summary>Whether an epoch of the head-only phase (warm-up or probe) may be the one the run keeps. True outside auto. Auto
    /// sets false: its frozen-head rows already stand for that head, and against a probe (fitted without label smoothing or
    /// dropout) the layers fine-tuned after it validate a higher loss even where they classify more images right (hds_shapes,
    /// seed 1: the probe 0.917 at loss 0.248, ten epochs later 0.938 at 0.277), so the candidate came back as its probe.</summary>
    internal bool KeepsHeadStartEpoch { get; set; } = true;
}
