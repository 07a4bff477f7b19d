using Google.Protobuf;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Export;

/// <summary>Appends a head's steps to a graph as plain ONNX operators (opset 7 and later), computing in float32 what
/// ML.NET computes for the zip's Score.</summary>
internal sealed class OnnxHeadWriter(GraphProto graph)
{
    private readonly OnnxNamer _namer = new(graph);

    /// <summary>Writes the steps on <paramref name="embedding"/>; returns the tensor holding the scores [N, C].</summary>
    public string Write(SavedHead head, string embedding, int classes, string source)
    {
        var x = embedding;
        foreach (var step in head.Steps)
        {
            switch (step)
            {
                case IdentityStep:
                    break;
                case AffineStep a:
                    x = Op("Flatten", "head/flatten", [x], Attr("axis", 1L));
                    if (a.Offset.Length > 0) x = Op("Sub", "head/center", [x, Const("head/offset", a.Offset, a.Offset.Length)]);
                    x = Op("Mul", "head/scale", [x, Const("head/scale_factor", a.Scale, a.Scale.Length)]);
                    break;
                case L2NormStep:
                    x = Op("Flatten", "head/flatten", [x], Attr("axis", 1L));
                    x = Op("LpNormalization", "head/l2", [x], Attr("axis", 1L), Attr("p", 2L));
                    break;
                case LinearStep l:
                    if (l.Weights.Length != classes)
                        throw new MlNetTransferException($"{source}: its head has {l.Weights.Length} classes but the model lists {classes} class names.");
                    x = Linear(x, l);
                    break;
            }
        }
        return x;
    }

    private string Linear(string x, LinearStep l)
    {
        int c = l.Weights.Length, d = l.Weights[0].Length;
        var wt = new float[d * c]; // W transposed: x [N, D] · Wᵀ [D, C]
        for (int k = 0; k < c; k++)
            for (int j = 0; j < d; j++) wt[j * c + k] = l.Weights[k][j];
        x = Op("Flatten", "head/flatten", [x], Attr("axis", 1L));
        var z = Op("MatMul", "head/matmul", [x, Const("head/weights", wt, d, c)]);
        z = Op("Add", "head/bias", [z, Const("head/bias_values", l.Bias, c)]);
        switch (l.Output)
        {
            case LinearOutput.Raw:
                return z;
            case LinearOutput.Softmax:
                return Op("Softmax", "head/softmax", [z], Attr("axis", 1L));
            default:
                // ML.NET's Platt calibrator: p = 1 / (1 + exp(a·z + b)) = sigmoid(−a·z − b); then each row divided by its sum.
                var negSlope = l.PlattSlope!.Select(v => -v).ToArray();
                var negOffset = l.PlattOffset!.Select(v => -v).ToArray();
                var t = Op("Mul", "head/platt_slope", [z, Const("head/platt_neg_slope", negSlope, c)]);
                t = Op("Add", "head/platt_offset", [t, Const("head/platt_neg_offset", negOffset, c)]);
                var p = Op("Sigmoid", "head/platt", [t]);
                var sum = Op("MatMul", "head/row_sum", [p, Const("head/ones", Enumerable.Repeat(1f, c).ToArray(), c, 1)]);
                return Op("Div", "head/normalize", [p, sum]);
        }
    }

    /// <summary>The class name of each row's highest score, as a string tensor [N].</summary>
    public string ArgMaxLabel(string scores, IReadOnlyList<string> classes)
    {
        var index = Op("ArgMax", "label/argmax", [scores], Attr("axis", 1L), Attr("keepdims", 0L));
        var names = new TensorProto { Name = _namer.Fresh("label/class_names"), DataType = (int)DataType.String };
        names.Dims.Add(classes.Count);
        foreach (var n in classes) names.StringData.Add(ByteString.CopyFromUtf8(n));
        graph.Initializer.Add(names);
        return Op("Gather", "label/name", [names.Name, index], Attr("axis", 0L));
    }

    /// <summary>Renames the tensor a node produces (the head's own tensors only, so no other reference exists).</summary>
    public void Rename(string tensor, string name)
    {
        if (tensor == name) return;
        OnnxGraphEditing.Reserve(graph, name);
        OnnxGraphEditing.RenameTensor(graph, tensor, name);
    }

    private string Const(string name, float[] values, params long[] dims)
    {
        var n = _namer.Fresh(name);
        graph.Initializer.Add(OnnxTensors.FromFloats(n, values, dims));
        return n;
    }

    private string Op(string type, string name, string[] inputs, params AttributeProto[] attributes)
    {
        var n = _namer.Fresh(name);
        graph.Node.Add(Node(type, n, inputs, [n], attributes));
        return n;
    }
}
