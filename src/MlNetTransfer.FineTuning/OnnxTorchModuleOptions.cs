namespace MlNetTransfer.FineTuning;

/// <summary>How <see cref="OnnxTorchModule.FromOnnx(string, OnnxTorchModuleOptions?)"/> turns an ONNX graph into a trainable TorchSharp module.</summary>
public sealed class OnnxTorchModuleOptions
{
    /// <summary>Where parameters live and the graph runs: "cpu" (default), "cuda" or "cuda:&lt;index&gt;" (needs a CUDA libtorch package).</summary>
    public string Device { get; set; } = TorchDevices.Cpu;

    /// <summary>Cut the graph at this tensor (the embedding, e.g. the global-pool output) and put a new linear head on it.
    /// Null (default): keep the whole graph and its own outputs.</summary>
    public string? EmbeddingTensor { get; set; }

    /// <summary>Number of classes of the new head; required with <see cref="EmbeddingTensor"/>, ignored without it.</summary>
    public int NumClasses { get; set; }

    /// <summary>Name prefix of the head's initializers and nodes in <see cref="OnnxTorchModule.ToOnnx"/>. Default "head".</summary>
    public string HeadName { get; set; } = "head";

    /// <summary>Name of the head's output tensor (the logits) in the written ONNX model. Default "logits".</summary>
    public string HeadOutputName { get; set; } = "logits";

    /// <summary>Seed of the head's initial weights, so a run is reproducible. Default 0.</summary>
    public long Seed { get; set; }

    /// <summary>Shape used to probe the embedding's size when the model's input has symbolic dimensions other than the batch.
    /// Null (default): the input's declared shape with the batch dimension set to 1.</summary>
    public long[]? ProbeInputShape { get; set; }

    /// <summary>Names of nodes whose initializers stay constants even where they would be learned weights (e.g. a baked-in
    /// input normalisation, which must never drift). Default none.</summary>
    public ISet<string> ConstantNodes { get; set; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Keep 4-d weights and activations in channels-last memory order (NHWC strides behind NCHW shapes). Default
    /// true: libtorch's CPU convolutions run 2-3x faster that way (measured in bench/FineTuneBench), and the values are the
    /// same where libtorch's kernels are right (oneDNN's AVX-512 ones were not on one machine; fine-tuning checks before it
    /// trains, see ChannelsLastCheck); false keeps the default NCHW order.</summary>
    public bool ChannelsLast { get; set; } = true;
}
