using System.Globalization;
using Microsoft.ML.Data;
using MlNetTransfer.Data;
using SkiaSharp;

namespace MlNetTransfer.Serving;

/// <summary>
/// Encoded image bytes → the <see cref="MLImage"/> a saved chain's <c>LoadImages</c> step would have produced from the
/// same file. One decode both checks and reads the image: the format comes from the magic bytes, the header's
/// dimensions are checked against a pixel limit before anything is allocated (decompression bombs), and a body that
/// ends early or is damaged is refused (ML.NET's own loader accepts a truncated JPEG and predicts on grey filler).
/// </summary>
/// <remarks>Hand-written rather than <see cref="MLImage.CreateFromStream"/>: that one decodes whatever it gets, with
/// no size limit and no way to see that the input was incomplete.</remarks>
internal static class ImageDecoder
{
    /// <summary>MLImage sizes its pixel buffer with 32-bit arithmetic (4 bytes a pixel).</summary>
    internal const long PixelLimitCeiling = int.MaxValue / 4;

    /// <summary>Decodes <paramref name="bytes"/>; throws <see cref="InvalidImageException"/> for anything unusable.</summary>
    public static MLImage Decode(ReadOnlySpan<byte> bytes, long maxPixels, string? fileName = null)
    {
        if (bytes.IsEmpty) throw new InvalidImageException(ImageProblem.Empty, "empty image (0 bytes)", fileName);
        var format = ImageFormatDetector.Detect(bytes);
        if (format == ImageFormat.Unknown)
            // The validator names what the bytes really are (a text file, a PDF, an HTML page, ...) without decoding them.
            throw new InvalidImageException(ImageProblem.NotAnImage, ImageFileValidator.Validate(bytes).Reason ?? "not an image", fileName);
        if (!ImageFormatDetector.IsSupported(format))
            throw new InvalidImageException(ImageProblem.UnsupportedFormat,
                $"{ImageFormatDetector.DisplayName(format)} images are not supported (supported: JPEG, PNG, BMP, WebP); convert it to JPEG or PNG", fileName);

        var name = ImageFormatDetector.DisplayName(format);
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidImageException(ImageProblem.Corrupt, $"corrupt or truncated {name}: the header cannot be decoded", fileName);
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (width <= 0 || height <= 0)
            throw new InvalidImageException(ImageProblem.Corrupt, $"corrupt {name}: invalid size {width}x{height}", fileName);
        var pixels = (long)width * height;
        if (pixels > maxPixels)
            throw new InvalidImageException(ImageProblem.TooManyPixels,
                string.Create(CultureInfo.InvariantCulture,
                    $"{name} declares {width}x{height} = {pixels:N0} pixels, more than the {maxPixels:N0} allowed; refused without decoding it (resize the image first)"),
                fileName);

        // The same target SKBitmap.Decode (ML.NET's LoadImages) uses: the codec's colour type, premultiplied alpha, no
        // colour space; a non-32-bit type (grey JPEG) becomes BGRA as MLImage would convert it. Same pixels, same scores.
        var info = codec.Info;
        if (info.AlphaType == SKAlphaType.Unpremul) info.AlphaType = SKAlphaType.Premul;
        info.ColorSpace = null;
        if (info.ColorType is not (SKColorType.Bgra8888 or SKColorType.Rgba8888)) info.ColorType = SKColorType.Bgra8888;
        using var bitmap = new SKBitmap();
        if (!bitmap.TryAllocPixels(info))
            throw new InvalidImageException(ImageProblem.TooManyPixels, $"{name} too large to decode ({width}x{height} pixels): out of memory", fileName);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
            throw new InvalidImageException(ImageProblem.Corrupt, result switch
            {
                SKCodecResult.IncompleteInput => $"corrupt or truncated {name}: the image data ends early",
                SKCodecResult.ErrorInInput => $"corrupt {name}: invalid image data",
                _ => $"{name} cannot be decoded ({result})",
            }, fileName);
        // MLImage cannot adopt a bitmap, so its pixels are copied once (a memcpy; decoding costs far more).
        return MLImage.CreateFromPixels(width, height, info.ColorType == SKColorType.Rgba8888 ? MLPixelFormat.Rgba32 : MLPixelFormat.Bgra32,
            bitmap.GetPixelSpan());
    }

    /// <summary>Reads a whole stream (not disposed) into memory.</summary>
    public static byte[] ReadAll(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek)
        {
            var remaining = stream.Length - stream.Position;
            if (remaining > Array.MaxLength)
                throw new InvalidImageException(ImageProblem.TooLarge, $"image stream too large ({remaining} bytes)");
            var bytes = new byte[remaining];
            stream.ReadExactly(bytes);
            return bytes;
        }
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
