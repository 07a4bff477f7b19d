namespace MlNetTransfer.Backbones.Catalog;

/// <summary>A backbone whose files are in the cache and verified against their SHA-256.</summary>
public sealed record InstalledBackbone
{
    /// <summary>The catalog entry, or for an imported custom model an entry describing its files.</summary>
    public required CatalogEntry Entry { get; init; }

    /// <summary>The install folder.</summary>
    public required string Directory { get; init; }

    /// <summary>Full paths of all files, in the entry's order.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>Full path of the file a loader opens (the .onnx file, model.json or model.min.js).</summary>
    public required string MainPath { get; init; }

    /// <summary>Full path of the class-name list (one per line) of the original classifier, or null.</summary>
    public string? LabelsPath { get; init; }

    /// <summary>Whether this is a user's own model imported under a name the catalog does not have.</summary>
    public bool IsCustom { get; init; }

    public string Name => Entry.Name;

    /// <summary>The featurizer-facing facts of this backbone, with <see cref="LabelsPath"/> filled in.</summary>
    public BackboneSpec Spec => Entry.ToSpec(LabelsPath);
}
