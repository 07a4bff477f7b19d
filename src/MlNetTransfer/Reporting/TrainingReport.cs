using System.Text.Json;
using System.Text.Json.Serialization;

namespace MlNetTransfer.Reporting;

/// <summary>Everything a training run measured, written as <c>report.json</c>.</summary>
public sealed record TrainingReport
{
    public string Tool { get; init; } = "mlnet-transfer";
    public string Version { get; init; } = ProductVersion.Current;
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;
    public string Strategy { get; init; } = "feature-extractor";

    /// <summary>Metrics on the held-out split named by <see cref="EvaluatedOn"/> (test when there is one, else validation).</summary>
    public ClassificationReport Metrics { get; init; } = new();
    public string EvaluatedOn { get; init; } = "validation";
    public ClassificationReport? ValidationMetrics { get; init; }
    public ClassificationReport? TestMetrics { get; init; }

    public DataReport Data { get; init; } = new();
    public SplitCounts Counts { get; init; } = new();
    public IReadOnlyList<SkippedReport> Skipped { get; init; } = [];
    public BackboneReport Backbone { get; init; } = new();
    public TrainerReport Trainer { get; init; } = new();
    public FeaturizationReport Featurization { get; init; } = new();
    public TimingsReport Timings { get; init; } = new();

    /// <summary>The training split's class sizes and whether classes were weighted for them (<c>--class-weights</c>).</summary>
    public Data.ClassBalanceReport? ClassBalance { get; init; }

    /// <summary>Fine-tuning settings and outcome; null for the feature-extractor strategy.</summary>
    public FineTuneReport? FineTune { get; init; }

    /// <summary>Per-epoch learning curve of a fine-tuning run (empty for the feature-extractor strategy).</summary>
    public IReadOnlyList<EpochReport> LearningCurve { get; init; } = [];

    /// <summary>The <c>auto</c> strategy's scenario decision: measurements, cut-offs, choice and explanation. Null when auto
    /// trained from embeddings shards: without the images the similarity has no reference point (the leaderboard's note says
    /// what was measured).</summary>
    public MlNetTransfer.Strategy.ScenarioDecision? Scenario { get; init; }

    /// <summary>The candidates an automatic search tried, ranked on validation.</summary>
    public Leaderboard? Leaderboard { get; init; }

    /// <summary>The search's time budget and how well it was kept.</summary>
    public BudgetReport? Budget { get; init; }

    /// <summary>The <c>auto</c> strategy's successive halving: how many candidates entered, the planned epochs, the head
    /// starts tried and why.</summary>
    public MlNetTransfer.Strategy.HalvingPlan? Search { get; init; }

    /// <summary>Per-epoch curves of every fine-tuned candidate of a search (the winner's is also <see cref="LearningCurve"/>).</summary>
    public IReadOnlyList<LearningCurve> CandidateCurves { get; init; } = [];

    /// <summary>With <c>--backbone auto</c>: the backbones compared, what each measured, and why the winner won.</summary>
    public MlNetTransfer.Backbones.BackboneComparisonReport? BackboneComparison { get; init; }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    public static TrainingReport Load(string path) =>
        JsonSerializer.Deserialize<TrainingReport>(File.ReadAllText(path), JsonOptions)
        ?? throw new MlNetTransferException($"{path}: empty report.");
}

public sealed record DataReport
{
    public string Source { get; init; } = "";
    public bool PreSplit { get; init; }
    public int Seed { get; init; }
    public double[] Fractions { get; init; } = [];
    public IReadOnlyList<string> Classes { get; init; } = [];
}

public sealed record SplitCounts
{
    public int Train { get; init; }
    public int Validation { get; init; }
    public int Test { get; init; }
    public int Skipped { get; init; }
    /// <summary>Per class: [train, validation, test].</summary>
    public IReadOnlyDictionary<string, int[]> PerClass { get; init; } = new Dictionary<string, int[]>();
}

public sealed record SkippedReport(string Path, string Reason);

