using SkiaSharp;

namespace MlNetTransfer.Tests.Data;

/// <summary>Small encoded images and non-images for validation tests, generated in memory.</summary>
public static class TestImages
{
    public static byte[] Encode(SKEncodedImageFormat format, int width = 24, int height = 16, byte red = 200)
    {
        using var bitmap = new SKBitmap(width, height);
        bitmap.Erase(new SKColor(red, 40, 90));
        using var canvas = new SKCanvas(bitmap);
        using var paint = new SKPaint { Color = SKColors.White, IsAntialias = true };
        canvas.DrawCircle(width / 2f, height / 2f, height / 3f, paint);
        using var data = bitmap.Encode(format, 90);
        return data.ToArray();
    }

    public static byte[] Png(int width = 24, int height = 16, byte red = 200) => Encode(SKEncodedImageFormat.Png, width, height, red);

    /// <summary>A JPEG big and noisy enough that cutting it in half really truncates the entropy-coded data.</summary>
    public static byte[] Jpeg(int width = 64, int height = 48, int seed = 0)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    public static byte[] WebP(int width = 20, int height = 20) => Encode(SKEncodedImageFormat.Webp, width, height);

    /// <summary>A valid 1x1 GIF89a, written byte by byte.</summary>
    public static byte[] Gif() =>
    [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
        0x00, 0x00, 0x00, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ];

    /// <summary>A valid 24-bit uncompressed BMP (BITMAPINFOHEADER), written byte by byte.</summary>
    public static byte[] Bmp(int width = 3, int height = 2)
    {
        var rowBytes = (width * 3 + 3) / 4 * 4;
        var pixelBytes = rowBytes * height;
        var bytes = new byte[14 + 40 + pixelBytes];
        void U16(int at, int v) => BitConverter.TryWriteBytes(bytes.AsSpan(at, 2), (ushort)v);
        void U32(int at, int v) => BitConverter.TryWriteBytes(bytes.AsSpan(at, 4), v);
        bytes[0] = (byte)'B'; bytes[1] = (byte)'M';
        U32(2, bytes.Length); U32(10, 54);
        U32(14, 40); U32(18, width); U32(22, height); U16(26, 1); U16(28, 24); U32(30, 0); U32(34, pixelBytes);
        U32(38, 2835); U32(42, 2835);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var at = 54 + y * rowBytes + x * 3;
                bytes[at] = (byte)(x * 80); bytes[at + 1] = (byte)(y * 120); bytes[at + 2] = 200;
            }
        return bytes;
    }

    public static byte[] Tiff() => [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    public static byte[] Heic() =>
    [
        0, 0, 0, 0x18, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'h', (byte)'e', (byte)'i', (byte)'c', 0, 0, 0, 0,
        (byte)'m', (byte)'i', (byte)'f', (byte)'1', (byte)'h', (byte)'e', (byte)'i', (byte)'c', 0, 0, 0, 0,
    ];

    public static byte[] DsStore() => [0, 0, 0, 1, (byte)'B', (byte)'u', (byte)'d', (byte)'1', 0, 0, 0x10, 0, 0, 0, 8, 0];

    public static byte[] Truncate(byte[] bytes, double keep = 0.5) => bytes[..(int)(bytes.Length * keep)];
}
