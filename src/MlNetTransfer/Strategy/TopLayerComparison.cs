namespace MlNetTransfer.Strategy;

/// <summary>A middle layer's activations, averaged over height and width, one row per image (e.g. a layer of the
/// <see cref="Backbones.MiddleLayerTap"/> output read during featurization).</summary>
/// <param name="Tensor">The layer's tensor in the featurizer graph, for the report.</param>
/// <param name="Depth">Fraction of the network's weight layers before it.</param>
/// <param name="Rows">The pooled activations.</param>
public sealed record MiddleLayerFeatures(string Tensor, double Depth, float[][] Rows);

/// <summary>The k-NN probe on one middle layer.</summary>
public sealed record MiddleLayerProbe(string Tensor, double Depth, ProbeResult Probe);

/// <summary>The same k-NN probe on middle layers' pooled activations and on the embedding.</summary>
public sealed record TopLayerComparisonResult
{
    /// <summary>The best middle layer's tensor: the reference the embedding is compared with.</summary>
    public string Tensor { get; init; } = "";

    /// <summary>Fraction of the network's weight layers before the best middle layer.</summary>
    public double Depth { get; init; }

    public ProbeResult Embedding { get; init; } = new();

    /// <summary>The probe on the best middle layer (highest balanced accuracy).</summary>
    public ProbeResult Middle { get; init; } = new();

    /// <summary>The probe on every middle layer measured, from the input side.</summary>
    public IReadOnlyList<MiddleLayerProbe> Layers { get; init; } = [];

    /// <summary>Share of the best middle layer's probe errors the embedding removes (<see cref="ProbeComparison.ErrorReduction"/>):
    /// near 1 when the top layers build what the task needs, 0 or below when they add nothing to the middle.</summary>
    public double ErrorReduction { get; init; }
}

/// <summary>
/// Whether the network's top layers still help: features go from general to specific to the source task as a network
/// deepens (Yosinski et al. 2014, "How transferable are features in deep neural networks?"). On a domain close to the
/// source the embedding beats the layers below it by a wide margin; where the top layers are too specific to the source
/// task, the embedding stops beating them — the case for fine-tuning from earlier layers. The embedding is compared with
/// the best of the middle layers given, so the answer does not hang on one layer's place in one architecture. Unlike a
/// comparison with raw pixels, a task that generic features solve easily (sketches, shapes) does not read as close to
/// the source.
/// </summary>
public static class TopLayerComparison
{
    public static TopLayerComparisonResult Compare(float[][] embeddings, int[] labels, IReadOnlyList<MiddleLayerFeatures> middleLayers, KnnProbeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(middleLayers);
        if (middleLayers.Count == 0) throw new MlNetTransferException("Top-layer comparison: no middle layer given.");
        foreach (var middle in middleLayers)
            if (middle?.Rows is null || middle.Rows.Length != embeddings.Length)
                throw new MlNetTransferException($"Top-layer comparison: {embeddings.Length} embeddings but {middle?.Rows?.Length ?? 0} rows of middle layer '{middle?.Tensor}'; they must describe the same images.");
        var onEmbeddings = KnnProbe.CrossValidate(embeddings, labels, options);
        var layers = middleLayers.Select(m => new MiddleLayerProbe(m.Tensor, m.Depth, KnnProbe.CrossValidate(m.Rows, labels, options))).ToList();
        // Ties go to the deeper layer: the fewer top layers it leaves, the stricter the comparison.
        var best = layers.OrderByDescending(l => l.Probe.BalancedAccuracy).ThenByDescending(l => l.Depth).First();
        return new TopLayerComparisonResult
        {
            Tensor = best.Tensor,
            Depth = best.Depth,
            Embedding = onEmbeddings,
            Middle = best.Probe,
            Layers = layers,
            ErrorReduction = ProbeComparison.ErrorReduction(onEmbeddings.BalancedAccuracy, best.Probe.BalancedAccuracy),
        };
    }
}
