using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace MlNetTransfer.Data;

/// <summary>Recognises an image format from a file's first bytes (its magic number), never from its extension.</summary>
/// <remarks>Hand-written because SkiaSharp's codec only recognises formats it can decode (and it does decode GIF,
/// which we refuse); a skipped file deserves a reason that names what it really is (TIFF, HEIC, a text file, ...).</remarks>
public static class ImageFormatDetector
{
    /// <summary>How many leading bytes <see cref="Detect"/> looks at; passing fewer is allowed (short files).</summary>
    public const int HeaderLength = 1024;

    /// <summary>The formats the toolkit trains on and serves: JPEG, PNG, BMP and WebP.</summary>
    public static IReadOnlyList<ImageFormat> SupportedFormats { get; } =
        [ImageFormat.Jpeg, ImageFormat.Png, ImageFormat.Bmp, ImageFormat.WebP];

    /// <summary>True for JPEG, PNG, BMP and WebP.</summary>
    public static bool IsSupported(ImageFormat format) =>
        format is ImageFormat.Jpeg or ImageFormat.Png or ImageFormat.Bmp or ImageFormat.WebP;

    /// <summary>A short display name ("JPEG", "HEIC/HEIF", ...).</summary>
    public static string DisplayName(ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.Png => "PNG",
        ImageFormat.Bmp => "BMP",
        ImageFormat.WebP => "WebP",
        ImageFormat.Gif => "GIF",
        ImageFormat.Tiff => "TIFF",
        ImageFormat.Heif => "HEIC/HEIF",
        ImageFormat.Avif => "AVIF",
        ImageFormat.Svg => "SVG",
        ImageFormat.Ico => "ICO",
        ImageFormat.Psd => "Photoshop PSD",
        ImageFormat.Jpeg2000 => "JPEG 2000",
        ImageFormat.JpegXl => "JPEG XL",
        _ => "unknown",
    };

    /// <summary>The image format whose signature starts <paramref name="header"/>, or <see cref="ImageFormat.Unknown"/>.</summary>
    /// <param name="header">The first bytes of the file (up to <see cref="HeaderLength"/> are examined).</param>
    public static ImageFormat Detect(ReadOnlySpan<byte> header)
    {
        var h = header.Length > HeaderLength ? header[..HeaderLength] : header;
        if (h.StartsWith([(byte)0xFF, (byte)0xD8, (byte)0xFF])) return ImageFormat.Jpeg;
        if (h.StartsWith([(byte)0x89, (byte)'P', (byte)'N', (byte)'G', (byte)0x0D, (byte)0x0A, (byte)0x1A, (byte)0x0A])) return ImageFormat.Png;
        if (IsBmp(h)) return ImageFormat.Bmp;
        if (h.Length >= 12 && h.StartsWith("RIFF"u8) && h[8..12].SequenceEqual("WEBP"u8)) return ImageFormat.WebP;
        if (h.StartsWith("GIF87a"u8) || h.StartsWith("GIF89a"u8)) return ImageFormat.Gif;
        if (h.StartsWith("II*\0"u8) || h.StartsWith("MM\0*"u8) || h.StartsWith("II+\0"u8) || h.StartsWith("MM\0+"u8)) return ImageFormat.Tiff;
        if (h.StartsWith("8BPS"u8)) return ImageFormat.Psd;
        if (h.StartsWith([(byte)0, (byte)0, (byte)0, (byte)0x0C, (byte)'j', (byte)'P', (byte)' ', (byte)' ']) ||
            h.StartsWith([(byte)0xFF, (byte)0x4F, (byte)0xFF, (byte)0x51])) return ImageFormat.Jpeg2000;
        if (h.StartsWith([(byte)0xFF, (byte)0x0A]) ||
            h.StartsWith([(byte)0, (byte)0, (byte)0, (byte)0x0C, (byte)'J', (byte)'X', (byte)'L', (byte)' '])) return ImageFormat.JpegXl;
        if (h.Length >= 6 && h[0] == 0 && h[1] == 0 && (h[2] == 1 || h[2] == 2) && h[3] == 0 && (h[4] | h[5]) != 0) return ImageFormat.Ico;
        var brands = FtypBrands(h);
        if (brands.Any(b => b is "avif" or "avis")) return ImageFormat.Avif;
        if (brands.Any(b => b is "heic" or "heix" or "hevc" or "hevx" or "heim" or "heis" or "mif1" or "msf1")) return ImageFormat.Heif;
        if (IsSvg(h)) return ImageFormat.Svg;
        return ImageFormat.Unknown;
    }

