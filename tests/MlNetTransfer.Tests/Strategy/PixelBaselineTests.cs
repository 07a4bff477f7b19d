using MlNetTransfer.Strategy;
using MlNetTransfer.Tests.TestSupport;
using SkiaSharp;

namespace MlNetTransfer.Tests.Strategy;

public class PixelBaselineTests
{
    private static string Save(string path, int width, int height, Action<SKCanvas> draw)
    {
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap)) draw(canvas);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void Downsamples_the_centre_square_to_rgb_values()
    {
        using var dir = new TempDirectory();
        // 64×32: a red band either side of a 32×32 centre square whose top half is pure green and bottom half pure blue.
        var path = Save(dir.Combine("a.png"), 64, 32, c =>
        {
            c.Clear(SKColors.Red);
            using var green = new SKPaint { Color = new SKColor(0, 255, 0) };
            using var blue = new SKPaint { Color = new SKColor(0, 0, 255) };
            c.DrawRect(16, 0, 32, 16, green);
            c.DrawRect(16, 16, 32, 16, blue);
        });
        var values = PixelBaseline.Compute([path], size: 8)[0];
        Assert.Equal(8 * 8 * 3, values.Length);
        float[] Pixel(int x, int y) => values.AsSpan((y * 8 + x) * 3, 3).ToArray();
        Assert.Equal([0f, 1f, 0f], Pixel(0, 0));   // no red: the side bands are cropped away
        Assert.Equal([0f, 1f, 0f], Pixel(7, 2));
        Assert.Equal([0f, 0f, 1f], Pixel(0, 7));
        Assert.Equal([0f, 0f, 1f], Pixel(5, 6));
    }

    [Fact]
    public void An_undecodable_file_is_named()
    {
        using var dir = new TempDirectory();
        var bad = dir.Combine("broken.jpg");
        File.WriteAllText(bad, "not an image");
        var e = Assert.Throws<MlNetTransferException>(() => PixelBaseline.Compute([bad]));
        Assert.Contains("broken.jpg", e.Message);
    }
}
