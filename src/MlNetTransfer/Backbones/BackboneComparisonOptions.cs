namespace MlNetTransfer.Backbones;

/// <summary>What <see cref="BackboneComparison"/> measures, and the limits <c>--backbone auto</c> chooses under. The data,
/// head, split, seed, featurizer and mirrors come from the run's <see cref="TransferLearningOptions"/>.</summary>
public sealed class BackboneComparisonOptions
{
    /// <summary>The backbones compared: catalog names, .onnx paths, TF.js model.json paths. Default (empty): every catalog
    /// backbone already installed, or whose files are all in a mirror folder; the others are listed as skipped.</summary>
    public IList<string> Backbones { get; set; } = new List<string>();

    /// <summary>One-image predictions timed per backbone (after <see cref="LatencyWarmup"/> untimed ones), through the saved
    /// zip loaded with <see cref="ImageClassifier"/>, one after another on the validation images. Default 40: enough for a
    /// stable median and a 95th percentile that is the 38th of 40 rather than the slowest.</summary>
    public int LatencyRuns { get; set; } = 40;

    /// <summary>Untimed predictions first: ONNX Runtime and the prediction engine allocate on the first calls. Default 3.</summary>
    public int LatencyWarmup { get; set; } = 3;

    /// <summary>Images pushed through the loaded zip to measure throughput (images/s), as many at a time as
    /// <see cref="Featurization.ImageFeaturizerOptions.DegreeOfParallelism"/>. Default 64. Measured the same way whether or
    /// not the embeddings were cached, unlike the training run's featurization speed (reported beside it when it ran).</summary>
    public int ThroughputImages { get; set; } = 64;

    /// <summary>Folder to keep each backbone's model zip in (<c>NAME.zip</c>); null (default) writes them to a temporary
    /// folder that is deleted afterwards.</summary>
    public string? ModelsDirectory { get; set; }

    /// <summary><c>--backbone auto</c>: the most accurate backbone whose median one-image latency (ms) is at most this.
    /// The median rather than the 95th percentile: on a machine shared with other work the tail measures the neighbours.
    /// Default null: no limit.</summary>
    public double? MaxLatencyMilliseconds { get; set; }

    /// <summary><c>--backbone auto</c>: the most accurate backbone whose model zip (what ships: backbone and head) is at
    /// most this many megabytes (10^6 bytes). Default null: no limit.</summary>
    public double? MaxModelMegabytes { get; set; }

    /// <summary>Throws a message naming the setting when one is out of range.</summary>
    public void Validate()
    {
        if (LatencyRuns < 2) throw new MlNetTransferException($"Backbone comparison: LatencyRuns is {LatencyRuns}; time at least 2 predictions.");
        if (LatencyWarmup < 0) throw new MlNetTransferException($"Backbone comparison: LatencyWarmup is {LatencyWarmup}; it must be 0 or more.");
        if (ThroughputImages < 1) throw new MlNetTransferException($"Backbone comparison: ThroughputImages is {ThroughputImages}; it must be at least 1.");
        if (MaxLatencyMilliseconds is { } ms && !(ms > 0))
            throw new MlNetTransferException($"--max-latency-ms is {ms}; give a positive number of milliseconds.");
        if (MaxModelMegabytes is { } mb && !(mb > 0))
            throw new MlNetTransferException($"--max-model-mb is {mb}; give a positive number of megabytes.");
        if (Backbones.Any(string.IsNullOrWhiteSpace)) throw new MlNetTransferException("Backbone comparison: an empty backbone name in the list (--backbones a,b,...).");
        if (Backbones.Any(b => string.Equals(b.Trim(), BackboneComparison.AutoName, StringComparison.OrdinalIgnoreCase)))
            throw new MlNetTransferException($"'{BackboneComparison.AutoName}' cannot be one of the backbones compared; name the candidates.");
    }

    /// <summary>A copy with its own list.</summary>
    public BackboneComparisonOptions Clone()
    {
        var copy = (BackboneComparisonOptions)MemberwiseClone();
        copy.Backbones = Backbones.ToList();
        return copy;
    }
}
