using MlNetTransfer.Data;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Featurization;
using MlNetTransfer.Heads;
using MlNetTransfer.Strategy;

namespace MlNetTransfer;

/// <summary>Everything one training run needs. Every property has a documented default, so
/// <c>new TransferLearningOptions { DataPath = "images/" }</c> is a complete run.</summary>
public sealed class TransferLearningOptions
{
    /// <summary>A folder with one sub-folder per class (or train/ and val/ [test/] folders of those), or a CSV/TSV manifest. Required.</summary>
    public string DataPath { get; set; } = "";

    /// <summary>A folder of embeddings shards written by <see cref="Featurization.ShardedFeaturizer"/> (<c>mlnet-transfer featurize</c>)
    /// to train from instead of images: no image is opened, <see cref="DataPath"/> is not used, the split rules are the same.
    /// <see cref="Backbone"/> must name the backbone the shards were featurized with (its SHA-256 is checked), since the saved
    /// model still predicts from images; an empty <see cref="Backbone"/> means the one the shards name. Feature-extractor and auto strategies (auto trains its head
    /// candidates only: fine-tuning and the pixel side of the domain similarity need the images, and its report says so).
    /// Default null (train from <see cref="DataPath"/>).</summary>
    public string? EmbeddingsPath { get; set; }

    /// <summary>A catalog name (see <c>mlnet-transfer backbones list</c>), a path to an ONNX file or a TF.js <c>model.json</c>,
    /// or <c>auto</c>: compare the candidates of <see cref="BackboneChoice"/> and train with the most accurate. Default <c>mobilenet_v2</c> (ImageNet MobileNetV2, int8, from the ONNX Model Zoo).</summary>
    public string Backbone { get; set; } = "mobilenet_v2";

    /// <summary>Tensor to cut the backbone at; null means the catalog's, or the one <c>inspect</c> ranks first.</summary>
    public string? EmbeddingTensor { get; set; }

    /// <summary>How much of the pretrained network to reuse: <c>feature-extractor</c> (default: the network frozen, an ML.NET head
    /// learned on its embeddings), <c>fine-tune</c> (the top of the network retrained with a new head, see <see cref="FineTune"/>)
    /// <c>chain-thaw</c> (head, then each block of layers alone, then everything) or <c>auto</c> (measure dataset size and domain
    /// similarity, choose the scenario, try candidates in its order within <see cref="Budget"/>, keep the best on validation).</summary>
    public string Strategy { get; set; } = FeatureExtractor;

    public const string FeatureExtractor = "feature-extractor";
    public const string FineTuneStrategy = "fine-tune";
    public const string ChainThawStrategy = "chain-thaw";
    public const string AutoStrategy = "auto";

    /// <summary>The strategies <see cref="Strategy"/> accepts.</summary>
    public static IReadOnlyList<string> Strategies { get; } = [FeatureExtractor, FineTuneStrategy, ChainThawStrategy, AutoStrategy];

    /// <summary>Fine-tuning settings for the <c>fine-tune</c> and <c>chain-thaw</c> strategies (default: freeze 70% of the layers,
    /// 10 epochs, AdamW, warm-up + cosine, augmentation, early stopping). The run's backbone, mirrors, embedding tensor, seed,
    /// image path column and resizing come from this object's own properties, not from these options.</summary>
    public FineTuneOptions FineTune { get; set; } = new();

    /// <summary>Wall-time budget of the <c>auto</c> strategy, counted from the start of the run (loading and featurizing
    /// included). Default 10 minutes. A candidate whose estimated time no longer fits is skipped; a fine-tuning run still going
    /// at the budget stops at its next batch and keeps its best epoch; the report states any overshoot.</summary>
    public TimeSpan Budget { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>What the <c>auto</c> strategy measures and tries.</summary>
    public AutoSearchOptions Auto { get; set; } = new();

    /// <summary>Loading and splitting. Default 80/10/10 stratified with seed 42.</summary>
    public DatasetOptions Dataset { get; set; } = new();

    /// <summary>The head trained on embeddings. Default SDCA maximum entropy.</summary>
    public HeadOptions Head { get; set; } = new();

    /// <summary>The image → embedding pipeline (resizing, parallelism, embedding cache).</summary>
    public ImageFeaturizerOptions Featurizer { get; set; } = new();

    /// <summary>Extra folders searched for backbone files before any download (air-gapped installs). Default none
    /// (the <c>MLNET_TRANSFER_MIRRORS</c> environment variable is always searched too).</summary>
    public IList<string> Mirrors { get; set; } = new List<string>();

    /// <summary>With <see cref="Backbone"/> <c>auto</c>: the candidates compared and the limits the winner must meet
    /// (<see cref="Backbones.BackboneComparison"/>). Default: every catalog backbone installed or in a mirror, no limits.</summary>
    public Backbones.BackboneComparisonOptions BackboneChoice { get; set; } = new();

    /// <summary>Class imbalance handling. Default <see cref="ClassWeighting.Auto"/>: when the largest training class has at least
    /// 1.5x the images of the smallest, each class weighs n / (C · n_c) in the fine-tuning loss and as the ML.NET heads' example
    /// weight, and <c>auto</c> ranks candidates by validation macro-F1; <see cref="ClassWeighting.Off"/> weighs every image the same.</summary>
    public ClassWeighting ClassWeights { get; set; } = ClassWeighting.Auto;

    /// <summary>Seed for ML.NET and every random choice in the run. Default 42.</summary>
    public int Seed { get; set; } = 42;

    /// <summary>A shallow copy (nested option objects shared) for one candidate of a search to adjust.</summary>
    internal TransferLearningOptions Copy() => (TransferLearningOptions)MemberwiseClone();
}
