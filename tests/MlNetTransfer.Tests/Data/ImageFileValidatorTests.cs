using System.Text;
using MlNetTransfer.Data;
using SkiaSharp;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Data;

public sealed class ImageFileValidatorTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string, ImageFormat, int, int> SupportedImages => new()
    {
        { "png", ImageFormat.Png, 24, 16 },
        { "jpeg", ImageFormat.Jpeg, 64, 48 },
        { "bmp", ImageFormat.Bmp, 3, 2 },
        { "webp", ImageFormat.WebP, 20, 20 },
    };

    private static byte[] Bytes(string kind) => kind switch
    {
        "png" => TestImages.Png(),
        "jpeg" => TestImages.Jpeg(),
        "bmp" => TestImages.Bmp(),
        "webp" => TestImages.WebP(),
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(SupportedImages))]
    public void Supported_formats_decode_with_their_size_from_file_span_and_stream(string kind, ImageFormat format, int width, int height)
    {
        var bytes = Bytes(kind);
        var expected = ImageValidationResult.Valid(format, width, height);
        Assert.Equal(expected, ImageFileValidator.Validate(_temp.File($"img.{kind}", bytes)));
        Assert.Equal(expected, ImageFileValidator.Validate(bytes.AsSpan()));
        Assert.Equal(expected, ImageFileValidator.Validate(new MemoryStream(bytes)));
    }

    [Fact]
    public void Format_comes_from_magic_bytes_not_extension()
    {
        var pngNamedJpg = ImageFileValidator.Validate(_temp.File("really-a-png.jpg", TestImages.Png()));
        Assert.True(pngNamedJpg.IsValid);
        Assert.Equal(ImageFormat.Png, pngNamedJpg.Format);

        var textNamedPng = ImageFileValidator.Validate(_temp.Text("notes.png", "hello, I am not a picture\n"));
        Assert.False(textNamedPng.IsValid);
        Assert.Equal("not an image: a text file", textNamedPng.Reason);
    }

    [Fact]
    public void Gif_is_reported_as_unsupported_even_though_it_is_a_valid_image()
    {
        var gif = TestImages.Gif();
        using (var codec = SKCodec.Create(new MemoryStream(gif))) Assert.NotNull(codec); // SkiaSharp itself would accept it.
        var result = ImageFileValidator.Validate(_temp.File("anim.gif", gif));
        Assert.False(result.IsValid);
        Assert.Equal(ImageFormat.Gif, result.Format);
        Assert.Contains("GIF is not supported", result.Reason);
    }

    [Fact]
    public void Truncated_jpeg_and_png_are_corrupt_or_truncated()
    {
        var jpeg = ImageFileValidator.Validate(_temp.File("cut.jpg", TestImages.Truncate(TestImages.Jpeg())));
        Assert.False(jpeg.IsValid);
        Assert.Equal(ImageFormat.Jpeg, jpeg.Format);
        Assert.StartsWith("corrupt or truncated JPEG", jpeg.Reason);

        var png = ImageFileValidator.Validate(TestImages.Truncate(TestImages.Png(200, 200)));
        Assert.False(png.IsValid);
        Assert.StartsWith("corrupt or truncated PNG", png.Reason);
    }

    [Theory]
    [InlineData("jpeg", 0.3)]
    [InlineData("jpeg", 0.9)]
    [InlineData("webp", 0.5)]
    [InlineData("webp", 0.9)]
    [InlineData("png", 0.9)]
    public void Images_cut_short_anywhere_in_their_body_are_caught(string kind, double keep)
    {
        var full = kind switch { "jpeg" => TestImages.Jpeg(320, 240), "webp" => NoisyWebP(), _ => TestImages.Png(300, 300) };
        Assert.True(ImageFileValidator.Validate(full).IsValid);
        var result = ImageFileValidator.Validate(TestImages.Truncate(full, keep));
        Assert.False(result.IsValid);
        Assert.StartsWith("corrupt or truncated", result.Reason);
    }

    private static byte[] NoisyWebP()
    {
        var random = new Random(3);
        using var bitmap = new SKBitmap(160, 120);
        for (var y = 0; y < 120; y++)
            for (var x = 0; x < 160; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)random.Next(256), (byte)(x + y), (byte)random.Next(256)));
        using var data = bitmap.Encode(SKEncodedImageFormat.Webp, 90);
        return data.ToArray();
    }

    [Fact]
    public void Png_header_with_garbage_body_is_corrupt()
    {
        var bytes = TestImages.Png(64, 64);
        for (var i = 60; i < bytes.Length - 12; i++) bytes[i] = (byte)(i * 7);
        var result = ImageFileValidator.Validate(bytes);
        Assert.False(result.IsValid);
        Assert.StartsWith("corrupt or truncated PNG", result.Reason);
    }

    [Fact]
    public void Empty_file_is_reported()
    {
        var result = ImageFileValidator.Validate(_temp.File("empty.jpg", []));
        Assert.False(result.IsValid);
        Assert.Equal("empty file (0 bytes)", result.Reason);
        Assert.Equal("empty (0 bytes)", ImageFileValidator.Validate(ReadOnlySpan<byte>.Empty).Reason);
    }

    [Theory]
    [InlineData("tiff", "TIFF image")]
    [InlineData("heic", "HEIC/HEIF image")]
    [InlineData("svg", "SVG is a vector drawing")]
    [InlineData("ds_store", "macOS Finder metadata (.DS_Store)")]
    [InlineData("thumbs", "Windows thumbnail cache (Thumbs.db)")]
    [InlineData("html", "an HTML page")]
    [InlineData("pdf", "a PDF document")]
    [InlineData("binary", "unknown file type starting with bytes 0102030405060708")]
    public void Other_files_get_a_precise_reason(string kind, string reasonPart)
    {
        var (name, bytes) = kind switch
        {
            "tiff" => ("scan.tif", TestImages.Tiff()),
            "heic" => ("IMG_0001.HEIC", TestImages.Heic()),
            "svg" => ("logo.png", Encoding.UTF8.GetBytes("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>")),
            "ds_store" => (".DS_Store", TestImages.DsStore()),
            "thumbs" => ("Thumbs.db", new byte[] { 0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0 }),
            "html" => ("download.jpg", Encoding.UTF8.GetBytes("<!DOCTYPE html><html><body>403 Forbidden</body></html>")),
            "pdf" => ("paper.jpg", Encoding.ASCII.GetBytes("%PDF-1.7\n%\u00e2\u00e3\n")),
            _ => ("blob.bmp", new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 }),
        };
        var result = ImageFileValidator.Validate(_temp.File(name, bytes));
        Assert.False(result.IsValid);
        Assert.Contains(reasonPart, result.Reason);
        Assert.Equal(0, result.Width);
    }

    [Fact]
    public void Missing_file_and_folder_are_invalid_not_thrown()
    {
        Assert.Equal("file not found", ImageFileValidator.Validate(Path.Combine(_temp.Path, "nope.jpg")).Reason);
        Assert.Equal("is a folder, not a file", ImageFileValidator.Validate(_temp.Dir("sub")).Reason);
    }

    [Fact]
    public void Detector_recognises_signatures()
    {
        Assert.Equal(ImageFormat.Jpeg, ImageFormatDetector.Detect([0xFF, 0xD8, 0xFF, 0xE0]));
        Assert.Equal(ImageFormat.Gif, ImageFormatDetector.Detect("GIF87a..."u8));
        Assert.Equal(ImageFormat.Tiff, ImageFormatDetector.Detect("MM\0*\0\0\0\x08"u8));
        Assert.Equal(ImageFormat.Heif, ImageFormatDetector.Detect(TestImages.Heic()));
        Assert.Equal(ImageFormat.Unknown, ImageFormatDetector.Detect("BM is not a bitmap unless its header says so"u8));
        Assert.Equal(ImageFormat.Unknown, ImageFormatDetector.Detect([]));
        Assert.Equal([ImageFormat.Jpeg, ImageFormat.Png, ImageFormat.Bmp, ImageFormat.WebP], ImageFormatDetector.SupportedFormats);
    }
}
