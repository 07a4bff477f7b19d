using System.Buffers.Binary;
using System.Text.Json.Nodes;

namespace MlNetTransfer.Backbones.Importers;

/// <summary>
/// Decodes one weightsManifest group (its shards concatenated) into float32 weights, the way tfjs-core's
/// <c>io.decodeWeights</c> does: values follow each other in manifest order, little-endian; float32 and int32 as
/// stored; <c>quantization: {dtype: uint8|uint16, min, scale}</c> as <c>q·scale + min</c> (computed in double, then
/// rounded once to float32, as JavaScript does); <c>quantization: {dtype: float16}</c> as IEEE half floats.
/// tfjs-converter also writes <c>original_dtype</c> in the quantization entry; it is honoured (float32 or int32).
/// </summary>
internal static class TfjsWeightDecoder
{
    public static List<TfjsWeight> Decode(JsonArray specs, byte[] data, string shardNames)
    {
        var result = new List<TfjsWeight>(specs.Count);
        long offset = 0;
        foreach (var spec in specs)
        {
            var name = spec.Get("name").AsString() ?? throw new MlNetTransferException($"weights in {shardNames}: a weight has no name.");
            long[] shape;
            try
            {
                shape = spec.Get("shape").AsDims() ?? throw new FormatException("no shape");
            }
            catch (FormatException e)
            {
                throw new MlNetTransferException($"weight '{name}' in {shardNames}: bad shape ({e.Message}).", e);
            }
            if (shape.Any(d => d < 0)) throw new MlNetTransferException($"weight '{name}' in {shardNames}: shape [{string.Join(",", shape)}] has an unknown dimension.");
            var dtype = spec.Get("dtype").AsString() ?? "float32";
            int count = checked((int)shape.Aggregate(1L, (a, d) => a * d));
            var q = spec.Get("quantization");
            // tfjs-converter writes the dequantized type as the weight's dtype and again as original_dtype.
            if (q is not null) dtype = q.Get("original_dtype").AsString() ?? (dtype is "uint8" or "uint16" or "float16" ? "float32" : dtype);
            var storage = q is null ? dtype : q.Get("dtype").AsString() ?? throw new MlNetTransferException($"weight '{name}' in {shardNames}: quantization has no dtype.");
            int width = storage switch
            {
                "float32" or "int32" => 4,
                "uint16" or "float16" => 2,
                "uint8" or "bool" => 1,
                _ => throw new MlNetTransferException($"weight '{name}' in {shardNames}: {(q is null ? "dtype" : "quantization dtype")} '{storage}' is not supported (float32, int32, bool, or uint8/uint16/float16 quantization)."),
            };
            if (dtype is not ("float32" or "int32" or "bool"))
                throw new MlNetTransferException($"weight '{name}' in {shardNames}: dtype '{dtype}' cannot be a layer weight.");
            long bytes = (long)count * width;
            if (offset + bytes > data.Length)
                throw new MlNetTransferException($"weight '{name}': the shards {shardNames} hold {data.Length} bytes, fewer than the manifest needs ({offset + bytes}); a shard is truncated or missing.");
            var span = data.AsSpan(checked((int)offset), checked((int)bytes));
            var values = new float[count];
            switch (storage)
            {
                case "float32":
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]);
                    break;
                case "int32":
                    for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadInt32LittleEndian(span[(i * 4)..]);
                    break;
                case "bool":
                    for (int i = 0; i < count; i++) values[i] = span[i] != 0 ? 1f : 0f;
                    break;
                case "float16":
                    for (int i = 0; i < count; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(span[(i * 2)..]);
                    break;
                default: // uint8, uint16 affine quantization
                    double scale = q.Get("scale").AsDouble() ?? throw new MlNetTransferException($"weight '{name}' in {shardNames}: {storage} quantization without 'scale'.");
                    double min = q.Get("min").AsDouble() ?? throw new MlNetTransferException($"weight '{name}' in {shardNames}: {storage} quantization without 'min'.");
                    bool toInt = dtype == "int32";
                    for (int i = 0; i < count; i++)
                    {
                        int v = storage == "uint8" ? span[i] : BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]);
                        double x = v * scale + min;
                        values[i] = toInt ? (float)Math.Floor(x + 0.5) /* JavaScript Math.round */ : (float)x;
                    }
                    break;
            }
            result.Add(new TfjsWeight(name, shape, values));
            offset += bytes;
        }
        return result;
    }
}
