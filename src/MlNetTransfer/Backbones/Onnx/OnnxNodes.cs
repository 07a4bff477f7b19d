using Google.Protobuf;
using MlNetTransfer.Backbones.Onnx.Proto;
using AttrType = MlNetTransfer.Backbones.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Small constructors for ONNX nodes, attributes and value infos, and attribute look-ups.</summary>
internal static class OnnxNodes
{
    public static NodeProto Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs,
        params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = opType, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    public static AttributeProto Attr(string name, long value) => new() { Name = name, Type = AttrType.Int, I = value };
    public static AttributeProto Attr(string name, float value) => new() { Name = name, Type = AttrType.Float, F = value };
    public static AttributeProto Attr(string name, string value) => new() { Name = name, Type = AttrType.String, S = ByteString.CopyFromUtf8(value) };
    public static AttributeProto Attr(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttrType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
    public static AttributeProto Attr(string name, params float[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttrType.Floats };
        a.Floats.AddRange(values);
        return a;
    }
    public static AttributeProto Attr(string name, TensorProto value) => new() { Name = name, Type = AttrType.Tensor, T = value };

    public static AttributeProto? Find(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
    public static long GetInt(NodeProto node, string name, long fallback) => Find(node, name) is { } a ? a.I : fallback;
    public static float GetFloat(NodeProto node, string name, float fallback) => Find(node, name) is { } a ? a.F : fallback;
    public static string GetString(NodeProto node, string name, string fallback) => Find(node, name) is { } a ? a.S.ToStringUtf8() : fallback;
    public static long[] GetInts(NodeProto node, string name, long[] fallback) => Find(node, name) is { } a ? a.Ints.ToArray() : fallback;

    /// <summary>A tensor value info; a dimension below zero is written as a symbolic one (e.g. the batch size "N").</summary>
    public static ValueInfoProto TensorValue(string name, TensorProto.Types.DataType type, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d >= 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>Dimensions of a tensor value info; symbolic or unknown dimensions are -1; null when the rank is unknown.</summary>
    public static long[]? Dims(ValueInfoProto value)
    {
        var shape = value.Type?.TensorType?.Shape;
        if (shape is null) return null;
        return shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : -1L).ToArray();
    }
}
