using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// Cuts a pretrained network at an inner tensor and turns that tensor into a float <c>[N, D]</c> embedding:
/// 8-bit tensors are dequantized with their producer's output scale, 4-D maps are averaged over height and width
/// (dequantizing before averaging keeps the precision the 8-bit pooled vector has lost), everything the new
/// output does not need is pruned.
/// </summary>
internal static class OnnxGraphCutter
{
    /// <summary>Name of the single output of a cut model.</summary>
    public const string EmbeddingOutput = "embedding";

    /// <summary>Returns a new model whose only output is <c>embedding</c> float [N, D], computed from <paramref name="tensorName"/>.</summary>
    /// <param name="model">The pretrained network; it is not changed.</param>
    /// <param name="tensorName">The tensor to cut at, e.g. the top candidate of <see cref="OnnxInspector.Inspect(string, BackboneSpec?, int)"/>.</param>
    /// <param name="spec">Only used to size symbolic input dimensions when measuring the tensor; null means 224x224.</param>
    public static ModelProto Cut(ModelProto model, string tensorName, BackboneSpec? spec = null) =>
        CutAt(model, tensorName, EmbeddingOutput, spec, measured: null, softmax: false).Model;

    /// <summary>The cut model and the length of its output vector.</summary>
    internal sealed record CutResult(ModelProto Model, int Size);

    /// <summary>
    /// The cut, with the output named <paramref name="outputName"/>; <paramref name="measured"/> is the tensor's shape and
    /// type when already known (else it is measured); <paramref name="softmax"/> appends a softmax (to reuse the classifier).
    /// </summary>
    internal static CutResult CutAt(ModelProto model, string tensorName, string outputName, BackboneSpec? spec, ProbedTensor? measured, bool softmax)
    {
        if (model?.Graph is null) throw new MlNetTransferException("Cannot cut: the ONNX model has no graph.");
        var modelName = string.IsNullOrEmpty(model.Graph.Name) ? "ONNX model" : $"ONNX model '{model.Graph.Name}'";
        var original = new OnnxGraphIndex(model.Graph);
        if (string.IsNullOrWhiteSpace(tensorName) || !original.Exists(tensorName))
            throw new MlNetTransferException($"Cannot cut {modelName} at tensor '{tensorName}': the graph has no such tensor.{Suggest(original, tensorName)}");
        if (original.IsConstant(tensorName))
            throw new MlNetTransferException($"Cannot cut {modelName} at tensor '{tensorName}': it is a constant (a weight), not computed from the image.");

        measured ??= OnnxShapeProbe.Probe(model, [tensorName], spec)[tensorName];

        var result = model.Clone();
        var graph = result.Graph;
        var source = tensorName;
        if (source == outputName)
        {
            // The cut tensor already has the output's name: give it another so the new output can take it.
            source = new OnnxNamer(graph).Fresh(outputName + "_source");
            OnnxGraphEditing.RenameTensor(graph, outputName, source);
        }
        else OnnxGraphEditing.Reserve(graph, outputName);

        var size = AppendVector(result, source, outputName, measured, softmax, modelName, tensorName);
        graph.Output.Clear();
        graph.Output.Add(TensorValue(outputName, DataType.Float, -1, size));
        OnnxGraphEditing.Prune(graph);
        return new CutResult(result, size);
    }

    /// <summary>
    /// Appends to <paramref name="model"/>'s graph the nodes turning <paramref name="source"/> (shape and type
    /// <paramref name="measured"/>) into the float vector <paramref name="outputName"/> [N, D] — dequantize, pool, flatten,
    /// optionally softmax — and returns D. Graph outputs are left to the caller; <paramref name="outputName"/> must be free.
    /// </summary>
    internal static int AppendVector(ModelProto model, string source, string outputName, ProbedTensor measured, bool softmax,
        string modelName, string tensorName)
    {
        var graph = model.Graph;
        var index = new OnnxGraphIndex(graph);
        var plan = CutPlan.For(index, source, measured.Dims);
        var namer = new OnnxNamer(graph);
        var current = source;

        switch (measured.ElementType)
        {
            case TensorElementType.Float:
                break;
            case TensorElementType.UInt8 or TensorElementType.Int8:
                var q = OnnxQuantization.Find(index, source);
                var inputs = q.ZeroPoint is null ? new[] { current, q.Scale } : new[] { current, q.Scale, q.ZeroPoint };
                var dq = Node("DequantizeLinear", namer.Fresh("cut/dequantize"), inputs, [namer.Fresh("cut/dequantized")],
                    q.Axis is { } axis ? [Attr("axis", axis)] : []);
                if (OnnxGraphEditing.DefaultOpset(model) < 10) UseMicrosoftDomain(model, dq);
                graph.Node.Add(dq);
                current = dq.Output[0];
                break;
            case TensorElementType.Float16 or TensorElementType.Double or TensorElementType.BFloat16:
                current = Add(graph, Node("Cast", namer.Fresh("cut/to_float"), [current], [namer.Fresh("cut/float")], Attr("to", (long)DataType.Float)));
                break;
            default:
                throw new MlNetTransferException(
                    $"Cannot cut {modelName} at tensor '{tensorName}': it holds {measured.ElementType} values; an embedding must be float or 8-bit quantized.");
        }

        if (plan.Pooling == CutPooling.ChannelsLast)
            current = Add(graph, Node("Transpose", namer.Fresh("cut/to_nchw"), [current], [namer.Fresh("cut/nchw")], Attr("perm", 0L, 3, 1, 2)));
        if (plan.Pooling != CutPooling.None)
            current = Add(graph, Node("GlobalAveragePool", namer.Fresh("cut/pool"), [current], [namer.Fresh("cut/pooled")]));
        var flattened = softmax ? namer.Fresh("cut/flat") : outputName;
        current = Add(graph, Node("Flatten", namer.Fresh("cut/flatten"), [current], [flattened], Attr("axis", 1L)));
        if (softmax)
            Add(graph, Node("Softmax", namer.Fresh("cut/softmax"), [current], [outputName], Attr("axis", 1L)));

        return plan.EmbeddingSize;
    }

    private static string Add(GraphProto graph, NodeProto node)
    {
        graph.Node.Add(node);
        return node.Output[0];
    }

    /// <summary>Before opset 10 DequantizeLinear exists only as the onnxruntime contrib op.</summary>
    private static void UseMicrosoftDomain(ModelProto model, NodeProto node)
    {
        node.Domain = "com.microsoft";
        if (!model.OpsetImport.Any(o => o.Domain == "com.microsoft"))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
    }

    /// <summary>A hint listing tensors whose names contain the requested one (a typo or a missing prefix is common).</summary>
    private static string Suggest(OnnxGraphIndex graph, string tensorName)
    {
        if (string.IsNullOrWhiteSpace(tensorName)) return "";
        var similar = graph.Producer.Keys.Where(k => k.Contains(tensorName, StringComparison.OrdinalIgnoreCase)
                                                     || tensorName.Contains(k, StringComparison.OrdinalIgnoreCase) && k.Length >= 3)
            .Take(5).ToList();
        return similar.Count > 0
            ? $" Similar names: {string.Join(", ", similar.Select(s => $"'{s}'"))}."
            : " Run the inspect command to list embedding candidates.";
    }
}
