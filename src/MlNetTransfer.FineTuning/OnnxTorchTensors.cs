using System.Runtime.InteropServices;
using Google.Protobuf;
using MlNetTransfer.Backbones.Onnx.Proto;
using TorchSharp;
using static TorchSharp.torch;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.FineTuning;

/// <summary>Conversions between ONNX <see cref="TensorProto"/> and TorchSharp tensors, keeping the element type.</summary>
internal static class OnnxTorchTensors
{
    /// <summary>The TorchSharp element type for an ONNX one; throws for types libtorch has no equivalent of (strings, unsigned 16/32/64-bit).</summary>
    public static ScalarType ToScalarType(int onnxType, string what) => (DataType)onnxType switch
    {
        DataType.Float => ScalarType.Float32,
        DataType.Double => ScalarType.Float64,
        DataType.Float16 => ScalarType.Float16,
        DataType.Bfloat16 => ScalarType.BFloat16,
        DataType.Int64 => ScalarType.Int64,
        DataType.Int32 => ScalarType.Int32,
        DataType.Int16 => ScalarType.Int16,
        DataType.Int8 => ScalarType.Int8,
        DataType.Uint8 => ScalarType.Byte,
        DataType.Bool => ScalarType.Bool,
        var other => throw new MlNetTransferException($"{what}: element type {other} has no TorchSharp equivalent."),
    };

    public static DataType ToOnnxType(ScalarType type) => type switch
    {
        ScalarType.Float32 => DataType.Float,
        ScalarType.Float64 => DataType.Double,
        ScalarType.Float16 => DataType.Float16,
        ScalarType.BFloat16 => DataType.Bfloat16,
        ScalarType.Int64 => DataType.Int64,
        ScalarType.Int32 => DataType.Int32,
        ScalarType.Int16 => DataType.Int16,
        ScalarType.Int8 => DataType.Int8,
        ScalarType.Byte => DataType.Uint8,
        ScalarType.Bool => DataType.Bool,
        var other => throw new ArgumentException($"TorchSharp type {other} has no ONNX equivalent here."),
    };

    /// <summary>A new tensor (not requiring grad) holding the values of <paramref name="proto"/>, on <paramref name="device"/>.</summary>
    public static Tensor ToTorch(TensorProto proto, Device? device = null)
    {
        var what = $"Tensor '{proto.Name}'";
        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
            throw new MlNetTransferException($"{what} keeps its data in an external file, which is not supported; save the model with its weights inside.");
        var type = ToScalarType(proto.DataType, what);
        var shape = proto.Dims.ToArray();
        var count = shape.Aggregate(1L, (a, d) => a * d);
        var bytes = RawBytes(proto, type, count, what);
        var t = torch.empty(shape, type);
        if (count > 0) t.bytes = bytes;
        return device is null || device.type == DeviceType.CPU ? t : t.to(device, disposeAfter: true);
    }

    /// <summary>The values of <paramref name="tensor"/> as an ONNX initializer named <paramref name="name"/> (raw_data, little-endian).</summary>
    public static TensorProto ToOnnx(Tensor tensor, string name)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        var proto = new TensorProto { Name = name, DataType = (int)ToOnnxType(cpu.dtype) };
        proto.Dims.AddRange(cpu.shape);
        proto.RawData = ByteString.CopyFrom(cpu.bytes);
        return proto;
    }

    static byte[] RawBytes(TensorProto p, ScalarType type, long count, string what)
    {
        var size = ElementSize(type);
        byte[] bytes;
        if (!p.RawData.IsEmpty) bytes = p.RawData.ToByteArray();
        else bytes = type switch
        {
            ScalarType.Float32 => MemoryMarshal.AsBytes(p.FloatData.ToArray().AsSpan()).ToArray(),
            ScalarType.Float64 => MemoryMarshal.AsBytes(p.DoubleData.ToArray().AsSpan()).ToArray(),
            ScalarType.Int64 => MemoryMarshal.AsBytes(p.Int64Data.ToArray().AsSpan()).ToArray(),
            ScalarType.Int32 => MemoryMarshal.AsBytes(p.Int32Data.ToArray().AsSpan()).ToArray(),
            // ONNX stores the narrow types one element per int32_data entry (float16/bfloat16 as their bit pattern).
            ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 =>
                MemoryMarshal.AsBytes(p.Int32Data.Select(v => (ushort)v).ToArray().AsSpan()).ToArray(),
            ScalarType.Int8 or ScalarType.Byte or ScalarType.Bool => p.Int32Data.Select(v => (byte)v).ToArray(),
            _ => throw new MlNetTransferException($"{what}: element type {type} is not supported."),
        };
        if (bytes.LongLength != count * size)
            throw new MlNetTransferException($"{what}: holds {bytes.LongLength} bytes, but shape [{string.Join(",", p.Dims)}] of {type} needs {count * size}.");
        return bytes;
    }

    static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };
}
