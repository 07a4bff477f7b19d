using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Featurization;
using SkiaSharp;

namespace MlNetTransfer.Reporting;

/// <summary>Draws images and heat maps for the report and <c>explain</c> with SkiaSharp (the library ML.NET's image steps use).</summary>
internal static class HeatMapOverlay
{
    /// <summary>How opaque the heat map is over the image.</summary>
    private const byte Opacity = 140;

    private static readonly SKSamplingOptions Cubic = new(SKCubicResampler.Mitchell);

    public static byte[] Png(ClassActivationMap map, int? maxSide)
    {
        using var source = Decode(map.ImagePath);
        using var drawn = Draw(source, map.Values, map.GridWidth, map.GridHeight, map.InputWidth, map.InputHeight, map.Resizing, (map.ViewWidth, map.ViewHeight), maxSide);
        return Encode(drawn, SKEncodedImageFormat.Png);
    }

    /// <summary>The image scaled to fit <paramref name="maxSide"/> (null: as it is), with the map (values in [0, 1] on a
    /// grid over the centre <paramref name="view"/> of the network's W × H input) upsampled bilinearly to the view, coloured,
    /// and placed where the view lies on the image (<see cref="ResizeGeometry.InputInSource"/>), clipped to the image.</summary>
    public static SKBitmap Draw(SKBitmap source, IReadOnlyList<float>? values, int gridWidth, int gridHeight, int inputWidth, int inputHeight,
        ImageResizingEstimator.ResizingKind resizing, (int Width, int Height) view, int? maxSide)
    {
        var scale = maxSide is { } m ? Math.Min(1.0, m / (double)Math.Max(source.Width, source.Height)) : 1.0;
        var (width, height) = (Math.Max(1, (int)Math.Round(source.Width * scale)), Math.Max(1, (int)Math.Round(source.Height * scale)));
        var result = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var canvas = new SKCanvas(result);
        canvas.Clear(SKColors.Black);
        using (var image = SKImage.FromBitmap(source))
        using (var paint = new SKPaint())
            canvas.DrawImage(image, new SKRect(0, 0, source.Width, source.Height), new SKRect(0, 0, width, height), Cubic, paint);
        if (values is null) return result;

        using var heat = Colour(Upsample(values, gridWidth, gridHeight, view.Width, view.Height), view.Width, view.Height);
        var input = ResizeGeometry.InputInSource(source.Width, source.Height, inputWidth, inputHeight, resizing);
        // The graph's centre crop, in the input's pixels, then in the thumbnail's.
        var (sx, sy) = (input.Width / inputWidth, input.Height / inputHeight);
        var (left, top) = (input.Left + (inputWidth - view.Width) / 2 * sx, input.Top + (inputHeight - view.Height) / 2 * sy);
        var target = new SKRect((float)(left * scale), (float)(top * scale), (float)((left + view.Width * sx) * scale), (float)((top + view.Height * sy) * scale));
        canvas.Save();
        canvas.ClipRect(new SKRect(0, 0, width, height));
        using (var image = SKImage.FromBitmap(heat))
        using (var paint = new SKPaint { Color = SKColors.White.WithAlpha(Opacity) })
            canvas.DrawImage(image, new SKRect(0, 0, view.Width, view.Height), target, new SKSamplingOptions(SKFilterMode.Linear), paint);
        canvas.Restore();
        return result;
    }

    /// <summary>Bilinear upsampling of a [gh, gw] grid to [h, w] with pixel centres aligned (as torch's interpolate with
    /// align_corners = false).</summary>
    internal static float[] Upsample(IReadOnlyList<float> grid, int gridWidth, int gridHeight, int width, int height)
    {
        if (grid.Count != gridWidth * gridHeight) throw new ArgumentException($"The map holds {grid.Count} values, not {gridWidth}x{gridHeight}.", nameof(grid));
        var result = new float[width * height];
        for (int y = 0; y < height; y++)
        {
            var gy = Math.Clamp((y + 0.5) * gridHeight / height - 0.5, 0, gridHeight - 1);
            int y0 = (int)gy, y1 = Math.Min(y0 + 1, gridHeight - 1);
            var fy = (float)(gy - y0);
            for (int x = 0; x < width; x++)
            {
                var gx = Math.Clamp((x + 0.5) * gridWidth / width - 0.5, 0, gridWidth - 1);
                int x0 = (int)gx, x1 = Math.Min(x0 + 1, gridWidth - 1);
                var fx = (float)(gx - x0);
                var top = grid[y0 * gridWidth + x0] * (1 - fx) + grid[y0 * gridWidth + x1] * fx;
                var bottom = grid[y1 * gridWidth + x0] * (1 - fx) + grid[y1 * gridWidth + x1] * fx;
                result[y * width + x] = top * (1 - fy) + bottom * fy;
            }
        }
        return result;
    }

    /// <summary>The "jet" colour map: blue at 0 through green to red at 1.</summary>
    internal static SKColor Jet(float v)
    {
        v = Math.Clamp(v, 0f, 1f);
        static byte Channel(float c) => (byte)Math.Round(255 * Math.Clamp(c, 0f, 1f));
        return new SKColor(Channel(1.5f - Math.Abs(4 * v - 3)), Channel(1.5f - Math.Abs(4 * v - 2)), Channel(1.5f - Math.Abs(4 * v - 1)));
    }

    private static SKBitmap Colour(float[] values, int width, int height)
    {
        var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var pixels = new SKColor[values.Length];
        for (int i = 0; i < values.Length; i++) pixels[i] = Jet(values[i]);
        bitmap.Pixels = pixels;
        return bitmap;
    }

    /// <summary>Decodes an image file, naming it when that fails.</summary>
    public static SKBitmap Decode(string path)
    {
        SKBitmap? bitmap;
        try
        {
            bitmap = SKBitmap.Decode(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlNetTransferException($"{path}: cannot be read ({e.Message}).", e);
        }
        return bitmap ?? throw new MlNetTransferException($"{path}: cannot be decoded as an image (JPEG, PNG, BMP, GIF or WebP).");
    }

    public static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format, int quality = 85)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality) ?? throw new MlNetTransferException($"SkiaSharp could not encode a {bitmap.Width}x{bitmap.Height} {format} image.");
        return data.ToArray();
    }
}
