using System.Runtime.InteropServices;
using SkiaSharp;

namespace MlNetTransfer.Data;

/// <summary>Writes a small, generated (synthetic, not real-photo) image dataset: one folder per class of shapes drawn on
/// noisy backgrounds. Used as the CLI's built-in demo dataset and by tests; deterministic for a seed.</summary>
/// <remarks>Classes: <c>red_circle</c>, <c>green_square</c>, <c>blue_triangle</c>. Each image has a random grey noisy
/// background, one shape of random position, size and shade, and alternates between PNG (even index) and JPEG (odd
/// index). Files are named <c>synthetic_&lt;class&gt;_&lt;index&gt;.png|jpg</c> so nobody mistakes them for real data.</remarks>
public static class SyntheticImageDataset
{
    /// <summary>The class folder names written by <see cref="Write"/>, sorted ordinal.</summary>
    public static IReadOnlyList<string> Classes { get; } = ["blue_triangle", "green_square", "red_circle"];

    /// <summary>Writes the dataset into <paramref name="dir"/> (created if needed) and returns its absolute path.
    /// Earlier synthetic files in the class folders are replaced; other files are left alone.</summary>
    /// <param name="dir">Target folder; it receives one sub-folder per class.</param>
    /// <param name="imagesPerClass">Images per class, at least 1. Default 30.</param>
    /// <param name="size">Width and height in pixels, 16 to 1024. Default 64.</param>
    /// <param name="seed">Seed of every random choice; the same seed gives the same files.</param>
    public static string Write(string dir, int imagesPerClass = 30, int size = 64, int seed = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        if (imagesPerClass < 1) throw new MlNetTransferException($"Synthetic dataset: imagesPerClass is {imagesPerClass}; it must be at least 1.");
        if (size is < 16 or > 1024) throw new MlNetTransferException($"Synthetic dataset: size is {size}; it must be between 16 and 1024 pixels.");
        var root = Path.GetFullPath(dir);
        var random = new Random(seed);
        foreach (var label in Classes)
        {
            var classDir = Path.Combine(root, label);
            Directory.CreateDirectory(classDir);
            foreach (var old in Directory.EnumerateFiles(classDir, "synthetic_*")) File.Delete(old);
            for (var i = 0; i < imagesPerClass; i++)
            {
                var png = i % 2 == 0;
                var bytes = Render(label, size, random, png);
                AtomicFile.WriteAllBytes(Path.Combine(classDir, $"synthetic_{label}_{i:D4}.{(png ? "png" : "jpg")}"), bytes);
            }
        }
        return root;
    }

    private static byte[] Render(string label, int size, Random random, bool png)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = new byte[size * size * 4];
        // Noisy grey background: a per-image base tone plus per-pixel noise, so a model cannot key on a flat colour.
        var baseTone = random.Next(60, 196);
        var noise = new byte[size * size];
        random.NextBytes(noise);
        for (var p = 0; p < size * size; p++)
        {
            var v = (byte)Math.Clamp(baseTone + (noise[p] % 61) - 30, 0, 255);
            pixels[p * 4] = v;
            pixels[p * 4 + 1] = v;
            pixels[p * 4 + 2] = v;
            pixels[p * 4 + 3] = 255;
        }
        Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);

        var shade = (byte)random.Next(150, 256);
        var low = (byte)random.Next(0, 70);
        var color = label switch
        {
            "red_circle" => new SKColor(shade, low, low),
            "green_square" => new SKColor(low, shade, low),
            _ => new SKColor(low, low, shade),
        };
        var extent = size * (0.3f + 0.35f * (float)random.NextDouble());
        var x = (float)random.NextDouble() * (size - extent);
        var y = (float)random.NextDouble() * (size - extent);
        using (var canvas = new SKCanvas(bitmap))
        using (var paint = new SKPaint { Color = color, IsAntialias = true, Style = SKPaintStyle.Fill })
        {
            switch (label)
            {
                case "red_circle":
                    canvas.DrawCircle(x + extent / 2, y + extent / 2, extent / 2, paint);
                    break;
                case "green_square":
                    canvas.DrawRect(x, y, extent, extent, paint);
                    break;
                default:
                    using (var path = new SKPath())
                    {
                        path.MoveTo(x + extent / 2, y);
                        path.LineTo(x + extent, y + extent);
                        path.LineTo(x, y + extent);
                        path.Close();
                        canvas.DrawPath(path, paint);
                    }
                    break;
            }
        }
        using var data = bitmap.Encode(png ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }
}
