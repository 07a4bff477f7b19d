using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using static TorchSharp.torch;
using AttrType = MlNetTransfer.Backbones.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace MlNetTransfer.FineTuning;

/// <summary>Runs one compiled ONNX node: inputs in node order (null for an omitted optional input), outputs in node order.</summary>
internal delegate Tensor?[] OnnxKernel(Tensor?[] inputs, OnnxRunContext run);

/// <summary>What a kernel needs to know about the current forward pass.</summary>
internal sealed class OnnxRunContext
{
    /// <summary>The module is in training mode (dropout active, batch norm on batch statistics unless frozen).</summary>
    public required bool Training { get; init; }
}

/// <summary>Compile-time view of one node: its attributes (checked against what the kernel handles), opset and module hooks.</summary>
internal sealed class OnnxOpContext
{
    private readonly HashSet<string> _handled = new(StringComparer.Ordinal);

    public OnnxOpContext(NodeProto node, int opset, Device device, Func<bool>? batchNormFrozen = null, Func<string, bool>? isModuleState = null)
    {
        Node = node;
        Opset = opset;
        Device = device;
        BatchNormFrozen = batchNormFrozen ?? (() => false);
        IsModuleState = isModuleState ?? (_ => false);
    }

    public NodeProto Node { get; }
    public int Opset { get; }
    public Device Device { get; }

    /// <summary>True when this BatchNormalization node must stay in eval mode (its parameters are frozen).</summary>
    public Func<bool> BatchNormFrozen { get; }

    /// <summary>Whether a value name is a tensor the module owns (a buffer it may update in place, e.g. running statistics).</summary>
    public Func<string, bool> IsModuleState { get; }

    public string Describe => OnnxTorchOps.Describe(Node);

    public MlNetTransferException Unsupported(string what) =>
        new($"{Describe}: {what} is not supported by the TorchSharp converter.");

    /// <summary>Declares the attributes the kernel reads; any other attribute on the node makes it fail loudly.</summary>
    public void Handles(params string[] names)
    {
        _handled.UnionWith(names);
        foreach (var a in Node.Attribute)
            if (!_handled.Contains(a.Name))
                throw Unsupported($"attribute '{a.Name}'");
    }

    public bool Has(string name) => OnnxNodes.Find(Node, name) is not null;
    public long Int(string name, long fallback) => OnnxNodes.GetInt(Node, name, fallback);
    public float Float(string name, float fallback) => OnnxNodes.GetFloat(Node, name, fallback);
    public string String(string name, string fallback) => OnnxNodes.GetString(Node, name, fallback);
    public long[]? Ints(string name) => OnnxNodes.Find(Node, name) is { } a ? a.Ints.ToArray() : null;
    public float[]? Floats(string name) => OnnxNodes.Find(Node, name) is { } a ? a.Floats.ToArray() : null;
    public AttributeProto? Attribute(string name) => OnnxNodes.Find(Node, name);

    public AttrType TypeOf(string name) => OnnxNodes.Find(Node, name)?.Type ?? AttrType.Undefined;

    /// <summary>Input <paramref name="index"/> is present (given and not the empty name ONNX uses for an omitted optional input).</summary>
    public bool HasInput(int index) => index < Node.Input.Count && Node.Input[index].Length > 0;
}
