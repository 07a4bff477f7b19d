using MlNetTransfer.Backbones.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace MlNetTransfer.FineTuning;

/// <summary>Where a frozen prefix (no gradient reaches it) runs during fine-tuning.</summary>
public enum FrozenPrefixEngine
{
    /// <summary>ONNX Runtime runs the prefix's float graph with the current weights: its CPU kernels (fused, NCHWc-blocked)
    /// are faster for inference than libtorch's, and nothing of it needs autograd.</summary>
    OnnxRuntime,

    /// <summary>libtorch runs the whole network, the prefix without recording gradients.</summary>
    TorchSharp,
}

/// <summary>
/// Computes, for a batch of pixels, the values that cross a split of an <see cref="OnnxTorchModule"/> into its trainable
/// suffix: the prefix exported to ONNX and run by ONNX Runtime, or the module's own <see cref="OnnxTorchModule.ForwardPrefix"/>.
/// Valid only while the prefix's weights do not change (one phase of a run; see <see cref="OnnxTorchModule.IsPrefixFixed"/>).
/// </summary>
internal sealed class FrozenPrefix : IDisposable
{
    private readonly OnnxTorchModule _module;
    private readonly OnnxForwardSplit _split;
    private readonly InferenceSession? _session;
    private readonly string[] _outputs;
    private readonly string _input;

    private FrozenPrefix(OnnxTorchModule module, OnnxForwardSplit split, InferenceSession? session, string[] outputs)
    {
        _module = module;
        _split = split;
        _session = session;
        _outputs = outputs;
        _input = module.InputNames.Single();
    }

    public OnnxForwardSplit Split => _split;

    /// <summary>The engine that actually runs the prefix.</summary>
    public FrozenPrefixEngine Engine => _session is null ? FrozenPrefixEngine.TorchSharp : FrozenPrefixEngine.OnnxRuntime;

    /// <summary>A runner for <paramref name="split"/>'s prefix. ONNX Runtime is used only when asked, when the prefix is fixed,
    /// holds at least one layer with weights and the module runs on the CPU; otherwise the module runs it itself.</summary>
    public static FrozenPrefix Create(OnnxTorchModule module, OnnxForwardSplit split, FrozenPrefixEngine engine, int? threads)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(split);
        var outputs = module.ComputedCrossing(split).ToArray();
        var useOrt = engine == FrozenPrefixEngine.OnnxRuntime && split.FirstGroup > 0 && outputs.Length > 0
            && module.InputNames.Count == 1 && module.Device.type == DeviceType.CPU && module.IsPrefixFixed(split);
        if (!useOrt) return new FrozenPrefix(module, split, null, outputs);
        using var options = new SessionOptions
        {
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads ?? 0,
        };
        var session = new InferenceSession(OnnxModelFile.ToBytes(module.ToOnnxPrefix(split)), options);
        return new FrozenPrefix(module, split, session, outputs);
    }

    /// <summary>The crossing values of <paramref name="count"/> images of [3, <paramref name="height"/>, <paramref name="width"/>]
    /// pixels, as new tensors in the current dispose scope.</summary>
    public IReadOnlyDictionary<string, Tensor> Run(float[] pixels, int count, int height, int width)
    {
        if (_session is null)
        {
            using var noGrad = torch.no_grad();
            return _module.ForwardPrefix(torch.tensor(pixels, [count, 3, height, width]), _split);
        }
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [count, 3, height, width]);
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, [_input], [input], _outputs);
        var crossing = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int k = 0; k < _outputs.Length; k++)
        {
            var info = results[k].GetTensorTypeAndShape();
            if (info.ElementDataType != TensorElementType.Float)
                throw new MlNetTransferException($"The frozen prefix's output '{_outputs[k]}' is {info.ElementDataType}; only float values can cross into the trained layers.");
            crossing[_outputs[k]] = torch.tensor(results[k].GetTensorDataAsSpan<float>().ToArray(), info.Shape);
        }
        foreach (var name in _split.Tensors.Where(t => !crossing.ContainsKey(t)))
            crossing[name] = _module.StateAlias(name) ?? throw new InvalidOperationException($"The value '{name}' crossing the split is neither computed nor held by the module.");
        return crossing;
    }

    public void Dispose() => _session?.Dispose();
}
