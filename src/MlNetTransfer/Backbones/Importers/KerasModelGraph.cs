using System.Text.Json.Nodes;

namespace MlNetTransfer.Backbones.Importers;

/// <summary>A Keras tensor reference: output <see cref="Tensor"/> of call number <see cref="Node"/> of layer <see cref="Layer"/>.</summary>
internal sealed record KerasTensorRef(string Layer, int Node, int Tensor);

/// <summary>One Keras layer of a model config: its class, config and the inputs of each time it is called.</summary>
internal sealed class KerasLayer
{
    public required string Name { get; init; }
    public required string ClassName { get; init; }
    public required JsonObject Config { get; init; }

    /// <summary>The whole layer entry (a nested model keeps its own layers here).</summary>
    public required JsonObject Entry { get; init; }

    /// <summary>For each call of the layer, the tensors it takes, in order.</summary>
    public required List<List<KerasTensorRef>> InboundNodes { get; init; }

    public string Describe() => $"layer '{Name}' ({ClassName})";
}

/// <summary>
/// The layers and connections of a Keras model config, as tfjs stores it: a functional <c>Model</c>/<c>Functional</c>
/// (explicit <c>inbound_nodes</c>, in Keras 2's list form <c>[[["name", node, tensor, {}], …]]</c> or Keras 3's dict form
/// <c>[{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["name", node, tensor]}}], "kwargs": {}}]</c>)
/// or a <c>Sequential</c> (each layer feeds the next; an input layer is implied by the first layer's
/// <c>batch_input_shape</c> when absent).
/// </summary>
internal sealed class KerasModelGraph
{
    public required string Name { get; init; }
    public required string ClassName { get; init; }
    public required List<KerasLayer> Layers { get; init; }
    public required List<KerasTensorRef> Inputs { get; init; }
    public required List<KerasTensorRef> Outputs { get; init; }

    public static bool IsModelClass(string className) => className is "Model" or "Functional" or "Sequential";

    /// <summary>Parses a model entry: an object with <c>class_name</c> and <c>config</c>.</summary>
    public static KerasModelGraph Parse(JsonObject modelEntry, string source)
    {
        var className = modelEntry.Get("class_name").AsString()
            ?? throw new MlNetTransferException($"{source}: the Keras model has no class_name.");
        var config = modelEntry.Get("config");
        var name = modelEntry.Get("name").AsString() ?? config.Get("name").AsString() ?? "model";
        try
        {
            return className switch
            {
                "Sequential" => ParseSequential(name, config, source),
                "Model" or "Functional" => ParseFunctional(name, className, config as JsonObject
                    ?? throw new MlNetTransferException($"{source}: model '{name}' has no config object."), source),
                _ => throw new MlNetTransferException($"{source}: the Keras model class '{className}' is not supported (Sequential, Model or Functional)."),
            };
        }
        catch (FormatException e)
        {
            throw new MlNetTransferException($"{source}: model '{name}': malformed topology ({e.Message}).", e);
        }
    }

    private static KerasLayer ReadLayer(JsonNode? entry, string source)
    {
        if (entry is not JsonObject o) throw new MlNetTransferException($"{source}: a layer entry is not an object.");
        var cls = o.Get("class_name").AsString() ?? throw new MlNetTransferException($"{source}: a layer has no class_name.");
        var config = o.Get("config") as JsonObject ?? new JsonObject();
        var name = o.Get("name").AsString() ?? config.Get("name").AsString()
            ?? throw new MlNetTransferException($"{source}: a {cls} layer has no name.");
        return new KerasLayer { Name = name, ClassName = cls, Config = config, Entry = o, InboundNodes = ReadInbound(o.Get("inbound_nodes")) };
    }

    private static KerasModelGraph ParseFunctional(string name, string className, JsonObject config, string source)
    {
        var layers = (config.Get("layers") as JsonArray ?? throw new MlNetTransferException($"{source}: model '{name}' has no layers."))
            .Select(l => ReadLayer(l, source)).ToList();
        return new KerasModelGraph
        {
            Name = name,
            ClassName = className,
            Layers = layers,
            Inputs = ReadEndpoints(config.Get("input_layers")),
            Outputs = ReadEndpoints(config.Get("output_layers")),
        };
    }

