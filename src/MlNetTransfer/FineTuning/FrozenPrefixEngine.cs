namespace MlNetTransfer.FineTuning;

/// <summary>Where a frozen prefix (no gradient reaches it) runs during fine-tuning.</summary>
public enum FrozenPrefixEngine
{
    /// <summary>ONNX Runtime runs the prefix's float graph with the current weights: its CPU kernels (fused, NCHWc-blocked)
    /// are faster for inference than libtorch's, and nothing of it needs autograd.</summary>
    OnnxRuntime,

    /// <summary>libtorch runs the whole network, the prefix without recording gradients.</summary>
    TorchSharp,

    /// <summary>ONNX Runtime runs the backbone's own int8 graph up to the split, each crossing activation dequantized, and the
    /// saved model keeps that int8 prefix, so prediction computes what training saw. Only where the fine-tuned network is the
    /// dequantized twin of an int8 backbone and the prefix still holds its pretrained weights; elsewhere
    /// <see cref="OnnxRuntime"/> runs the float twin.</summary>
    OnnxRuntimeInt8,
}

/// <summary>The names reports and the CLI give the engines.</summary>
public static class FrozenPrefixEngines
{
    /// <summary>"onnxruntime", "onnxruntime-int8" or "torchsharp".</summary>
    public static string Name(this FrozenPrefixEngine engine) => engine switch
    {
        FrozenPrefixEngine.OnnxRuntime => "onnxruntime",
        FrozenPrefixEngine.OnnxRuntimeInt8 => "onnxruntime-int8",
        FrozenPrefixEngine.TorchSharp => "torchsharp",
        _ => throw new ArgumentOutOfRangeException(nameof(engine), engine, null),
    };

    /// <summary>Every engine's name, in declaration order.</summary>
    public static IReadOnlyList<string> Names { get; } = Enum.GetValues<FrozenPrefixEngine>().Select(Name).ToList();

    /// <summary>The engine called <paramref name="name"/> (case-insensitive).</summary>
    public static FrozenPrefixEngine Parse(string name)
    {
        foreach (var engine in Enum.GetValues<FrozenPrefixEngine>())
            if (string.Equals(engine.Name(), name, StringComparison.OrdinalIgnoreCase)) return engine;
        throw new ArgumentException($"Unknown frozen-prefix engine '{name}'; use one of {string.Join(", ", Names)}.", nameof(name));
    }
}
