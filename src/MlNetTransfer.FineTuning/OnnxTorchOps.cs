using MlNetTransfer.Backbones.Onnx.Proto;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The ONNX operators the TorchSharp converter runs, each compiled once per node into a kernel made of differentiable
/// TorchSharp calls. Hand-written because no .NET library turns ONNX into a trainable TorchSharp graph.
/// Semantics follow the ONNX operator specification per opset; attributes a kernel does not handle fail loudly.
/// </summary>
internal static partial class OnnxTorchOps
{
    // TorchSharp 0.107 passes a Scalar's native handle to libtorch without keeping the Scalar alive, and Tensor.add(Tensor)
    // makes a new one for alpha = 1 on every call: a GC during the call can finalize it and libtorch then reads freed
    // memory. A fine-tuning run failed that way after 22 epochs ("Node 'preprocess/normalize' (Add) failed ... toFloat").
    // Kernels therefore only use Scalars that stay reachable: these static ones, ones captured at compile time, or `using`.
    private static readonly Scalar ScalarOne = 1, Zero = 0;

    private static readonly Dictionary<string, Func<OnnxOpContext, OnnxKernel>> Compilers = new(StringComparer.Ordinal)
    {
        ["Conv"] = Conv,
        ["BatchNormalization"] = BatchNormalization,
        ["MaxPool"] = MaxPool,
        ["AveragePool"] = AveragePool,
        ["GlobalAveragePool"] = GlobalAveragePool,
        ["Gemm"] = Gemm,
        ["MatMul"] = MatMul,
        ["Dropout"] = Dropout,
        ["Relu"] = Relu,
        ["Sigmoid"] = Sigmoid,
        ["HardSigmoid"] = HardSigmoid,
        ["HardSwish"] = HardSwish,
        ["LeakyRelu"] = LeakyRelu,
        ["Clip"] = Clip,
        ["Add"] = ctx => Binary(ctx, (a, b) => a.add(b, ScalarOne)),
        ["Sub"] = ctx => Binary(ctx, (a, b) => a - b),
        ["Mul"] = ctx => Binary(ctx, (a, b) => a * b),
        ["Div"] = ctx => Binary(ctx, Divide),
        ["Softmax"] = Softmax,
        ["ReduceMean"] = ReduceMean,
        ["Identity"] = Identity,
        ["Flatten"] = Flatten,
        ["Reshape"] = Reshape,
        ["Transpose"] = Transpose,
        ["Squeeze"] = Squeeze,
        ["Unsqueeze"] = Unsqueeze,
        ["Concat"] = Concat,
        ["Shape"] = Shape,
        ["Gather"] = Gather,
        ["Slice"] = Slice,
        ["Cast"] = Cast,
        ["Pad"] = Pad,
        ["Constant"] = Constant,
        ["ConstantOfShape"] = ConstantOfShape,
    };

    /// <summary>Ops that only appear in quantized graphs; those must go through the dequantizer first.</summary>
    private static readonly HashSet<string> QuantizedOps = new(StringComparer.Ordinal)
    {
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "QLinearAdd",
        "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat", "QLinearSigmoid",
        "QLinearLeakyRelu", "QLinearSoftmax", "QGemm", "ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul",
    };

    /// <summary>The op types (default ONNX domain) the converter supports.</summary>
    public static IReadOnlyCollection<string> SupportedOps => Compilers.Keys;

    public static bool IsSupported(NodeProto node) => IsDefaultDomain(node.Domain) && Compilers.ContainsKey(node.OpType);

    internal static bool IsDefaultDomain(string domain) => domain is "" or "ai.onnx";

    internal static string Describe(NodeProto node) =>
        $"Node '{(node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault() ?? "?")}' ({(IsDefaultDomain(node.Domain) ? "" : node.Domain + ".")}{node.OpType})";

    /// <summary>Throws the user-facing error for a node the converter cannot run (quantized or unknown op).</summary>
    internal static void EnsureSupported(NodeProto node, int? opset)
    {
        if (IsSupported(node)) return;
        if (QuantizedOps.Contains(node.OpType))
            throw new MlNetTransferException(
                $"{Describe(node)}: '{node.OpType}' is a quantized op; fine-tuning needs a float graph, so dequantize the model first.");
        throw new MlNetTransferException(
            $"{Describe(node)}: op '{node.OpType}'{(IsDefaultDomain(node.Domain) ? "" : $" of domain '{node.Domain}'")}{(opset is { } v ? $" (opset {v})" : "")} is not supported by the TorchSharp converter. " +
            $"Supported: {string.Join(", ", SupportedOps.Order(StringComparer.Ordinal))}.");
    }

    internal static OnnxKernel Compile(OnnxOpContext ctx)
    {
        EnsureSupported(ctx.Node, ctx.Opset);
        return Compilers[ctx.Node.OpType](ctx);
    }

    // ---- helpers shared by the kernels ----

    internal static Tensor Required(Tensor?[] inputs, int index, OnnxOpContext ctx) =>
        index < inputs.Length && inputs[index] is { } t ? t
            : throw new MlNetTransferException($"{ctx.Describe}: required input {index} is missing.");

    internal static Tensor? Optional(Tensor?[] inputs, int index) => index < inputs.Length ? inputs[index] : null;

    /// <summary>Values of a small integer tensor (shapes, axes, pads), read on the CPU.</summary>
    internal static long[] ReadLongs(Tensor t)
    {
        using var c = t.to(ScalarType.Int64, CPU, copy: true);
        return c.data<long>().ToArray();
    }

    internal static double ReadScalar(Tensor t)
    {
        using var c = t.to(ScalarType.Float64, CPU, copy: true);
        if (c.numel() != 1) throw new ArgumentException($"expected one value, got {c.numel()}");
        return c.data<double>()[0];
    }

    internal static bool IsFloating(Tensor t) => t.dtype is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16;

    internal static long NormalizeAxis(long axis, long rank, OnnxOpContext ctx)
    {
        var a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.Max(rank, 1) && !(rank == 0 && a == 0))
            throw new MlNetTransferException($"{ctx.Describe}: axis {axis} is out of range for a tensor of rank {rank}.");
        return a;
    }

    private static Tensor?[] One(Tensor t) => [t];
}
