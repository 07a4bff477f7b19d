namespace MlNetTransfer.Backbones.Catalog;

/// <summary>
/// A class-name list (one name per line) that catalog entries share, e.g. <c>imagenet_classes.txt</c>.
/// It is looked up beside the catalog file, then in mirror folders, then at <see cref="Url"/>, and verified like a model file.
/// </summary>
public sealed record LabelFile
{
    public string Name { get; init; } = "";
    public string Sha256 { get; init; } = "";
    public long Size { get; init; }
    public string? Url { get; init; }

    /// <summary>Where the list comes from, for people reading the catalog.</summary>
    public string? Source { get; init; }
}
