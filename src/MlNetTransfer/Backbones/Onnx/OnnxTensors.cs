using System.Runtime.InteropServices;
using Google.Protobuf;
using MlNetTransfer.Backbones.Onnx.Proto;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Conversions between <see cref="TensorProto"/> and .NET arrays (raw_data or the typed fields, as ONNX allows both).</summary>
internal static class OnnxTensors
{
    public static TensorProto FromFloats(string name, float[] values, params long[] dims) => FromValues(name, DataType.Float, values, dims);

    public static TensorProto FromInt64s(string name, long[] values, params long[] dims) => FromValues(name, DataType.Int64, values, dims);

    public static TensorProto FromInt32s(string name, int[] values, params long[] dims) => FromValues(name, DataType.Int32, values, dims);

    private static TensorProto FromValues<T>(string name, DataType type, T[] values, long[] dims) where T : unmanaged
    {
        CheckCount(name, values.Length, dims);
        var t = new TensorProto { Name = name, DataType = (int)type };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    public static TensorProto FromBytes(string name, DataType type, byte[] values, params long[] dims)
    {
        if (type is not (DataType.Uint8 or DataType.Int8))
            throw new ArgumentException($"FromBytes takes uint8/int8, not {type}.", nameof(type));
        CheckCount(name, values.Length, dims);
        var t = new TensorProto { Name = name, DataType = (int)type };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(values);
        return t;
    }

    public static long ElementCount(TensorProto t) => t.Dims.Aggregate(1L, (a, d) => a * d);

    public static long[] Shape(TensorProto t) => t.Dims.ToArray();

    /// <summary>Any numeric tensor as float32 values (int8/uint8 as their integer values, not dequantized).</summary>
    public static float[] ToFloats(TensorProto t)
    {
        var n = checked((int)ElementCount(t));
        var raw = t.RawData.Span;
        var type = (DataType)t.DataType;
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw new MlNetTransferException($"Tensor '{t.Name}' keeps its data in an external file, which is not supported; save the model with its weights inside.");
        float[] result = new float[n];
        switch (type)
        {
            case DataType.Float:
                if (!raw.IsEmpty) MemoryMarshal.Cast<byte, float>(raw).CopyTo(result);
                else t.FloatData.CopyTo(result, 0);
                break;
            case DataType.Double:
                if (!raw.IsEmpty) { var d = MemoryMarshal.Cast<byte, double>(raw); for (int i = 0; i < n; i++) result[i] = (float)d[i]; }
                else for (int i = 0; i < n; i++) result[i] = (float)t.DoubleData[i];
                break;
            case DataType.Float16:
                if (!raw.IsEmpty) { var h = MemoryMarshal.Cast<byte, Half>(raw); for (int i = 0; i < n; i++) result[i] = (float)h[i]; }
                else for (int i = 0; i < n; i++) result[i] = (float)BitConverter.UInt16BitsToHalf((ushort)t.Int32Data[i]);
                break;
            case DataType.Int8:
                if (!raw.IsEmpty) { var b = MemoryMarshal.Cast<byte, sbyte>(raw); for (int i = 0; i < n; i++) result[i] = b[i]; }
                else for (int i = 0; i < n; i++) result[i] = (sbyte)t.Int32Data[i];
                break;
            case DataType.Uint8:
                if (!raw.IsEmpty) for (int i = 0; i < n; i++) result[i] = raw[i];
                else for (int i = 0; i < n; i++) result[i] = (byte)t.Int32Data[i];
                break;
            case DataType.Int16:
                if (!raw.IsEmpty) { var s = MemoryMarshal.Cast<byte, short>(raw); for (int i = 0; i < n; i++) result[i] = s[i]; }
                else for (int i = 0; i < n; i++) result[i] = (short)t.Int32Data[i];
                break;
            case DataType.Uint16:
                if (!raw.IsEmpty) { var s = MemoryMarshal.Cast<byte, ushort>(raw); for (int i = 0; i < n; i++) result[i] = s[i]; }
                else for (int i = 0; i < n; i++) result[i] = (ushort)t.Int32Data[i];
                break;
            case DataType.Int32:
                if (!raw.IsEmpty) { var s = MemoryMarshal.Cast<byte, int>(raw); for (int i = 0; i < n; i++) result[i] = s[i]; }
                else for (int i = 0; i < n; i++) result[i] = t.Int32Data[i];
                break;
            case DataType.Int64:
                var l = ToInt64s(t); for (int i = 0; i < n; i++) result[i] = l[i];
                break;
            default:
                throw new MlNetTransferException($"Tensor '{t.Name}' has data type {type}, which cannot be read as numbers.");
        }
        return result;
    }

    public static long[] ToInt64s(TensorProto t)
    {
        var n = checked((int)ElementCount(t));
        var raw = t.RawData.Span;
        switch ((DataType)t.DataType)
        {
            case DataType.Int64:
                return !raw.IsEmpty ? MemoryMarshal.Cast<byte, long>(raw).ToArray() : t.Int64Data.ToArray();
            case DataType.Int32:
                return (!raw.IsEmpty ? MemoryMarshal.Cast<byte, int>(raw).ToArray() : t.Int32Data.ToArray()).Select(v => (long)v).ToArray();
            default:
                return ToFloats(t).Select(v => (long)v).ToArray();
        }
    }

    private static void CheckCount(string name, int count, long[] dims)
    {
        var expected = dims.Aggregate(1L, (a, d) => a * d);
        if (expected != count) throw new ArgumentException($"Tensor '{name}': {count} values for shape [{string.Join(",", dims)}].");
    }
}
