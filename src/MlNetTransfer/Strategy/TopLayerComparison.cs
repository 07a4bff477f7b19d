namespace MlNetTransfer.Strategy;

/// <summary>A middle layer's activations, averaged over height and width, one row per image (e.g. the
/// <see cref="Backbones.MiddleLayerTap"/> output read during featurization).</summary>
/// <param name="Tensor">The layer's tensor in the featurizer graph, for the report.</param>
/// <param name="Depth">Fraction of the network's weight layers before it.</param>
/// <param name="Rows">The pooled activations.</param>
public sealed record MiddleLayerFeatures(string Tensor, double Depth, float[][] Rows);

/// <summary>The same k-NN probe on a middle layer's pooled activations and on the embedding.</summary>
public sealed record TopLayerComparisonResult
{
    /// <summary>The middle layer's tensor.</summary>
    public string Tensor { get; init; } = "";

    /// <summary>Fraction of the network's weight layers before the middle layer.</summary>
    public double Depth { get; init; }

    public ProbeResult Embedding { get; init; } = new();
    public ProbeResult Middle { get; init; } = new();

    /// <summary>Share of the middle layer's probe errors the embedding removes (<see cref="ProbeComparison.ErrorReduction"/>):
    /// near 1 when the top layers build what the task needs, 0 or below when they add nothing to the middle.</summary>
    public double ErrorReduction { get; init; }
}

/// <summary>
/// Whether the network's top layers still help: features go from general to specific to the source task as a network
/// deepens (Yosinski et al. 2014, "How transferable are features in deep neural networks?"). On a domain close to the
/// source the embedding beats a middle layer by a wide margin; where the top layers are too specific to the source
/// task, the embedding stops beating the middle — the case for fine-tuning from earlier layers. Unlike a comparison
/// with raw pixels, a task that generic features solve easily (sketches, shapes) does not read as close to the source.
/// </summary>
public static class TopLayerComparison
{
    public static TopLayerComparisonResult Compare(float[][] embeddings, int[] labels, MiddleLayerFeatures middle, KnnProbeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(middle);
        ArgumentNullException.ThrowIfNull(middle.Rows);
        if (middle.Rows.Length != embeddings.Length)
            throw new MlNetTransferException($"Top-layer comparison: {embeddings.Length} embeddings but {middle.Rows.Length} rows of middle layer '{middle.Tensor}'; they must describe the same images.");
        var probes = ProbeComparison.Compare(embeddings, middle.Rows, labels, options);
        return new TopLayerComparisonResult
        {
            Tensor = middle.Tensor,
            Depth = middle.Depth,
            Embedding = probes.Embedding,
            Middle = probes.Baseline,
            ErrorReduction = probes.ErrorReduction,
        };
    }
}
