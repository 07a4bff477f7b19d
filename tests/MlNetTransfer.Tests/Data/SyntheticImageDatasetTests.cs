using System.Security.Cryptography;
using MlNetTransfer.Data;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Data;

public sealed class SyntheticImageDatasetTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Dictionary<string, string> Hashes(string root) => Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
        .ToDictionary(f => Path.GetRelativePath(root, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void Writes_class_folders_of_valid_png_and_jpeg_images_of_the_requested_size()
    {
        var root = SyntheticImageDataset.Write(Path.Combine(_temp.Path, "demo"), imagesPerClass: 4, size: 40);
        Assert.Equal(Path.Combine(_temp.Path, "demo"), root);
        Assert.Equal(SyntheticImageDataset.Classes, Directory.GetDirectories(root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var files = Directory.GetFiles(root, "*", SearchOption.AllDirectories);
        Assert.Equal(12, files.Length);
        Assert.All(files, f => Assert.StartsWith("synthetic_", Path.GetFileName(f)));
        var results = files.Select(ImageFileValidator.Validate).ToList();
        Assert.All(results, r => Assert.Equal((true, 40, 40), (r.IsValid, r.Width, r.Height)));
        Assert.Equal(6, results.Count(r => r.Format == ImageFormat.Png));
        Assert.Equal(6, results.Count(r => r.Format == ImageFormat.Jpeg));
    }

    [Fact]
    public void Same_seed_gives_identical_files_and_another_seed_differs()
    {
        var a = Hashes(SyntheticImageDataset.Write(Path.Combine(_temp.Path, "a"), 3, 32, seed: 5));
        var b = Hashes(SyntheticImageDataset.Write(Path.Combine(_temp.Path, "b"), 3, 32, seed: 5));
        var c = Hashes(SyntheticImageDataset.Write(Path.Combine(_temp.Path, "c"), 3, 32, seed: 6));
        Assert.Equal(a, b);
        Assert.NotEqual(a.Values, c.Values);
        Assert.Equal(9, a.Values.Distinct().Count()); // every image differs (random position, size, shade, noise)
    }

    [Fact]
    public void Rewriting_replaces_earlier_synthetic_files_only()
    {
        var root = SyntheticImageDataset.Write(_temp.Path, 5, 16);
        var mine = _temp.Text("red_circle/notes.txt", "keep me");
        SyntheticImageDataset.Write(root, 2, 16);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(root, "red_circle"), "synthetic_*").Length);
        Assert.True(File.Exists(mine));
    }

    [Fact]
    public void Shapes_have_their_class_colour()
    {
        var root = SyntheticImageDataset.Write(_temp.Path, 2, 64, seed: 3);
        foreach (var (label, channel) in new[] { ("red_circle", 0), ("green_square", 1), ("blue_triangle", 2) })
        {
            using var bitmap = SkiaSharp.SKBitmap.Decode(Directory.GetFiles(Path.Combine(root, label), "*.png")[0]);
            // The most saturated pixel belongs to the shape, and its dominant channel is the class colour.
            var best = bitmap.Pixels.MaxBy(p => Math.Max(p.Red, Math.Max(p.Green, p.Blue)) - Math.Min(p.Red, Math.Min(p.Green, p.Blue)));
            var values = new[] { best.Red, best.Green, best.Blue };
            Assert.Equal(channel, Array.IndexOf(values, values.Max()));
        }
    }

    [Fact]
    public void Bad_arguments_are_rejected()
    {
        Assert.Contains("imagesPerClass", Assert.Throws<MlNetTransferException>(() => SyntheticImageDataset.Write(_temp.Path, 0)).Message);
        Assert.Contains("size", Assert.Throws<MlNetTransferException>(() => SyntheticImageDataset.Write(_temp.Path, 1, 8)).Message);
    }
}