public sealed record BackboneReport
{
    public string Name { get; init; } = "";
    public string Source { get; init; } = "";
    public string Sha256 { get; init; } = "";
    public string EmbeddingTensor { get; init; } = "";
    public int EmbeddingSize { get; init; }
    public int InputWidth { get; init; }
    public int InputHeight { get; init; }
    public string SourceDomain { get; init; } = "";
}

public sealed record TrainerReport
{
    public string Name { get; init; } = "";
    public string MlNetTrainer { get; init; } = "";
    public int MaximumIterations { get; init; }
    public float? L2Regularization { get; init; }
    public float? L1Regularization { get; init; }
    public string Normalization { get; init; } = "";

    /// <summary>How the regularisation was chosen; null when it was given or cross-validation was off.</summary>
    public HeadCrossValidationReport? CrossValidation { get; init; }
}

/// <summary>Stratified k-fold cross-validation of a head's regularisation on the training split's embeddings.</summary>
public sealed record HeadCrossValidationReport
{
    public int Folds { get; init; }

    /// <summary>The score of each grid point: mean accuracy over the held-out folds.</summary>
    public string Metric { get; init; } = "accuracy";

    /// <summary>How the winner is picked.</summary>
    public string Rule { get; init; } = "highest mean accuracy; a tie goes to the stronger regularisation (higher L2, then higher L1)";

    /// <summary>Every value whose folds all finished, in the order tried (the trainer's default first, shown as null).</summary>
    public IReadOnlyList<HeadCrossValidationPoint> Grid { get; init; } = [];

    /// <summary>Values the full search would try; more than <see cref="Grid"/> holds when a time limit cut it short.</summary>
    public int PlannedValues { get; init; }

    /// <summary>The values chosen (null: the trainer's default won, or nothing finished) and their mean score (null when
    /// no value finished).</summary>
    public float? L2Regularization { get; init; }
    public float? L1Regularization { get; init; }
    public double? Score { get; init; }
    public double Seconds { get; init; }

    /// <summary>The wall-time limit the search ran under (the auto strategy's share of its budget); null: none.</summary>
    public double? TimeLimitSeconds { get; init; }

    /// <summary>Why the search was skipped or stopped early; null when every planned value was tried.</summary>
    public string? Note { get; init; }
}

/// <summary>One grid point: the regularisation weights (null = the trainer's default), the mean and standard deviation
/// of the held-out folds' accuracy.</summary>
public sealed record HeadCrossValidationPoint(float? L2Regularization, float? L1Regularization, double MeanAccuracy, double StandardDeviation);

public sealed record FeaturizationReport
{
    public int Images { get; init; }
    public int CacheHits { get; init; }
    public double ImagesPerSecond { get; init; }
    public int DegreeOfParallelism { get; init; }

    /// <summary>The folder of featurized shards the embeddings were read from (train --embeddings); null when images were featurized.</summary>
    public string? Shards { get; init; }
}

public sealed record TimingsReport
{
    public double LoadSeconds { get; init; }
    public double FeaturizeSeconds { get; init; }
    public double TrainSeconds { get; init; }
    public double EvaluateSeconds { get; init; }
    public double TotalSeconds { get; init; }
}

