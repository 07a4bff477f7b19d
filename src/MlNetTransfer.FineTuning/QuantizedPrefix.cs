using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The backbone's own int8 graph as a frozen prefix: cut where fine-tuning's float twin is split, each crossing activation
/// dequantized under the float twin's name, so the trained suffix reads what the int8 network computes; and the same cut
/// put back in front of the trained suffix in the saved model, so prediction computes what training saw.
/// Relies on the dequantizer naming a quantized activation <c>T_quantized</c>'s float version <c>T</c>.
/// </summary>
internal static class QuantizedPrefix
{
    private const string QuantizedSuffix = Dequantizer.QuantizedSuffix;

    /// <summary>Tensors of the prefix renamed with this when it is put in front of a float suffix, so the two never collide.</summary>
    internal const string NamePrefix = "int8/";

    /// <summary>
    /// <paramref name="int8Featurizer"/> (raw pixels in, as the float twin's input) cut so that its outputs are the float
    /// values <paramref name="crossing"/> names; null, with the reason, when one has no int8 counterpart.
    /// </summary>
    public static ModelProto? Cut(ModelProto int8Featurizer, IReadOnlyList<string> crossing, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(int8Featurizer);
        ArgumentNullException.ThrowIfNull(crossing);
        var model = int8Featurizer.Clone();
        var graph = model.Graph;
        var index = new OnnxGraphIndex(graph);
        var dequantize = new List<NodeProto>();
        foreach (var name in crossing)
        {
            // A float value the int8 graph computes too (the baked input normalisation, the pooled embedding) is taken as is.
            if (index.Producer.ContainsKey(name)) continue;
            var quantized = name + QuantizedSuffix;
            if (index.Exists(name) || !index.Producer.ContainsKey(quantized))
            {
                reason = $"the value '{name}' crossing the split has no int8 counterpart '{quantized}' in the backbone's int8 graph";
                return null;
            }
            var q = OnnxQuantization.Find(index, quantized);
            dequantize.Add(Node("DequantizeLinear", "int8_prefix/dequantize/" + name, q.ZeroPoint is null ? [quantized, q.Scale] : [quantized, q.Scale, q.ZeroPoint],
                [name], q.Axis is { } axis ? [Attr("axis", axis)] : []));
        }
        graph.Node.AddRange(dequantize);
        graph.Output.Clear();
        // A value info with only a name: ONNX Runtime infers an output's type and shape.
        foreach (var name in crossing) graph.Output.Add(new ValueInfoProto { Name = name });
        graph.ValueInfo.Clear();
        OnnxGraphEditing.Prune(graph);
        reason = null;
        return model;
    }

    /// <summary>
    /// Replaces, in <paramref name="model"/>, every node that only serves to compute <paramref name="crossing"/> with the
    /// nodes of <paramref name="prefix"/> (made by <see cref="Cut"/>, same input), whose own tensors are renamed under
    /// <see cref="NamePrefix"/>; the opset imports become the union (highest version per domain).
    /// </summary>
    public static void PutInFront(ModelProto model, ModelProto prefix, IReadOnlyCollection<string> crossing)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prefix);
        var graph = model.Graph;
        var boundary = crossing.ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);

        var front = prefix.Graph.Clone();
        string Rename(string name) => name.Length == 0 || boundary.Contains(name) || inputs.Contains(name) ? name : NamePrefix + name;
        foreach (var n in front.Node)
        {
            n.Name = NamePrefix + n.Name;
            for (int i = 0; i < n.Input.Count; i++) n.Input[i] = Rename(n.Input[i]);
            for (int i = 0; i < n.Output.Count; i++) n.Output[i] = Rename(n.Output[i]);
        }
        foreach (var t in front.Initializer) t.Name = Rename(t.Name);

        // The int8 nodes take over producing the crossing values; the float layers only they fed are then pruned.
        var kept = graph.Node.Where(n => !n.Output.Any(boundary.Contains)).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(front.Node);
        graph.Node.AddRange(kept);
        graph.Initializer.AddRange(front.Initializer);
        graph.ValueInfo.Clear();
        OnnxGraphEditing.Prune(graph);

        foreach (var import in prefix.OpsetImport)
        {
            var same = model.OpsetImport.FirstOrDefault(o => NormalDomain(o.Domain) == NormalDomain(import.Domain));
            if (same is null) model.OpsetImport.Add(import.Clone());
            else same.Version = Math.Max(same.Version, import.Version);
        }
        model.IrVersion = Math.Max(model.IrVersion, prefix.IrVersion);
    }

    private static string NormalDomain(string domain) => domain == "ai.onnx" ? "" : domain;
}
