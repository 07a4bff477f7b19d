namespace MlNetTransfer.Data;

/// <summary>A file found in the dataset that is not used, and why.</summary>
/// <param name="Path">Absolute path of the file (or of an ignored folder).</param>
/// <param name="Reason">Human-readable reason, e.g. "empty file (0 bytes)" or "not an image: a text file".</param>
public sealed record SkippedFile(string Path, string Reason)
{
    /// <summary>The class the file would have belonged to, when it was found in a class folder or a manifest row.</summary>
    public string? Label { get; init; }
}
