namespace MlNetTransfer.Data;

/// <summary>An image container format recognised by its magic bytes. Only <see cref="Jpeg"/>, <see cref="Png"/>,
/// <see cref="Bmp"/> and <see cref="WebP"/> are supported for training and serving (see
/// <see cref="ImageFormatDetector.IsSupported"/>); the others are named so a skipped file gets a precise reason.</summary>
public enum ImageFormat
{
    /// <summary>Not a recognised image (empty, text, another kind of file).</summary>
    Unknown = 0,
    Jpeg,
    Png,
    Bmp,
    WebP,
    Gif,
    Tiff,
    /// <summary>HEIF/HEIC (iPhone photos).</summary>
    Heif,
    Avif,
    Svg,
    Ico,
    /// <summary>Photoshop document.</summary>
    Psd,
    Jpeg2000,
    JpegXl,
}
