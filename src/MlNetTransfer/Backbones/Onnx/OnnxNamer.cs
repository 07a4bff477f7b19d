using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Hands out node and tensor names that do not clash with anything already in a graph.</summary>
internal sealed class OnnxNamer
{
    private readonly HashSet<string> _used;

    public OnnxNamer(GraphProto graph) => _used = new OnnxGraphIndex(graph).AllNames();

    public string Fresh(string wanted)
    {
        var name = wanted;
        for (int i = 1; _used.Contains(name); i++) name = $"{wanted}_{i}";
        _used.Add(name);
        return name;
    }
}
