using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MlNetTransfer.Tests.Serving;

/// <summary>Inputs a prediction endpoint meets in the wild, built in code.</summary>
public static class BadImages
{
    public static byte[] Empty => [];

    public static byte[] Text => "name,label\nphoto.jpg,cat\n"u8.ToArray();

    public static byte[] Pdf => "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"u8.ToArray();

    /// <summary>A complete 1×1 GIF89a: a real image in a format the toolkit refuses.</summary>
    public static byte[] Gif => Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

    /// <summary>A TIFF header (little-endian "II*\0").</summary>
    public static byte[] Tiff => [0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00];

    /// <summary>The first 60% of a real JPEG: the header is fine, the data ends early.</summary>
    public static byte[] TruncatedJpeg(string jpegPath)
    {
        var bytes = File.ReadAllBytes(jpegPath);
        return bytes[..(bytes.Length * 6 / 10)];
    }

    /// <summary>A well-formed PNG that declares <paramref name="width"/>×<paramref name="height"/> RGBA pixels over a
    /// few compressed rows: a decompression bomb's header. Decoding it would allocate width×height×4 bytes.</summary>
    public static byte[] PngBomb(int width = 40_000, int height = 40_000)
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 6; // RGBA
        Chunk(png, "IHDR", ihdr);
        using var zlib = new MemoryStream();
        using (var z = new ZLibStream(zlib, CompressionLevel.SmallestSize, leaveOpen: true))
            z.Write(new byte[(width * 4 + 1) * 4]); // four all-zero rows
        Chunk(png, "IDAT", zlib.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        s.Write(word);
    }

    /// <summary>PNG's CRC-32 (ISO-HDLC polynomial), which libpng checks on every critical chunk.</summary>
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
