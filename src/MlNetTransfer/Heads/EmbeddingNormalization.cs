namespace MlNetTransfer.Heads;

/// <summary>How embeddings are scaled before a head learns on them.</summary>
public enum EmbeddingNormalization
{
    /// <summary>Each dimension to mean 0, variance 1 (ML.NET <c>NormalizeMeanVariance</c>).</summary>
    MeanVariance,

    /// <summary>Each embedding to unit L2 length (ML.NET <c>NormalizeLpNorm</c>): keeps the direction, the usual linear-probe input.</summary>
    L2,

    /// <summary>As the backbone emits them.</summary>
    None,
}
