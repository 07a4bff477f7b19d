using System.Runtime.InteropServices;
using Google.Protobuf;
using MlNetTransfer.Backbones.Onnx.Proto;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// ONNX linear quantization of constant tensors: <c>q = saturate(round(x / scale) + zero_point)</c> and
/// <c>x = (q − zero_point) · scale</c>, per tensor, per channel (<c>axis</c>) or per block (<c>axis</c> + <c>block_size</c>),
/// with the same float32 arithmetic ONNX Runtime uses.
/// </summary>
internal static class QuantizedTensors
{
    /// <summary>The integer types a tensor can be linearly quantized to (and the zero point of an activation can have).</summary>
    public static bool IsQuantizedType(DataType type) => type is DataType.Int8 or DataType.Uint8 or DataType.Int16 or DataType.Uint16;

    /// <summary>Smallest and largest value of a quantized integer type.</summary>
    public static (long Min, long Max) Range(DataType type) => type switch
    {
        DataType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        DataType.Uint8 => (byte.MinValue, byte.MaxValue),
        DataType.Int16 => (short.MinValue, short.MaxValue),
        DataType.Uint16 => (ushort.MinValue, ushort.MaxValue),
        DataType.Int32 => (int.MinValue, int.MaxValue),
        _ => throw new MlNetTransferException($"{type} is not a linear-quantization integer type (int8, uint8, int16, uint16, int32)."),
    };

