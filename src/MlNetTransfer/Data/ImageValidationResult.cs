namespace MlNetTransfer.Data;

/// <summary>The outcome of checking one image: usable (with its format and pixel size) or not (with a human reason).</summary>
/// <param name="IsValid">True when the bytes are a supported format (JPEG, PNG, BMP, WebP) and decode completely.</param>
/// <param name="Format">The format recognised from the magic bytes (<see cref="ImageFormat.Unknown"/> when none).</param>
/// <param name="Width">Pixel width when valid, else 0.</param>
/// <param name="Height">Pixel height when valid, else 0.</param>
/// <param name="Reason">Why the image is unusable (null when valid), e.g. "corrupt or truncated JPEG: image data ends early".</param>
public sealed record ImageValidationResult(bool IsValid, ImageFormat Format, int Width, int Height, string? Reason)
{
    public static ImageValidationResult Valid(ImageFormat format, int width, int height) => new(true, format, width, height, null);

    public static ImageValidationResult Invalid(ImageFormat format, string reason) => new(false, format, 0, 0, reason);
}
