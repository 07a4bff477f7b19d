using System.Text.Json;
using System.Text.Json.Nodes;

namespace MlNetTransfer.Backbones.Importers;

/// <summary>One decoded weight of a TensorFlow.js model: its manifest name, shape and float32 values.</summary>
internal sealed record TfjsWeight(string Name, long[] Shape, float[] Values);

/// <summary>
/// A TensorFlow.js layers model as stored on disk: the Keras topology and the decoded weights. Reads either
/// <c>model.json</c> with its binary shards beside it (the weightsManifest paths), or the bundled JavaScript form
/// npm <c>nsfwjs</c> ships (<c>model.min.js</c> exporting the model.json object, one <c>group1-shardKofN.min.js</c>
/// per shard exporting the shard as a base64 string).
/// </summary>
internal sealed class TfjsModelArtifacts
{
    public required string SourcePath { get; init; }

    /// <summary>The Keras model config: an object with <c>class_name</c> (Model, Functional, Sequential) and <c>config</c>.</summary>
    public required JsonObject ModelConfig { get; init; }

    public required IReadOnlyDictionary<string, TfjsWeight> Weights { get; init; }

    public static TfjsModelArtifacts Load(string path)
    {
        if (Directory.Exists(path))
        {
            var inDir = Path.Combine(path, "model.json");
            if (!File.Exists(inDir)) inDir = Path.Combine(path, "model.min.js");
            if (!File.Exists(inDir)) throw new MlNetTransferException($"{path}: folder has neither model.json nor model.min.js.");
            path = inDir;
        }
        if (!File.Exists(path)) throw new MlNetTransferException($"{path}: TensorFlow.js model file not found.");

        bool bundled = path.EndsWith(".js", StringComparison.OrdinalIgnoreCase);
        JsonObject modelJson = bundled ? ReadBundledModel(path) : ReadJsonModel(path);

        var topology = modelJson.Get("modelTopology") as JsonObject
            ?? throw new MlNetTransferException($"{path}: no 'modelTopology' object; this is not a TensorFlow.js layers model.");
        if (modelJson.Get("format").AsString() == "graph-model" || topology.Has("node"))
            throw new MlNetTransferException($"{path}: this is a TensorFlow.js graph model (a frozen TensorFlow graph), not a layers model; only layers models (Keras topology) can be imported.");

        // Keras' own converter nests the model under model_config; tfjs-layers' model.save() writes it at the top.
        var modelConfig = topology.Get("model_config") as JsonObject
            ?? (topology.Has("class_name") && topology.Has("config") ? topology : null)
            ?? throw new MlNetTransferException($"{path}: modelTopology has neither 'model_config' nor 'class_name'/'config'; cannot find the Keras model.");

        var manifest = modelJson.Get("weightsManifest") as JsonArray
            ?? throw new MlNetTransferException($"{path}: no 'weightsManifest'; the model has no weights to import.");

        var weights = new Dictionary<string, TfjsWeight>(StringComparer.Ordinal);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var groupNode in manifest)
        {
            var paths = (groupNode.Get("paths") as JsonArray)?.Select(p => p.AsString() ?? "").ToArray()
                ?? throw new MlNetTransferException($"{path}: a weightsManifest group has no 'paths'.");
            var specs = groupNode.Get("weights") as JsonArray
                ?? throw new MlNetTransferException($"{path}: a weightsManifest group has no 'weights'.");
            var bytes = Concat(paths.Select(p => bundled ? ReadBundledShard(dir, p, path) : ReadBinaryShard(dir, p, path)));
            foreach (var w in TfjsWeightDecoder.Decode(specs, bytes, string.Join(", ", paths)))
                weights[w.Name] = w;
        }
        return new TfjsModelArtifacts { SourcePath = path, ModelConfig = modelConfig, Weights = weights };
    }

    private static JsonObject ReadJsonModel(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true }) as JsonObject
                ?? throw new MlNetTransferException($"{path}: the JSON is not an object.");
        }
        catch (JsonException e)
        {
            throw new MlNetTransferException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    private static JsonObject ReadBundledModel(string path)
    {
        var script = File.ReadAllText(path);
        return JsLiteralReader.FindExportedLiteral(script, v => v is JsonObject o && o.Has("modelTopology")) as JsonObject
            ?? throw new MlNetTransferException($"{path}: no 'exports = {{modelTopology: …}}' literal found; expected a bundled TensorFlow.js model such as nsfwjs' model.min.js.");
    }

    private static byte[] ReadBinaryShard(string dir, string manifestPath, string modelPath)
    {
        var file = Path.Combine(dir, Uri.UnescapeDataString(manifestPath));
        if (!File.Exists(file))
            throw new MlNetTransferException($"{modelPath}: weight shard '{manifestPath}' listed in weightsManifest is missing (looked for {file}).");
        return File.ReadAllBytes(file);
    }

    private static byte[] ReadBundledShard(string dir, string manifestPath, string modelPath)
    {
        // nsfwjs bundles shard 'group1-shard1of2' as 'group1-shard1of2.min.js' beside model.min.js.
        var stem = Path.GetFileName(Uri.UnescapeDataString(manifestPath));
        if (stem.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) stem = stem[..^4];
        var candidates = new[] { stem + ".min.js", stem + ".js" }.Select(n => Path.Combine(dir, n)).ToArray();
        var file = candidates.FirstOrDefault(File.Exists)
            ?? throw new MlNetTransferException($"{modelPath}: weight shard '{manifestPath}' is missing (looked for {string.Join(" and ", candidates)}).");
        var literal = JsLiteralReader.FindExportedLiteral(File.ReadAllText(file), v => v.IsString()).AsString()
            ?? throw new MlNetTransferException($"{file}: no 'exports = \"base64…\"' literal found; expected a bundled TensorFlow.js weight shard.");
        try
        {
            return Convert.FromBase64String(literal);
        }
        catch (FormatException e)
        {
            throw new MlNetTransferException($"{file}: the exported weight shard is not valid base64.", e);
        }
    }

    private static byte[] Concat(IEnumerable<byte[]> parts)
    {
        var list = parts.ToList();
        var all = new byte[list.Sum(p => (long)p.Length)];
        long offset = 0;
        foreach (var p in list)
        {
            p.CopyTo(all, offset);
            offset += p.Length;
        }
        return all;
    }
}
