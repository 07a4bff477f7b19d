namespace MlNetTransfer.Backbones.Onnx;

/// <summary>How a cut tensor becomes an [N, D] vector: whether and in which layout it is averaged over space first.</summary>
internal enum CutPooling
{
    /// <summary>Already a vector (or a map whose spatial size is 1): only flattened.</summary>
    None,
    /// <summary>An NCHW map: GlobalAveragePool over H, W.</summary>
    ChannelsFirst,
    /// <summary>An NHWC map: transposed to NCHW, then GlobalAveragePool.</summary>
    ChannelsLast,
}

/// <summary>The pooling a cut needs and the embedding length it yields, decided from the tensor's measured shape.</summary>
internal sealed record CutPlan(CutPooling Pooling, int EmbeddingSize)
{
    public static CutPlan For(OnnxGraphIndex graph, string tensor, long[] dims)
    {
        if (dims.Length < 2 || dims.Skip(1).Any(d => d <= 0))
            throw new MlNetTransferException(
                $"Tensor '{tensor}' has shape [{string.Join(",", dims)}]; an embedding needs a batch dimension followed by feature dimensions.");
        if (dims.Length >= 4)
        {
            // A map already averaged to 1x1 (in either layout) only needs flattening.
            if (dims.Skip(2).All(d => d == 1)) return new CutPlan(CutPooling.None, checked((int)dims[1]));
            if (dims.Length == 4 && dims[1] == 1 && dims[2] == 1) return new CutPlan(CutPooling.None, checked((int)dims[3]));
            if (dims.Length == 4 && OnnxLayout.IsChannelsLast(graph, tensor)) return new CutPlan(CutPooling.ChannelsLast, checked((int)dims[3]));
            return new CutPlan(CutPooling.ChannelsFirst, checked((int)dims[1]));
        }
        return new CutPlan(CutPooling.None, checked((int)dims.Skip(1).Aggregate(1L, (a, d) => a * d)));
    }
}
