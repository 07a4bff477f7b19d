namespace MlNetTransfer.Backbones.Catalog;

/// <summary>Quick state of a backbone in the cache (file presence and sizes; <see cref="BackboneInstaller.TryGetInstalled"/> checks hashes).</summary>
public enum BackboneStatus
{
    NotInstalled,
    Installed,

    /// <summary>The install folder exists but a file is missing or has the wrong size; the next install replaces it.</summary>
    Damaged,
}
