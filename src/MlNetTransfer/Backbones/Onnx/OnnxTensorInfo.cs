using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>A graph input or output as declared in the model.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="ElementType">ONNX element type in lower case, e.g. <c>float</c>, <c>uint8</c>.</param>
/// <param name="Dims">Dimensions; -1 where symbolic or unknown; empty when the rank is unknown.</param>
/// <param name="Shape">Dimensions as text with symbolic names kept, e.g. <c>[batch_size,3,224,224]</c>.</param>
public sealed record OnnxTensorInfo(string Name, string ElementType, long[] Dims, string Shape)
{
    internal static OnnxTensorInfo From(ValueInfoProto value)
    {
        var tensor = value.Type?.TensorType;
        var type = tensor is { ElemType: > 0 } ? ElementTypeName((TensorProto.Types.DataType)tensor.ElemType) : "unknown";
        var dims = OnnxNodes.Dims(value) ?? [];
        var shape = tensor?.Shape is null
            ? "?"
            : "[" + string.Join(",", tensor.Shape.Dim.Select(d =>
                d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString()
                : d.DimParam is { Length: > 0 } p ? p : "?")) + "]";
        return new OnnxTensorInfo(value.Name, type, dims, shape);
    }

    internal static string ElementTypeName(TensorProto.Types.DataType type) => type.ToString().ToLowerInvariant();

    public override string ToString() => $"{Name} {ElementType} {Shape}";
}
