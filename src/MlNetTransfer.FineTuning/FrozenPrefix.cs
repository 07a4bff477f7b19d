using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace MlNetTransfer.FineTuning;

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

    private FrozenPrefix(OnnxTorchModule module, OnnxForwardSplit split, InferenceSession? session, string[] outputs, ModelProto? int8 = null)
    {
        _module = module;
        _split = split;
        _session = session;
        _outputs = outputs;
        _input = module.InputNames.Single();
        Int8Model = int8;
    }

    public OnnxForwardSplit Split => _split;

    /// <summary>The engine that actually runs the prefix.</summary>
    public FrozenPrefixEngine Engine => _session is null ? FrozenPrefixEngine.TorchSharp
        : Int8Model is null ? FrozenPrefixEngine.OnnxRuntime : FrozenPrefixEngine.OnnxRuntimeInt8;

    /// <summary>The int8 prefix graph ONNX Runtime runs (<see cref="FrozenPrefixEngine.OnnxRuntimeInt8"/>), else null.</summary>
    public ModelProto? Int8Model { get; }

    /// <summary>Why <see cref="FrozenPrefixEngine.OnnxRuntimeInt8"/> was asked for and the float twin runs instead, else null.</summary>
    public string? Int8Fallback { get; private init; }

    /// <summary>A runner for <paramref name="split"/>'s prefix. ONNX Runtime is used only when asked, when the prefix is fixed,
    /// holds at least one layer with weights and the module runs on the CPU; otherwise the module runs it itself. The int8
    /// graph (<see cref="OnnxTorchModule.QuantizedFeaturizer"/>) is used only when asked and <paramref name="pretrained"/>
    /// (no layer of the prefix has trained yet); otherwise the float twin.</summary>
    public static FrozenPrefix Create(OnnxTorchModule module, OnnxForwardSplit split, FrozenPrefixEngine engine, int? threads, bool pretrained = false)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(split);
        var outputs = module.ComputedCrossing(split).ToArray();
        var useOrt = engine != FrozenPrefixEngine.TorchSharp && split.FirstGroup > 0 && outputs.Length > 0
            && module.InputNames.Count == 1 && module.Device.type == DeviceType.CPU && module.IsPrefixFixed(split);
        if (!useOrt) return new FrozenPrefix(module, split, null, outputs);
        using var options = new SessionOptions
        {
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads ?? 0,
        };
        string? fallback = null;
        if (engine == FrozenPrefixEngine.OnnxRuntimeInt8)
        {
            ModelProto? int8 = null;
            if (module.QuantizedFeaturizer is not { } quantized) fallback = "the network is not the dequantized twin of an int8 backbone";
            else if (!pretrained) fallback = "layers of the prefix have trained in an earlier phase";
            else int8 = QuantizedPrefix.Cut(quantized, outputs, out fallback);
            if (int8 is not null) return new FrozenPrefix(module, split, new InferenceSession(OnnxModelFile.ToBytes(int8), options), outputs, int8);
        }
        var session = new InferenceSession(OnnxModelFile.ToBytes(module.ToOnnxPrefix(split)), options);
        return new FrozenPrefix(module, split, session, outputs) { Int8Fallback = fallback };
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