    /// <summary>What a file that is not a recognised image is, as a human reason ("not an image: a text file").</summary>
    internal static string DescribeNonImage(ReadOnlySpan<byte> header, string? fileName)
    {
        var name = fileName is null ? "" : Path.GetFileName(fileName);
        if (name.Equals(".DS_Store", StringComparison.OrdinalIgnoreCase) || (header.Length >= 8 && header[4..8].SequenceEqual("Bud1"u8)))
            return "not an image: macOS Finder metadata (.DS_Store)";
        if (name.Equals("Thumbs.db", StringComparison.OrdinalIgnoreCase) || name.Equals("ehthumbs.db", StringComparison.OrdinalIgnoreCase))
            return "not an image: Windows thumbnail cache (Thumbs.db)";
        if (name.StartsWith("._", StringComparison.Ordinal) && header.StartsWith([(byte)0, (byte)5, (byte)0x16, (byte)7]))
            return "not an image: macOS resource fork (AppleDouble '._' file)";
        if (header.StartsWith([(byte)0xD0, (byte)0xCF, (byte)0x11, (byte)0xE0])) return "not an image: an OLE compound file (old Office document or thumbnail cache)";
        if (header.StartsWith("%PDF"u8)) return "not an image: a PDF document";
        if (header.StartsWith("PK\x03\x04"u8)) return "not an image: a ZIP archive (or a document packed as ZIP)";
        if (header.StartsWith([(byte)0x1F, (byte)0x8B])) return "not an image: a gzip archive";
        if (header.Length >= 12 && header.StartsWith("RIFF"u8))
        {
            var kind = Encoding.ASCII.GetString(header[8..12]);
            return kind == "AVI " ? "not an image: an AVI video" : kind == "WAVE" ? "not an image: a WAV audio file" : $"not an image: a RIFF '{kind}' file";
        }
        if (FtypBrands(header).Count > 0) return "not an image: a video or media file (MP4/QuickTime)";
        if (LooksLikeText(header))
        {
            var text = Encoding.UTF8.GetString(header).TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
            if (text.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase) || text.StartsWith("<html", StringComparison.OrdinalIgnoreCase))
                return "not an image: an HTML page (often a failed download saved with an image extension)";
            return "not an image: a text file";
        }
        var shown = Convert.ToHexString(header[..Math.Min(8, header.Length)]);
        return $"not a recognised image (unknown file type starting with bytes {shown}; supported: JPEG, PNG, BMP, WebP)";
    }

    private static bool IsBmp(ReadOnlySpan<byte> h)
    {
        if (h.Length < 18 || h[0] != 'B' || h[1] != 'M') return false;
        // "BM" alone is too weak (any text starting with "BM"); the DIB header size must be one of the known ones.
        var dibSize = BinaryPrimitives.ReadUInt32LittleEndian(h[14..18]);
        return dibSize is 12 or 16 or 40 or 52 or 56 or 64 or 108 or 124;
    }

    /// <summary>The major and compatible brands of an ISO base media file's leading 'ftyp' box (HEIF, AVIF, MP4, MOV).</summary>
    private static List<string> FtypBrands(ReadOnlySpan<byte> h)
    {
        var brands = new List<string>();
        if (h.Length < 12 || !h[4..8].SequenceEqual("ftyp"u8)) return brands;
        var boxSize = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(h[..4]), (uint)h.Length);
        brands.Add(Encoding.ASCII.GetString(h[8..12]));
        for (var i = 16; i + 4 <= boxSize; i += 4) brands.Add(Encoding.ASCII.GetString(h.Slice(i, 4)));
        return brands;
    }

    private static bool IsSvg(ReadOnlySpan<byte> h)
    {
        if (!LooksLikeText(h)) return false;
        var text = Encoding.UTF8.GetString(h).TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
        return (text.StartsWith('<')) && text.Contains("<svg", StringComparison.OrdinalIgnoreCase);
    }

    private static bool LooksLikeText(ReadOnlySpan<byte> h)
    {
        if (h.IsEmpty) return false;
        foreach (var b in h)
            if (b < 0x20 && b is not (byte)'\t' and not (byte)'\n' and not (byte)'\r' and not 0x0C) return false;
        // The header may cut a multi-byte UTF-8 character in two; accept a short incomplete tail.
        for (var cut = 0; cut <= 3 && cut < h.Length; cut++)
            if (Utf8.IsValid(h[..(h.Length - cut)])) return true;
        return false;
    }
}