    /// <summary>
    /// Dequantizes a constant: <c>(q − zero_point) · scale</c>. A one-element <paramref name="scale"/> is per tensor;
    /// otherwise it runs along <paramref name="axis"/> (per channel) or, with <paramref name="blockSize"/> &gt; 0, holds one
    /// value per block of that many elements along the axis.
    /// </summary>
    public static float[] Dequantize(TensorProto quantized, TensorProto scale, TensorProto? zeroPoint, long axis = 1, long blockSize = 0)
    {
        var type = (DataType)quantized.DataType;
        if (!IsQuantizedType(type) && type != DataType.Int32)
            throw new MlNetTransferException($"Tensor '{quantized.Name}' has type {type}; only int8, uint8, int16, uint16 and int32 tensors can be dequantized.");
        if (zeroPoint is not null && zeroPoint.DataType != quantized.DataType)
            throw new MlNetTransferException($"Tensor '{quantized.Name}' is {type} but its zero point '{zeroPoint.Name}' is {(DataType)zeroPoint.DataType}.");
        var values = OnnxTensors.ToInt64s(quantized);
        var scales = OnnxTensors.ToFloats(scale);
        var zeroPoints = zeroPoint is null ? new long[scales.Length] : OnnxTensors.ToInt64s(zeroPoint);
        if (zeroPoints.Length != scales.Length)
            throw new MlNetTransferException($"Tensor '{quantized.Name}': scale '{scale.Name}' has {scales.Length} values but zero point '{zeroPoint!.Name}' has {zeroPoints.Length}.");
        var index = ParameterIndex(quantized, scales.Length, axis, blockSize, scale.Name);
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            var k = index(i);
            result[i] = (float)(values[i] - zeroPoints[k]) * scales[k];
        }
        return result;
    }

    /// <summary>
    /// Quantizes float values to a constant tensor: <c>saturate(round_half_to_even(x / scale) + zero_point)</c>, with the
    /// same per-tensor / per-channel / per-block layout as <see cref="Dequantize"/>.
    /// </summary>
    public static TensorProto Quantize(string name, float[] values, long[] dims, float[] scales, long[] zeroPoints, DataType type,
        long axis = 1, long blockSize = 0)
    {
        if (!IsQuantizedType(type)) throw new MlNetTransferException($"Tensor '{name}': cannot quantize to {type}; use int8, uint8, int16 or uint16.");
        if (zeroPoints.Length != scales.Length) throw new ArgumentException($"Tensor '{name}': {scales.Length} scales but {zeroPoints.Length} zero points.");
        var shape = new TensorProto { Name = name, DataType = (int)type };
        shape.Dims.AddRange(dims);
        if (OnnxTensors.ElementCount(shape) != values.Length) throw new ArgumentException($"Tensor '{name}': {values.Length} values for shape [{string.Join(",", dims)}].");
        var index = ParameterIndex(shape, scales.Length, axis, blockSize, name + " scale");
        var (min, max) = Range(type);
        var q = new long[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            var k = index(i);
            var v = MathF.Round(values[i] / scales[k], MidpointRounding.ToEven) + (double)zeroPoints[k];
            q[i] = (long)Math.Clamp(v, min, max);
        }
        return FromIntegers(name, type, q, dims);
    }

    /// <summary>Integer values as a tensor of a quantized type (int8/uint8/int16/uint16/int32), stored as raw_data.</summary>
    public static TensorProto FromIntegers(string name, DataType type, long[] values, params long[] dims)
    {
        var (min, max) = Range(type);
        if (values.Any(v => v < min || v > max)) throw new ArgumentException($"Tensor '{name}': a value is outside the range of {type}.");
        byte[] raw = type switch
        {
            DataType.Int8 => values.Select(v => unchecked((byte)(sbyte)v)).ToArray(),
            DataType.Uint8 => values.Select(v => (byte)v).ToArray(),
            DataType.Int16 => MemoryMarshal.AsBytes(values.Select(v => (short)v).ToArray().AsSpan()).ToArray(),
            DataType.Uint16 => MemoryMarshal.AsBytes(values.Select(v => (ushort)v).ToArray().AsSpan()).ToArray(),
            DataType.Int32 => MemoryMarshal.AsBytes(values.Select(v => (int)v).ToArray().AsSpan()).ToArray(),
            _ => throw new ArgumentException($"Tensor '{name}': {type} is not an integer quantization type."),
        };
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.AddRange(dims);
        if (OnnxTensors.ElementCount(t) != values.Length) throw new ArgumentException($"Tensor '{name}': {values.Length} values for shape [{string.Join(",", dims)}].");
        return t;
    }

    /// <summary>Float values as a tensor of <paramref name="type"/> (float32 or float16, the scale types ONNX allows).</summary>
    public static TensorProto FromFloats(string name, DataType type, float[] values, params long[] dims)
    {
        if (type == DataType.Float) return OnnxTensors.FromFloats(name, values, dims);
        if (type != DataType.Float16) throw new MlNetTransferException($"Tensor '{name}': scales of type {type} are not supported (float or float16 only).");
        var halves = values.Select(v => (Half)v).ToArray();
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float16, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(halves.AsSpan())) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>Maps a flat element index to the index of its scale / zero point.</summary>
    private static Func<int, int> ParameterIndex(TensorProto tensor, int parameterCount, long axis, long blockSize, string scaleName)
    {
        if (parameterCount == 1 && blockSize <= 0) return _ => 0;
        var dims = tensor.Dims.ToArray();
        var rank = dims.Length;
        if (rank == 0) throw new MlNetTransferException($"Tensor '{tensor.Name}' is a scalar but its scale '{scaleName}' has {parameterCount} values.");
        var a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new MlNetTransferException($"Tensor '{tensor.Name}' has rank {rank}; quantization axis {axis} is out of range.");
        long inner = 1;
        for (var d = a + 1; d < rank; d++) inner *= dims[d];
        var axisDim = dims[a];
        if (blockSize <= 0)
        {
            if (parameterCount != axisDim)
                throw new MlNetTransferException($"Tensor '{tensor.Name}' has {axisDim} entries along axis {a} but its scale '{scaleName}' has {parameterCount} values.");
            return i => (int)(i / inner % axisDim);
        }
        var blocks = (axisDim + blockSize - 1) / blockSize;
        var outer = OnnxTensors.ElementCount(tensor) / (axisDim * inner);
        if (parameterCount != outer * blocks * inner)
            throw new MlNetTransferException($"Tensor '{tensor.Name}': block size {blockSize} along axis {a} needs {outer * blocks * inner} scales, '{scaleName}' has {parameterCount}.");
        return i =>
        {
            var o = i / (axisDim * inner);
            var along = i / inner % axisDim;
            var j = i % inner;
            return (int)((o * blocks + along / blockSize) * inner + j);
        };
    }
}
