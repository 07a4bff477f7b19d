using SkiaSharp;

namespace MlNetTransfer.Strategy;

/// <summary>
/// The weak baseline representation of an image: its centre square, downsampled to size×size RGB, values 0..1
/// (row-major, R, G, B per pixel). What a classifier can get from colour and coarse layout alone, with no learned features.
/// </summary>
public static class PixelBaseline
{
    /// <summary>Default side length: 16×16×3 = 768 values, about the width of a backbone embedding.</summary>
    public const int DefaultSize = 16;

    public static float[][] Compute(IReadOnlyList<string> imagePaths, int size = DefaultSize, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        if (size is < 1 or > 256) throw new MlNetTransferException($"Pixel baseline: size is {size}; it must be between 1 and 256.");
        var result = new float[imagePaths.Count][];
        try
        {
            Parallel.For(0, imagePaths.Count, new ParallelOptions { CancellationToken = cancel }, i => result[i] = Compute(imagePaths[i], size));
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is MlNetTransferException) is { } first)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        return result;
    }

    public static float[] Compute(string imagePath, int size = DefaultSize)
    {
        using var bitmap = SKBitmap.Decode(imagePath)
            ?? throw new MlNetTransferException($"{imagePath}: cannot be decoded as an image (pixel baseline).");
        // The centre square, as the featurizer's IsoCrop resize sees it, so both representations show the same content.
        var side = Math.Min(bitmap.Width, bitmap.Height);
        var crop = SKRectI.Create((bitmap.Width - side) / 2, (bitmap.Height - side) / 2, side, side);
        using var target = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(target))
        using (var image = SKImage.FromBitmap(bitmap))
        using (var paint = new SKPaint { IsAntialias = true })
        {
            canvas.Clear(SKColors.Black);
            // Through mipmaps, as SkiaSharp 2's FilterQuality.High shrank: a 16-pixel thumbnail of a photo drawn with the
            // cubic alone (ML.NET 6's resize) would sample a few pixels of it and alias.
            canvas.DrawImage(image, crop, SKRect.Create(size, size), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear), paint);
        }
        var values = new float[size * size * 3];
        var pixels = target.Pixels;
        for (int p = 0; p < pixels.Length; p++)
        {
            values[3 * p] = pixels[p].Red / 255f;
            values[3 * p + 1] = pixels[p].Green / 255f;
            values[3 * p + 2] = pixels[p].Blue / 255f;
        }
        return values;
    }
}
