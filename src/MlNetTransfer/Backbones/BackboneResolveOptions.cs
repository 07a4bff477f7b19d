namespace MlNetTransfer.Backbones;

/// <summary>How a <c>--backbone</c> value is turned into a model.</summary>
public sealed class BackboneResolveOptions
{
    /// <summary>Extra folders searched for catalog files before the network (plus <c>MLNET_TRANSFER_MIRRORS</c>). Default none.</summary>
    public IList<string> Mirrors { get; set; } = new List<string>();

    /// <summary>Overrides the tensor to cut at. Default null (catalog entry, sidecar JSON, or detection).</summary>
    public string? EmbeddingTensor { get; set; }

    /// <summary>The catalog to look names up in. Default: <c>models/catalog.json</c> beside the program.</summary>
    public Catalog.BackboneCatalog? Catalog { get; set; }

    /// <summary>Where catalog backbones are installed. Default <see cref="Catalog.InstallOptions.DefaultCacheDirectory"/>.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Byte progress of an install, when a catalog backbone must be fetched first.</summary>
    public IProgress<Catalog.InstallProgress>? InstallProgress { get; set; }
}

/// <summary>A backbone ready to prepare: its graph, its preprocessing/metadata, and where it came from.</summary>
public sealed record ResolvedBackbone
{
    internal ResolvedBackbone(Onnx.Proto.ModelProto model, BackboneSpec spec, string source) => (Model, Spec, Source) = (model, spec, source);

    /// <summary>The graph. Internal: the ONNX protobuf classes are not part of the API.</summary>
    internal Onnx.Proto.ModelProto Model { get; init; }

    /// <summary>Input size, layout, normalisation, labels, embedding tensor.</summary>
    public BackboneSpec Spec { get; init; }

    /// <summary>Where it came from (catalog entry and file, ONNX path, import), for reports.</summary>
    public string Source { get; init; }
}
