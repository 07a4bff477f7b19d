namespace MlNetTransfer.Backbones.Catalog;

/// <summary>
/// One file of a backbone: its name in the install folder (and in a mirror folder), its SHA-256 and size,
/// and where it comes from (an HTTPS URL, or a path inside the entry's npm package).
/// </summary>
public sealed record CatalogFile
{
    /// <summary>File name inside the install folder; also the name looked up in mirror folders.</summary>
    public string Name { get; init; } = "";

    /// <summary>Lower-case hex SHA-256 of the official file. Every copy is checked against it before use.</summary>
    public string Sha256 { get; init; } = "";

    /// <summary>Size of the official file in bytes.</summary>
    public long Size { get; init; }

    /// <summary>Official HTTPS download URL, or null when the file only comes from the entry's npm package.</summary>
    public string? Url { get; init; }

    /// <summary>Path of the file inside the npm package (without the tarball's <c>package/</c> prefix), or null.</summary>
    public string? NpmPath { get; init; }
}
