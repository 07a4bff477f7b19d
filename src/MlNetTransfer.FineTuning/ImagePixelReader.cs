using Microsoft.ML.Transforms.Image;
using SkiaSharp;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Reads image files into the <c>pixels</c> a prepared backbone takes: R, G, B planes [3, H, W] of raw 0..255 values.
/// <see cref="Read"/> computes exactly what ML.NET's <c>LoadImages → ResizeImages → ExtractPixels</c> computes at prediction
/// time (the same SkiaSharp decode, resize geometry and filter), so a model fine-tuned on these pixels sees the same input
/// when it runs inside the saved ML.NET chain. <c>ReadAugmented</c> draws a random training view instead.
/// Thread-safe: every call works on its own bitmaps.
/// </summary>
public sealed class ImagePixelReader
{
    public ImagePixelReader(int width, int height, ImageResizingEstimator.ResizingKind resizing = ImageResizingEstimator.ResizingKind.IsoCrop)
    {
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), $"Image size {width}x{height} must be positive.");
        Width = width;
        Height = height;
        Resizing = resizing;
    }

    // ML.NET 6's ResizeImages (SkiaSharp 3) draws with Mitchell's cubic, without mipmaps, and stretches (Fill) with nearest
    // neighbour. Shrinking thus differs from ML.NET 5 (SkiaSharp 2's High went through mipmaps); training views use the same
    // cubic, so they are filtered as prediction's pixels are.
    internal static readonly SKSamplingOptions Cubic = new(SKCubicResampler.Mitchell);
    private static readonly SKSamplingOptions Nearest = new(SKFilterMode.Nearest);

    public int Width { get; }
    public int Height { get; }
    public ImageResizingEstimator.ResizingKind Resizing { get; }

    /// <summary>Values per image: 3 · H · W.</summary>
    public int Length => 3 * Width * Height;

    /// <summary>The evaluation view: the image resized the way the featurizer resizes it, as 0..255 planes.</summary>
    public void Read(string path, Span<byte> planes)
    {
        CheckLength(planes.Length);
        using var source = Decode(path);
        if (source.Width == Width && source.Height == Height)
        {
            // ML.NET hands an image already of the target size through unchanged.
            CopyPlanes(source, planes);
            return;
        }
        if (Resizing == ImageResizingEstimator.ResizingKind.Fill)
        {
            // ML.NET stretches with SKBitmap.Resize and no filtering (nearest neighbour).
            using var stretched = source.Resize(new SKSizeI(Width, Height), Nearest)
                ?? throw new MlNetTransferException($"{path}: could not be resized to {Width}x{Height}.");
            CopyPlanes(stretched, planes);
            return;
        }
        using var resized = new SKBitmap(Width, Height, isOpaque: true);
        resized.Erase(SKColors.Black);
        using (var canvas = new SKCanvas(resized))
        using (var image = SKImage.FromBitmap(source))
        using (var paint = new SKPaint())
            canvas.DrawImage(image, new SKRect(0, 0, source.Width, source.Height), DestinationRect(source.Width, source.Height), Cubic, paint);
        CopyPlanes(resized, planes);
    }

    /// <summary>How much larger than the input the shorter side of an image decoded for augmentation is kept
    /// (<see cref="DecodeForAugmentation"/>): enough to crop from without upscaling the plain view, far less than a photo.</summary>
    public const double AugmentationSourceScale = 1.15;

    /// <summary>A random training view: random resized crop, optional mirror, colour jitter; 0..255 planes as floats. Drawn
    /// from the full decoded file (training draws from <see cref="DecodeForAugmentation"/>'s smaller copy instead).</summary>
    public void ReadAugmented(string path, Span<float> planes, ImageAugmentation augmentation, Random random)
    {
        using var decoded = Decode(path);
        decoded.SetImmutable();
        using var source = SKImage.FromBitmap(decoded) ?? throw new MlNetTransferException($"{path}: could not be kept as an image.");
        ReadAugmented(source, planes, augmentation, random);
    }

    /// <summary>The image decoded once and shrunk (with the resize's cubic) so its shorter side is <see cref="AugmentationSourceScale"/>
    /// times the larger input side (smaller images stay as they are): what every training view of it is drawn from, so an
    /// epoch does not decode a large JPEG again for each view. Immutable, so views may be drawn from it on several threads.</summary>
    public SKImage DecodeForAugmentation(string path)
    {
        var target = (int)Math.Ceiling(AugmentationSourceScale * Math.Max(Width, Height));
        using var decoded = Decode(path);
        var shorter = Math.Min(decoded.Width, decoded.Height);
        if (shorter <= target)
        {
            decoded.SetImmutable();
            return SKImage.FromBitmap(decoded) ?? throw new MlNetTransferException($"{path}: could not be kept as an image.");
        }
        var scale = target / (double)shorter;
        var size = new SKImageInfo(Math.Max(1, (int)Math.Round(decoded.Width * scale)), Math.Max(1, (int)Math.Round(decoded.Height * scale)),
            decoded.ColorType, decoded.AlphaType);
        using var shrunk = decoded.Resize(size, Cubic) ?? throw new MlNetTransferException($"{path}: could not be resized to {size.Width}x{size.Height}.");
        shrunk.SetImmutable();
        return SKImage.FromBitmap(shrunk) ?? throw new MlNetTransferException($"{path}: could not be kept as an image.");
    }

    /// <summary>A random training view of an image from <see cref="DecodeForAugmentation"/>. The crop is drawn in fractions of
    /// the image (area and aspect ratio), so it does not depend on how far the image was shrunk.</summary>
    public void ReadAugmented(SKImage source, Span<float> planes, ImageAugmentation augmentation, Random random)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(augmentation);
        CheckLength(planes.Length);
        var plainResize = augmentation.MinCropArea >= 1;
        var crop = plainResize ? new SKRect(0, 0, source.Width, source.Height) : CropRect(source.Width, source.Height, augmentation, random);
        var destination = plainResize ? DestinationRect(source.Width, source.Height) : new SKRect(0, 0, Width, Height);
        var flip = augmentation.HorizontalFlip && random.Next(2) == 1;
        using var view = new SKBitmap(Width, Height, isOpaque: true);
        view.Erase(SKColors.Black);
        using (var canvas = new SKCanvas(view))
        using (var paint = new SKPaint())
        {
            if (flip) canvas.Scale(-1, 1, Width / 2f, 0);
            canvas.DrawImage(source, crop, destination, Cubic, paint);
        }
        CopyPlanes(view, planes);
        Jitter(planes, augmentation, random);
    }

    private void CheckLength(int length)
    {
        if (length != Length) throw new ArgumentException($"The destination holds {length} values; {Width}x{Height} RGB planes need {Length}.");
    }

    private static SKBitmap Decode(string path)
    {
        var bitmap = SKBitmap.Decode(path) ?? throw new MlNetTransferException($"{path}: cannot be decoded as an image (JPEG, PNG, BMP, GIF or WebP).");
        if (bitmap.ColorType is SKColorType.Bgra8888 or SKColorType.Rgba8888) return bitmap;
        // ML.NET converts every other pixel format (grey, 565, ...) to BGRA first; so do we.
        using (bitmap)
            return bitmap.Copy(SKColorType.Bgra8888) ?? throw new MlNetTransferException($"{path}: its pixel format {bitmap.ColorType} cannot be converted to RGB.");
    }

    private SKRect DestinationRect(int sourceWidth, int sourceHeight) =>
        Featurization.ResizeGeometry.Destination(sourceWidth, sourceHeight, Width, Height, Resizing);

    /// <summary>torchvision's RandomResizedCrop: area fraction uniform in [MinCropArea, 1], aspect ratio log-uniform, up to
    /// ten tries to fit, else the centred largest crop of an allowed ratio.</summary>
    private static SKRect CropRect(int width, int height, ImageAugmentation a, Random random)
    {
        double area = (double)width * height;
        double logRatio = Math.Log(a.MaxCropAspectRatio);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            var target = area * (a.MinCropArea + (1 - a.MinCropArea) * random.NextDouble());
            var ratio = Math.Exp((random.NextDouble() * 2 - 1) * logRatio);
            var w = Math.Sqrt(target * ratio);
            var h = Math.Sqrt(target / ratio);
            if (w <= width && h <= height && w >= 1 && h >= 1)
            {
                var x = random.NextDouble() * (width - w);
                var y = random.NextDouble() * (height - h);
                return new SKRect((float)x, (float)y, (float)(x + w), (float)(y + h));
            }
        }
        double imageRatio = (double)width / height;
        double cw = width, ch = height;
        if (imageRatio > a.MaxCropAspectRatio) cw = ch * a.MaxCropAspectRatio;
        else if (imageRatio < 1 / a.MaxCropAspectRatio) ch = cw / a.MaxCropAspectRatio;
        var left = (width - cw) / 2;
        var top = (height - ch) / 2;
        return new SKRect((float)left, (float)top, (float)(left + cw), (float)(top + ch));
    }

    /// <summary>Brightness, contrast (towards the mean grey) and saturation (towards each pixel's grey), torchvision's formulas.</summary>
    private void Jitter(Span<float> planes, ImageAugmentation a, Random random)
    {
        float Factor(float amount) => amount <= 0 ? 1 : (float)(1 + (random.NextDouble() * 2 - 1) * amount);
        var brightness = Factor(a.Brightness);
        var contrast = Factor(a.Contrast);
        var saturation = Factor(a.Saturation);
        if (brightness == 1 && contrast == 1 && saturation == 1) return;
        int n = Width * Height;
        var r = planes[..n];
        var g = planes.Slice(n, n);
        var b = planes.Slice(2 * n, n);
        double meanGrey = 0;
        for (int i = 0; i < n; i++)
        {
            r[i] = Math.Min(255f, r[i] * brightness);
            g[i] = Math.Min(255f, g[i] * brightness);
            b[i] = Math.Min(255f, b[i] * brightness);
            meanGrey += 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
        }
        var mean = (float)(meanGrey / n);
        for (int i = 0; i < n; i++)
        {
            float rr = Math.Clamp(mean + (r[i] - mean) * contrast, 0f, 255f);
            float gg = Math.Clamp(mean + (g[i] - mean) * contrast, 0f, 255f);
            float bb = Math.Clamp(mean + (b[i] - mean) * contrast, 0f, 255f);
            float grey = 0.299f * rr + 0.587f * gg + 0.114f * bb;
            r[i] = Math.Clamp(grey + (rr - grey) * saturation, 0f, 255f);
            g[i] = Math.Clamp(grey + (gg - grey) * saturation, 0f, 255f);
            b[i] = Math.Clamp(grey + (bb - grey) * saturation, 0f, 255f);
        }
    }

    /// <summary>ExtractPixels' default layout: R plane, G plane, B plane; alpha ignored.</summary>
    private static void CopyPlanes(SKBitmap bitmap, Span<byte> planes) => CopyPlanes<byte>(bitmap, planes, b => b);

    private static void CopyPlanes(SKBitmap bitmap, Span<float> planes) => CopyPlanes<float>(bitmap, planes, b => b);

    private static void CopyPlanes<T>(SKBitmap bitmap, Span<T> planes, Func<byte, T> convert)
    {
        int w = bitmap.Width, h = bitmap.Height, n = w * h;
        var (ri, bi) = bitmap.ColorType == SKColorType.Rgba8888 ? (0, 2) : (2, 0);
        var pixels = bitmap.GetPixelSpan();
        var rowBytes = bitmap.RowBytes;
        for (int y = 0; y < h; y++)
        {
            var row = pixels.Slice(y * rowBytes, w * 4);
            int o = y * w;
            for (int x = 0; x < w; x++)
            {
                planes[o + x] = convert(row[4 * x + ri]);
                planes[n + o + x] = convert(row[4 * x + 1]);
                planes[2 * n + o + x] = convert(row[4 * x + bi]);
            }
        }
    }
}
