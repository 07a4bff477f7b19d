namespace MlNetTransfer.Data;

/// <summary>One labelled image.</summary>
/// <param name="Path">Absolute path of the image file.</param>
/// <param name="Label">The class name (the class folder's name, or the manifest's label column).</param>
public sealed record ImageExample(string Path, string Label)
{
    /// <summary>Pixel width as stored in the file (EXIF orientation not applied), recorded during validation; 0 when the example was built by hand.</summary>
    public int Width { get; init; }

    /// <summary>Pixel height as stored in the file (EXIF orientation not applied), recorded during validation; 0 when the example was built by hand.</summary>
    public int Height { get; init; }
}