/// <summary>How a network was fine-tuned and how the run ended.</summary>
public sealed record FineTuneReport
{
    /// <summary><c>fine-tune</c> (one phase at a freeze depth) or <c>chain-thaw</c>.</summary>
    public string Method { get; init; } = "";
    public double FreezeFraction { get; init; }
    public string? TrainFromNode { get; init; }
    /// <summary>Layers with weights in the pretrained network (parameter groups, head excluded).</summary>
    public int PretrainedLayers { get; init; }
    /// <summary>Per phase: its name, trainable layers (head included) and planned epochs.</summary>
    public IReadOnlyList<PhaseReport> Phases { get; init; } = [];
    public int EpochsRun { get; init; }
    public int BestEpoch { get; init; }
    public bool StoppedEarly { get; init; }
    public bool Cancelled { get; init; }
    public string Optimizer { get; init; } = "";
    /// <summary>How the new head started: <c>linear probe (trainer, normalisation)</c>, or <c>random</c> with the warm-up below.</summary>
    public string HeadInitialization { get; init; } = "";
    /// <summary>Head-only warm-up epochs and their rate (used with a random head only: 0 with a linear probe).</summary>
    public int HeadWarmupEpochs { get; init; }
    public double HeadWarmupLearningRate { get; init; }
    public double HeadDropout { get; init; }
    public double LearningRate { get; init; }
    public double PretrainedLearningRateFactor { get; init; }
    public string Schedule { get; init; } = "";
    public double WeightDecay { get; init; }
    public double LabelSmoothing { get; init; }
    public int BatchSize { get; init; }
    public bool Augmentation { get; init; }
    /// <summary>What the augmentation did to training images (<see cref="FineTuning.ImageAugmentation.Describe"/>).</summary>
    public string AugmentationSettings { get; init; } = "";
    public string EarlyStopping { get; init; } = "";
    /// <summary>Epochs whose frozen prefix came from the bottleneck cache.</summary>
    public int BottleneckCachedEpochs { get; init; }
    /// <summary>Whether weights and activations were kept in channels-last memory order.</summary>
    public bool ChannelsLast { get; init; }
    /// <summary>Why channels-last order was asked for and NCHW order ran (libtorch's channels-last kernels failed the check
    /// on this machine); null otherwise.</summary>
    public string? ChannelsLastFallback { get; init; }
    /// <summary>The frozen-prefix engine asked for ("onnxruntime", "onnxruntime-int8", "torchsharp"); each epoch records the one that ran.</summary>
    public string FrozenPrefixEngine { get; init; } = "";
    /// <summary>True when the saved model computes the layers in front of the trained ones with the backbone's own int8 graph,
    /// as training did (onnxruntime-int8).</summary>
    public bool SavedInt8Prefix { get; init; }
    /// <summary>Why onnxruntime-int8 was asked for and the float network ran instead, else null.</summary>
    public string? Int8PrefixFallback { get; init; }
    /// <summary>The linear-probe start's regularisation search (folds, grid, score per value), when cross-validation chose it.</summary>
    public HeadCrossValidationReport? ProbeCrossValidation { get; init; }
    public string Device { get; init; } = "";
    public int Seed { get; init; }
    public string FineTunedSha256 { get; init; } = "";
}

public sealed record PhaseReport(string Name, int TrainableLayers, int Epochs);

/// <summary>One point of the learning curve.</summary>
public sealed record EpochReport
{
    public int Epoch { get; init; }
    public string Phase { get; init; } = "";
    public double TrainLoss { get; init; }
    public double TrainAccuracy { get; init; }
    public double ValidationLoss { get; init; }
    public double ValidationAccuracy { get; init; }
    public double LearningRate { get; init; }
    public double ImagesPerSecond { get; init; }
    public double Seconds { get; init; }
    public bool BottleneckCached { get; init; }
    /// <summary>What ran the frozen layers in front of the trained ones (onnxruntime or torchsharp); null when none ran.</summary>
    public string? FrozenPrefix { get; init; }
    public bool Best { get; init; }
}

/// <summary>A search's wall-time budget against what it took.</summary>
public sealed record BudgetReport
{
    public double BudgetSeconds { get; init; }

    /// <summary>Wall time from the start of the run to the winner being chosen (saving excluded).</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>Seconds past the budget (0 when the run stayed inside it).</summary>
    public double OvershootSeconds { get; init; }

    /// <summary>Candidates not started because their estimated time did not fit in what was left.</summary>
    public int SkippedCandidates { get; init; }

    /// <summary>Candidates stopped by the budget while running.</summary>
    public int StoppedCandidates { get; init; }

    /// <summary>Candidates that could not run (their leaderboard row says why); the others still count.</summary>
    public int FailedCandidates { get; init; }

    /// <summary>How the budget was applied, in plain words.</summary>
    public string Rule { get; init; } = "";
}
