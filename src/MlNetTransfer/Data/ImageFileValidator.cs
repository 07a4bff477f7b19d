using SkiaSharp;

namespace MlNetTransfer.Data;

/// <summary>Decides whether a file (or uploaded bytes) is an image the toolkit can use: the format is recognised by
/// its magic bytes (never its extension), must be JPEG, PNG, BMP or WebP, and the whole image must decode with
/// SkiaSharp (the same decoder ML.NET's image loading uses; JPEG and WebP at reduced output scale, which still
/// reads all of the compressed data). Never throws for bad content: it returns a reason. Thread-safe.</summary>
public static class ImageFileValidator
{
    /// <summary>Checks the file at <paramref name="path"/>. A missing or unreadable file is reported as invalid, not thrown.</summary>
    public static ImageValidationResult Validate(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            if (Directory.Exists(path)) return ImageValidationResult.Invalid(ImageFormat.Unknown, "is a folder, not a file");
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            var length = stream.Length;
            if (length == 0) return ImageValidationResult.Invalid(ImageFormat.Unknown, "empty file (0 bytes)");
            // Read only the header first, so a large non-image (a video named .jpg) is rejected without loading it.
            var header = new byte[(int)Math.Min(length, ImageFormatDetector.HeaderLength)];
            stream.ReadExactly(header);
            var format = ImageFormatDetector.Detect(header);
            if (!ImageFormatDetector.IsSupported(format)) return Unsupported(format, header, path);
            if (length > Array.MaxLength) return ImageValidationResult.Invalid(format, $"file too large ({length} bytes)");
            var bytes = new byte[length];
            header.CopyTo(bytes, 0);
            stream.ReadExactly(bytes, header.Length, bytes.Length - header.Length);
            return Decode(bytes, format);
        }
        catch (FileNotFoundException) { return ImageValidationResult.Invalid(ImageFormat.Unknown, "file not found"); }
        catch (DirectoryNotFoundException) { return ImageValidationResult.Invalid(ImageFormat.Unknown, "file not found"); }
        catch (EndOfStreamException) { return ImageValidationResult.Invalid(ImageFormat.Unknown, "file changed size while being read"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ImageValidationResult.Invalid(ImageFormat.Unknown, $"cannot be read: {e.Message}");
        }
    }

    /// <summary>Checks encoded image bytes (e.g. an HTTP upload).</summary>
    public static ImageValidationResult Validate(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return ImageValidationResult.Invalid(ImageFormat.Unknown, "empty (0 bytes)");
        var format = ImageFormatDetector.Detect(bytes);
        return ImageFormatDetector.IsSupported(format) ? Decode(bytes, format) : Unsupported(format, bytes, fileName: null);
    }

    /// <summary>Checks the encoded image read from <paramref name="stream"/> (read to its end; not disposed).</summary>
    public static ImageValidationResult Validate(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Validate(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    private static ImageValidationResult Unsupported(ImageFormat format, ReadOnlySpan<byte> header, string? fileName) => format switch
    {
        ImageFormat.Unknown => ImageValidationResult.Invalid(format, ImageFormatDetector.DescribeNonImage(header, fileName)),
        ImageFormat.Gif => ImageValidationResult.Invalid(format,
            "GIF is not supported (the serving endpoint refuses it too, and GIFs in photo datasets are usually placeholders or animations); convert it to PNG or JPEG"),
        ImageFormat.Heif => ImageValidationResult.Invalid(format, "HEIC/HEIF image (e.g. an iPhone photo) is not supported; convert it to JPEG"),
        ImageFormat.Tiff => ImageValidationResult.Invalid(format, "TIFF image (or a TIFF-based camera RAW file) is not supported; convert it to JPEG or PNG"),
        ImageFormat.Svg => ImageValidationResult.Invalid(format, "SVG is a vector drawing, not a photo; rasterise it to PNG"),
        _ => ImageValidationResult.Invalid(format,
            $"{ImageFormatDetector.DisplayName(format)} image is not supported (supported: JPEG, PNG, BMP, WebP); convert it to JPEG or PNG"),
    };

    private static ImageValidationResult Decode(ReadOnlySpan<byte> bytes, ImageFormat format)
    {
        var name = ImageFormatDetector.DisplayName(format);
        try
        {
            using var data = SKData.CreateCopy(bytes);
            using var codec = SKCodec.Create(data);
            if (codec is null) return ImageValidationResult.Invalid(format, $"corrupt or truncated {name}: the header cannot be decoded");
            var (width, height) = (codec.Info.Width, codec.Info.Height);
            if (width <= 0 || height <= 0) return ImageValidationResult.Invalid(format, $"corrupt {name}: invalid size {width}x{height}");
            // Only decoding the whole body finds a truncated or damaged image; the header alone looks fine. JPEG and WebP
            // decode at 1/8 scale: the entropy decoder still reads every byte (truncation is still found), ~4x faster.
            var scaled = codec.GetScaledDimensions(0.125f);
            var info = new SKImageInfo(Math.Max(1, scaled.Width), Math.Max(1, scaled.Height), SKColorType.Rgba8888, SKAlphaType.Premul);
            using var bitmap = new SKBitmap();
            if (!bitmap.TryAllocPixels(info))
                return ImageValidationResult.Invalid(format, $"{name} too large to decode ({width}x{height} pixels)");
            var result = codec.GetPixels(info, bitmap.GetPixels());
            return result switch
            {
                SKCodecResult.Success => ImageValidationResult.Valid(format, width, height),
                SKCodecResult.IncompleteInput => ImageValidationResult.Invalid(format, $"corrupt or truncated {name}: the image data ends early"),
                SKCodecResult.ErrorInInput => ImageValidationResult.Invalid(format, $"corrupt or truncated {name}: invalid image data"),
                _ => ImageValidationResult.Invalid(format, $"{name} cannot be decoded ({result})"),
            };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return ImageValidationResult.Invalid(format, $"{name} cannot be decoded: {e.Message}");
        }
    }
}
