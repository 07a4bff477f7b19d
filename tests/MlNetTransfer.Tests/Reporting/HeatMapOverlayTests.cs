using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Reporting;
using SkiaSharp;

namespace MlNetTransfer.Tests.Reporting;

/// <summary>Where a heat map lands on its image: the part of the image the network looked at, and nothing else.</summary>
public class HeatMapOverlayTests
{
    [Fact]
    public void The_map_covers_the_centre_crop_the_network_saw_and_leaves_the_rest_of_the_image_alone()
    {
        // A 200 × 100 white image; ML.NET's IsoCrop brings its centre 100 × 100 to the 64 × 64 input, whose graph then
        // crops the centre 56 × 56: in the image, x from 50 + 4 · 100/64 = 56.25 to 143.75, y from 6.25 to 93.75.
        using var source = new SKBitmap(200, 100, SKColorType.Rgba8888, SKAlphaType.Opaque);
        source.Erase(SKColors.White);
        var map = Enumerable.Repeat(1f, 7 * 7).ToArray();
        using var drawn = HeatMapOverlay.Draw(source, map, 7, 7, 64, 64, ImageResizingEstimator.ResizingKind.IsoCrop, (56, 56), maxSide: null);
        Assert.Equal((200, 100), (drawn.Width, drawn.Height));
        bool Tinted(int x, int y) => drawn.GetPixel(x, y) != SKColors.White;
        foreach (var (x, y) in new[] { (52, 50), (148, 50), (100, 3), (100, 97), (10, 10), (190, 90) }) Assert.False(Tinted(x, y), $"({x}, {y}) lies outside what the network saw");
        foreach (var (x, y) in new[] { (60, 50), (140, 50), (100, 10), (100, 90), (100, 50) }) Assert.True(Tinted(x, y), $"({x}, {y}) lies inside what the network saw");

        // Scaled to a thumbnail, the same place at half the size.
        using var thumb = HeatMapOverlay.Draw(source, map, 7, 7, 64, 64, ImageResizingEstimator.ResizingKind.IsoCrop, (56, 56), maxSide: 100);
        Assert.Equal((100, 50), (thumb.Width, thumb.Height));
        Assert.False(thumb.GetPixel(26, 25) != SKColors.White);
        Assert.True(thumb.GetPixel(30, 25) != SKColors.White);
    }

    [Fact]
    public void Upsampling_keeps_the_grid_values_at_the_cell_centres_and_blends_between()
    {
        float[] grid = [0, 1, 1, 0];
        var up = HeatMapOverlay.Upsample(grid, 2, 2, 3, 3);
        Assert.Equal(0f, up[0]);            // a corner pixel takes its cell's value
        Assert.Equal(1f, up[2]);
        Assert.Equal(0.5f, up[1 * 3 + 1], 5); // the centre blends all four
        Assert.Equal(0.375f, HeatMapOverlay.Upsample(grid, 2, 2, 4, 4)[1 * 4 + 1], 5); // a quarter cell from the corner: 0.25·0.75 + 0.75·0.25
        Assert.Equal(new SKColor(0, 0, 128), HeatMapOverlay.Jet(0));
        Assert.Equal(new SKColor(128, 0, 0), HeatMapOverlay.Jet(1));
    }
}
