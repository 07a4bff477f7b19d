namespace MlNetTransfer.Backbones;

/// <summary>What <see cref="BackboneComparison"/> measured on one data set: a row per backbone, the ones skipped, the
/// accuracy/latency Pareto front and, for <c>--backbone auto</c>, the choice.</summary>
public sealed record BackboneComparisonReport
{
    public string Data { get; init; } = "";
    public int TrainImages { get; init; }
    public int ValidationImages { get; init; }

    /// <summary>The head trained on every backbone's embeddings, its regularisation tuned by <see cref="CrossValidationFolds"/>-fold
    /// cross-validation on the training split.</summary>
    public string Head { get; init; } = "";
    public int CrossValidationFolds { get; init; }
    public int Seed { get; init; }

    /// <summary>How the rows were measured, in words (for the reader of a JSON file).</summary>
    public string Method { get; init; } = "";

    /// <summary>Processor count of the machine measured on; latencies and throughputs are only comparable on one machine.</summary>
    public int ProcessorCount { get; init; } = Environment.ProcessorCount;

    public IReadOnlyList<BackboneMeasurement> Backbones { get; init; } = [];
    public IReadOnlyList<SkippedBackbone> Skipped { get; init; } = [];

    /// <summary>Backbones no other beats on both cross-validated accuracy and median latency.</summary>
    public IReadOnlyList<string> ParetoFront { get; init; } = [];

    /// <summary>The choice <c>--backbone auto</c> made, with its reason; null for a plain comparison.</summary>
    public BackboneChoice? Choice { get; init; }

    public double Seconds { get; init; }
}

/// <summary>One backbone's row.</summary>
public sealed record BackboneMeasurement
{
    public string Backbone { get; init; } = "";
    public string Source { get; init; } = "";
    public int EmbeddingSize { get; init; }
    public int InputSize { get; init; }

    /// <summary>Mean held-out accuracy of the tuned head over the training split's folds (the best value of its grid): the
    /// ranking measure. The validation split plays no part in choosing.</summary>
    public double? CrossValidationAccuracy { get; init; }
    public double? CrossValidationStandardDeviation { get; init; }
    public float? L2Regularization { get; init; }
    public float? L1Regularization { get; init; }

    public double? ValidationAccuracy { get; init; }
    public double? TestAccuracy { get; init; }

    /// <summary>Images/s through the loaded zip, <see cref="ThroughputParallelism"/> at a time.</summary>
    public double ImagesPerSecond { get; init; }
    public int ThroughputImages { get; init; }
    public int ThroughputParallelism { get; init; }

    /// <summary>The training run's own featurization speed; null when every embedding came from the cache.</summary>
    public double? FeaturizeImagesPerSecond { get; init; }
    public int FeaturizeCacheHits { get; init; }

    /// <summary>One-image prediction latency through the loaded zip (decode, resize, network, head), milliseconds.</summary>
    public double LatencyP50Milliseconds { get; init; }
    public double LatencyP95Milliseconds { get; init; }
    public int LatencyRuns { get; init; }

    /// <summary>Bytes of the backbone's own file(s) as installed or given.</summary>
    public long ModelFileBytes { get; init; }

    /// <summary>Bytes of the saved model zip (the prepared backbone and the head).</summary>
    public long ZipBytes { get; init; }

    /// <summary>Where the zip was kept, when <see cref="BackboneComparisonOptions.ModelsDirectory"/> was set.</summary>
    public string? ZipPath { get; init; }

    public double Seconds { get; init; }
}

public sealed record SkippedBackbone(string Backbone, string Reason);

/// <summary>Which backbone <c>--backbone auto</c> took and why.</summary>
public sealed record BackboneChoice
{
    public string Winner { get; init; } = "";
    public string Rule { get; init; } = "";
    public string Reason { get; init; } = "";
    public double? MaxLatencyMilliseconds { get; init; }
    public double? MaxModelMegabytes { get; init; }

    /// <summary>The backbones a limit ruled out, each with the limit and its measured value.</summary>
    public IReadOnlyList<SkippedBackbone> Excluded { get; init; } = [];
}
