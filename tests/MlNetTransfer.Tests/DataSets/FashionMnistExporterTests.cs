using System.IO.Compression;
using MlNetTransfer.Data;
using MlNetTransfer.Tests.TestSupport;
using SkiaSharp;

namespace MlNetTransfer.Tests.DataSets;

public sealed class FashionMnistExporterTests
{
    // Small IDX files in the official layout: image i of class c is filled with the grey level 10*c + (i % 7).
    private static string WriteIdx(TempDirectory dir, int perClassTrain = 6, int perClassTest = 3)
    {
        var src = dir.Combine("idx");
        Directory.CreateDirectory(src);
        void Write(string prefix, int perClass)
        {
            var labels = Enumerable.Range(0, 10 * perClass).Select(i => (byte)(i % 10)).ToArray();
            var images = labels.SelectMany((c, i) => Enumerable.Repeat((byte)(10 * c + i % 7), 784)).ToArray();
            WriteGz(Path.Combine(src, $"{prefix}-labels-idx1-ubyte.gz"), [.. Header(2049, labels.Length), .. labels]);
            WriteGz(Path.Combine(src, $"{prefix}-images-idx3-ubyte.gz"), [.. Header(2051, labels.Length, 28, 28), .. images]);
        }
        Write("train", perClassTrain);
        Write("t10k", perClassTest);
        return src;
    }

    private static byte[] Header(int magic, params int[] dims) =>
        new[] { magic }.Concat(dims).SelectMany(v => new[] { (byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v }).ToArray();

    private static void WriteGz(string path, byte[] bytes)
    {
        using var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        gz.Write(bytes);
    }

    [Fact]
    public void ExportsAPreSplitFolderThatTheLoaderUsesAsGiven()
    {
        using var dir = new TempDirectory();
        var options = new FashionMnistExportOptions { SourceDirectory = WriteIdx(dir), TrainPerClass = 4, ValidationPerClass = 2, TestPerClass = 3, Classes = [5, 7, 9] };
        var output = FashionMnistExporter.Export(dir.Combine("fm"), options);

        var dataset = ImageDatasetLoader.Load(output);
        Assert.True(dataset.IsPreSplit);
        Assert.Equal(["ankle_boot", "sandal", "sneaker"], dataset.Classes);
        Assert.Equal(12, dataset.Train.Count);
        Assert.Equal(6, dataset.Validation.Count);
        Assert.Equal(9, dataset.Test.Count);
        Assert.Empty(dataset.Skipped);
        Assert.Empty(dataset.Train.Select(e => Path.GetFileName(e.Path)).Intersect(dataset.Validation.Select(e => Path.GetFileName(e.Path))));

        // Pixels survive: a sandal (class 5) image is a flat grey of 50..56.
        using var bmp = SKBitmap.Decode(dataset.Train.First(e => e.Label == "sandal").Path);
        Assert.Equal(28, bmp.Width);
        Assert.InRange(bmp.GetPixel(14, 14).Red, 50, 56);
    }

    [Fact]
    public void SameSeedSameFilesOtherSeedOtherFiles()
    {
        using var dir = new TempDirectory();
        var src = WriteIdx(dir);
        string[] Files(string name, int seed) => Directory.GetFiles(
            FashionMnistExporter.Export(dir.Combine(name), new FashionMnistExportOptions { SourceDirectory = src, TrainPerClass = 3, ValidationPerClass = 1, TestPerClass = 0, Seed = seed }),
            "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir.Combine(name), f)).Order().ToArray();
        Assert.Equal(Files("a", 1), Files("b", 1));
        Assert.NotEqual(Files("a2", 1), Files("c", 2));
    }

    [Fact]
    public void AskingForMoreThanThereIsNamesTheClassAndLeavesNothing()
    {
        using var dir = new TempDirectory();
        var options = new FashionMnistExportOptions { SourceDirectory = WriteIdx(dir), TrainPerClass = 6, ValidationPerClass = 1, Classes = [3] };
        var e = Assert.Throws<MlNetTransferException>(() => FashionMnistExporter.Export(dir.Combine("fm"), options));
        Assert.Contains("dress", e.Message);
        Assert.False(Directory.Exists(dir.Combine("fm")));
        Assert.DoesNotContain(Directory.GetDirectories(dir.Path), d => d.Contains("partial"));
    }

    [Fact]
    public void MissingSourceSaysHowToInstallIt()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<MlNetTransferException>(() => FashionMnistExporter.Export(dir.Combine("fm"), new FashionMnistExportOptions { SourceDirectory = dir.Combine("none") }));
        Assert.Contains("dataset-fashion-mnist", e.Message);
    }
}