    private static KerasModelGraph ParseSequential(string name, JsonNode? config, string source)
    {
        // Keras ≤ 2.2.2 stored a Sequential's config as the bare list of layers.
        var list = config as JsonArray ?? config.Get("layers") as JsonArray
            ?? throw new MlNetTransferException($"{source}: Sequential model '{name}' has no layers.");
        var layers = list.Select(l => ReadLayer(l, source)).ToList();
        if (layers.Count == 0) throw new MlNetTransferException($"{source}: Sequential model '{name}' has no layers.");
        if (layers[0].ClassName != "InputLayer")
        {
            var first = layers[0];
            var shape = first.Config.Get("batch_input_shape") ?? first.Config.Get("batch_shape")
                ?? throw new MlNetTransferException($"{source}: Sequential model '{name}': the first {first.Describe()} has no batch_input_shape, so the input shape is unknown.");
            var inputConfig = new JsonObject { ["batch_input_shape"] = shape.DeepClone(), ["name"] = first.Name + "_input" };
            layers.Insert(0, new KerasLayer
            {
                Name = first.Name + "_input",
                ClassName = "InputLayer",
                Config = inputConfig,
                Entry = new JsonObject { ["class_name"] = "InputLayer", ["config"] = inputConfig.DeepClone() },
                InboundNodes = [],
            });
        }
        var chained = new List<KerasLayer> { layers[0] };
        for (int i = 1; i < layers.Count; i++)
        {
            var l = layers[i];
            chained.Add(new KerasLayer
            {
                Name = l.Name, ClassName = l.ClassName, Config = l.Config, Entry = l.Entry,
                InboundNodes = [[new KerasTensorRef(layers[i - 1].Name, 0, 0)]],
            });
        }
        return new KerasModelGraph
        {
            Name = name,
            ClassName = "Sequential",
            Layers = chained,
            Inputs = [new KerasTensorRef(chained[0].Name, 0, 0)],
            Outputs = [new KerasTensorRef(chained[^1].Name, 0, 0)],
        };
    }

    /// <summary><c>[["a",0,0],["b",0,0]]</c>, or a single <c>["a",0,0]</c> as Keras 3 writes one input.</summary>
    private static List<KerasTensorRef> ReadEndpoints(JsonNode? node)
    {
        if (node is not JsonArray a || a.Count == 0) throw new FormatException("input_layers/output_layers missing or empty");
        if (a[0].IsString()) return [ReadRef(a)];
        return a.Select(ReadRef).ToList();
    }

    private static KerasTensorRef ReadRef(JsonNode? node)
    {
        if (node is not JsonArray a || a.Count < 1 || !a[0].IsString()) throw new FormatException($"'{node?.ToJsonString()}' is not a [layer, node, tensor] reference");
        int nodeIndex = a.Count > 1 ? (int)(a[1].AsLong() ?? 0) : 0;
        int tensorIndex = a.Count > 2 ? (int)(a[2].AsLong() ?? 0) : 0;
        return new KerasTensorRef(a[0].AsString()!, nodeIndex, tensorIndex);
    }

    private static List<List<KerasTensorRef>> ReadInbound(JsonNode? node)
    {
        var calls = new List<List<KerasTensorRef>>();
        if (node is not JsonArray a) return calls;
        foreach (var call in a)
        {
            if (call is JsonObject dict)
            {
                // Keras 3: keras tensors anywhere inside args, in order (Add/Concatenate pass them as one list).
                var refs = new List<KerasTensorRef>();
                CollectKerasHistory(dict.Get("args"), refs);
                calls.Add(refs);
            }
            else if (call is JsonArray list)
            {
                calls.Add(list.Select(ReadRef).ToList());
            }
            else throw new FormatException($"inbound node '{call?.ToJsonString()}' is neither a list nor an object");
        }
        return calls;
    }

    private static void CollectKerasHistory(JsonNode? node, List<KerasTensorRef> refs)
    {
        switch (node)
        {
            case JsonObject o when o.Get("config").Get("keras_history") is JsonArray history:
                refs.Add(ReadRef(history));
                break;
            case JsonObject o:
                foreach (var (_, v) in o) CollectKerasHistory(v, refs);
                break;
            case JsonArray a:
                foreach (var v in a) CollectKerasHistory(v, refs);
                break;
        }
    }
}
