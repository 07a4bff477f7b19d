using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The trainable tensors of one ONNX node (a Conv's weight and bias, a BatchNormalization's scale and shift, ...), or of the new head.
/// Groups are listed in topological order, so "freeze the first k groups" freezes the network from the input up.
/// </summary>
public sealed class OnnxParameterGroup
{
    private readonly OnnxTorchModule _module;

    internal OnnxParameterGroup(OnnxTorchModule module, int index, string nodeName, string opType, IReadOnlyList<string> tensorNames, bool isHead)
    {
        _module = module;
        Index = index;
        NodeName = nodeName;
        OpType = opType;
        TensorNames = tensorNames;
        IsHead = isHead;
    }

    /// <summary>Position in topological order (0 = nearest the input).</summary>
    public int Index { get; }

    /// <summary>The ONNX node's name (its first output's name when the node has none), or the head's Gemm node name.</summary>
    public string NodeName { get; }

    public string OpType { get; }

    /// <summary>ONNX initializer names of the tensors (the head's as written by <see cref="OnnxTorchModule.ToOnnx"/>).</summary>
    public IReadOnlyList<string> TensorNames { get; }

    /// <summary>True for the new classification head.</summary>
    public bool IsHead { get; }

    /// <summary>The current parameter objects (looked up each time, so they stay right after the module moves device).</summary>
    public IReadOnlyList<Parameter> Parameters => TensorNames.Select(_module.ParameterOf).ToList();

    public long ElementCount => Parameters.Sum(p => p.numel());

    /// <summary>Whether the optimizer may change these tensors (requires_grad). A frozen BatchNormalization group also keeps
    /// its running statistics and uses them even in training mode, while <see cref="OnnxTorchModule.FrozenBatchNormInEvalMode"/> is on.</summary>
    public bool Trainable
    {
        get => Parameters.All(p => p.requires_grad);
        set { foreach (var p in Parameters) p.requires_grad = value; }
    }

    public override string ToString() => $"#{Index} {OpType} '{NodeName}' ({string.Join(", ", TensorNames)}){(Trainable ? "" : " frozen")}";
}
