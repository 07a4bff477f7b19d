using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Tests.TestSupport;
using SkiaSharp;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>Training must see the pixels prediction will see: the reader against ML.NET's LoadImages → ResizeImages → ExtractPixels.</summary>
public sealed class ImagePixelReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new("mlnt-pixels");

    public void Dispose() => _dir.Dispose();

    private string Image(string name, int width, int height, SKColorType type, SKEncodedImageFormat format, int seed)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, type, type == SKColorType.Gray8 ? SKAlphaType.Opaque : SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
            using var paint = new SKPaint { IsAntialias = true };
            for (int i = 0; i < 12; i++)
            {
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(2, 1 + Math.Max(width, height) / 3), paint);
            }
        }
        var path = _dir.Combine(name);
        using var data = bitmap.Encode(format, 95);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    private static float[] MlNetPixels(string path, int width, int height, ImageResizingEstimator.ResizingKind resizing)
    {
        var ml = new MLContext(1);
        var input = ml.Data.LoadFromEnumerable(new[] { new Featurization.ImageFeaturizer.ImagePathRow { ImagePath = path } });
        var pipeline = ml.Transforms.LoadImages("image", null, "ImagePath")
            .Append(ml.Transforms.ResizeImages("image", width, height, "image", resizing))
            .Append(ml.Transforms.ExtractPixels("pixels", "image"));
        var output = pipeline.Fit(input).Transform(input);
        return output.GetColumn<VBuffer<float>>(output.Schema["pixels"]).Single().DenseValues().ToArray();
    }

    [Theory]
    [InlineData(60, 40, SKColorType.Rgba8888, SKEncodedImageFormat.Jpeg, ImageResizingEstimator.ResizingKind.IsoCrop)]
    [InlineData(37, 53, SKColorType.Rgba8888, SKEncodedImageFormat.Png, ImageResizingEstimator.ResizingKind.IsoCrop)]
    [InlineData(28, 28, SKColorType.Gray8, SKEncodedImageFormat.Png, ImageResizingEstimator.ResizingKind.IsoCrop)]
    [InlineData(32, 32, SKColorType.Rgba8888, SKEncodedImageFormat.Png, ImageResizingEstimator.ResizingKind.IsoCrop)]
    [InlineData(50, 30, SKColorType.Rgba8888, SKEncodedImageFormat.Png, ImageResizingEstimator.ResizingKind.IsoPad)]
    [InlineData(50, 30, SKColorType.Rgba8888, SKEncodedImageFormat.Png, ImageResizingEstimator.ResizingKind.Fill)]
    public void PlainReadEqualsMlNetsPixels(int width, int height, SKColorType type, SKEncodedImageFormat format, ImageResizingEstimator.ResizingKind resizing)
    {
        var path = Image($"img_{width}x{height}_{type}.{(format == SKEncodedImageFormat.Jpeg ? "jpg" : "png")}", width, height, type, format, seed: width * height);
        var reader = new ImagePixelReader(32, 32, resizing);
        var planes = new byte[reader.Length];
        reader.Read(path, planes);
        var expected = MlNetPixels(path, 32, 32, resizing);
        Assert.Equal(expected, planes.Select(b => (float)b));
    }

    [Fact]
    public void AugmentedViewsVaryWithTheGeneratorAndRepeatWithItsSeed()
    {
        var path = Image("aug.png", 48, 40, SKColorType.Rgba8888, SKEncodedImageFormat.Png, seed: 9);
        var reader = new ImagePixelReader(32, 32);
        var augmentation = new ImageAugmentation();
        float[] View(int seed)
        {
            var values = new float[reader.Length];
            reader.ReadAugmented(path, values, augmentation, new Random(seed));
            return values;
        }
        Assert.Equal(View(1), View(1));
        Assert.NotEqual(View(1), View(2));
        Assert.All(View(3), v => Assert.InRange(v, 0f, 255f));

        // Everything off: the augmented view is the plain one.
        var off = new ImageAugmentation { MinCropArea = 1, HorizontalFlip = false, Brightness = 0, Contrast = 0, Saturation = 0 };
        var plain = new byte[reader.Length];
        reader.Read(path, plain);
        var same = new float[reader.Length];
        reader.ReadAugmented(path, same, off, new Random(5));
        Assert.Equal(plain.Select(b => (float)b), same);
    }

    [Fact]
    public void TrainingViewsComeFromACopyDecodedOnceAndShrunkToALittleAboveTheInput()
    {
        var reader = new ImagePixelReader(32, 32);
        var big = Image("big.jpg", 400, 300, SKColorType.Rgba8888, SKEncodedImageFormat.Jpeg, seed: 4);
        var small = Image("small.png", 20, 30, SKColorType.Rgba8888, SKEncodedImageFormat.Png, seed: 6);
        using (var kept = reader.DecodeForAugmentation(big))
        {
            // Shorter side ceil(1.15 × 32) = 37, aspect ratio kept.
            Assert.Equal((49, 37), (kept.Width, kept.Height));
            // A view drawn from the copy looks like the same view drawn from the file (the crop is in fractions of the image).
            var augmentation = new ImageAugmentation();
            var fromFile = new float[reader.Length];
            var fromCopy = new float[reader.Length];
            for (int seed = 0; seed < 4; seed++)
            {
                reader.ReadAugmented(big, fromFile, augmentation, new Random(seed));
                reader.ReadAugmented(kept, fromCopy, augmentation, new Random(seed));
                var meanDifference = fromFile.Zip(fromCopy, (a, b) => Math.Abs(a - b)).Average();
                Assert.True(meanDifference < 6, $"seed {seed}: mean difference {meanDifference} of 255");
            }
        }
        using (var kept = reader.DecodeForAugmentation(small))
            Assert.Equal((20, 30), (kept.Width, kept.Height)); // never enlarged

        // The set keeps copies within its byte budget (here room for one) and draws later views from them.
        var oneImage = 49L * 37 * 4;
        using var set = new ImageSet([big, small, big], [0, 1, 0], reader, maxCachedBytes: 0, maxSourceBytes: oneImage + 100);
        var view = new float[reader.Length];
        set.ReadAugmented(0, view, new ImageAugmentation(), new Random(1));
        Assert.Equal(oneImage, set.SourceBytes);
        set.ReadAugmented(1, view, new ImageAugmentation(), new Random(1));
        set.ReadAugmented(2, view, new ImageAugmentation(), new Random(1));
        Assert.Equal(oneImage, set.SourceBytes);
        var again = new float[reader.Length];
        set.ReadAugmented(0, again, new ImageAugmentation(), new Random(7));
        using (var kept = reader.DecodeForAugmentation(big))
        {
            var expected = new float[reader.Length];
            reader.ReadAugmented(kept, expected, new ImageAugmentation(), new Random(7));
            Assert.Equal(expected, again);
        }
        using var none = new ImageSet([big], [0], reader, maxCachedBytes: 0, maxSourceBytes: 0);
        none.ReadAugmented(0, view, new ImageAugmentation(), new Random(1));
        Assert.Equal(0, none.SourceBytes);
    }

    [Fact]
    public void AnUndecodableFileIsNamed()
    {
        var path = _dir.Combine("text.jpg");
        File.WriteAllText(path, "hello");
        var e = Assert.Throws<MlNetTransferException>(() => new ImagePixelReader(8, 8).Read(path, new byte[3 * 8 * 8]));
        Assert.Contains("text.jpg", e.Message);
    }
}
