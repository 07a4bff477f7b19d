namespace MlNetTransfer.Backbones.Catalog;

/// <summary>An npm package version that contains a backbone's files (see <see cref="CatalogFile.NpmPath"/>).</summary>
public sealed record NpmSource
{
    /// <summary>Package name, e.g. <c>nsfwjs</c>.</summary>
    public string Package { get; init; } = "";

    /// <summary>Exact version; never a range, so the files and their hashes cannot drift.</summary>
    public string Version { get; init; } = "";

    /// <summary>The registry's tarball URL, downloaded directly when the <c>npm</c> command is not available.</summary>
    public string? TarballUrl { get; init; }

    /// <summary>The registry's Subresource-Integrity string for the tarball (<c>sha512-…</c>), checked on direct downloads.</summary>
    public string? Integrity { get; init; }

    /// <summary><c>package@version</c>, as given to <c>npm pack</c>.</summary>
    public string Spec => $"{Package}@{Version}";
}
