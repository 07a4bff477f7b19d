using SkiaSharp;

namespace MlNetTransfer.Data;

/// <summary>Options of <see cref="FashionMnistExporter"/>. Every count is per class.</summary>
public sealed class FashionMnistExportOptions
{
    /// <summary>Folder with the four IDX .gz files. Default <c>/usr/share/datasets/fashion-mnist</c> (Debian <c>dataset-fashion-mnist</c>).</summary>
    public string SourceDirectory { get; set; } = FashionMnistReader.DefaultDirectory;

    /// <summary>Training images per class, drawn from the official training set. Default 100.</summary>
    public int TrainPerClass { get; set; } = 100;

    /// <summary>Validation images per class, from the official training set, disjoint from the training pick. Default 50.</summary>
    public int ValidationPerClass { get; set; } = 50;

    /// <summary>Test images per class, from the official test set. Default 100 (0 writes no test/ folder).</summary>
    public int TestPerClass { get; set; } = 100;

    /// <summary>Class indices to export (0–9). Default all ten.</summary>
    public IReadOnlyList<int> Classes { get; set; } = Enumerable.Range(0, 10).ToArray();

    /// <summary>Seed of the per-class shuffle that picks the images: same seed, same files. Default 42.</summary>
    public int Seed { get; set; } = 42;
}

/// <summary>
/// Turns Fashion-MNIST's IDX files into a pre-split image folder (<c>train/ val/ test/</c>, one sub-folder per class,
/// 28×28 PNGs). A deliberately different domain from ImageNet photos: grey, centred, tiny product images.
/// The IDX reader is hand-written because the format is 16 bytes of header and raw bytes — no package needed.
/// </summary>
public static class FashionMnistExporter
{
    public static readonly string[] ClassNames =
        ["t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"];

    public static string Export(string outputDirectory, FashionMnistExportOptions? options = null)
    {
        options ??= new FashionMnistExportOptions();
        foreach (var c in options.Classes)
            if (c is < 0 or > 9) throw new MlNetTransferException($"Fashion-MNIST class {c} does not exist (0–9).");
        var (trainImages, trainLabels) = FashionMnistReader.ReadTraining(options.SourceDirectory);
        var (testImages, testLabels) = options.TestPerClass > 0 ? FashionMnistReader.ReadTest(options.SourceDirectory) : (Array.Empty<byte[]>(), Array.Empty<byte>());

        // Write into a sibling temp folder and rename at the end: no half-exported data set.
        var final = Path.GetFullPath(outputDirectory);
        if (Directory.Exists(final) && Directory.EnumerateFileSystemEntries(final).Any())
            throw new MlNetTransferException($"{outputDirectory}: folder exists and is not empty; choose a new one.");
        var tmp = final.TrimEnd(Path.DirectorySeparatorChar) + $".partial-{Environment.ProcessId}";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        try
        {
            var random = new Random(options.Seed);
            foreach (var c in options.Classes)
            {
                var pool = Shuffle(Enumerable.Range(0, trainLabels.Length).Where(i => trainLabels[i] == c).ToArray(), random);
                Need(pool.Length, options.TrainPerClass + options.ValidationPerClass, c, "training");
                WriteAll(tmp, "train", c, pool.Take(options.TrainPerClass), trainImages);
                WriteAll(tmp, "val", c, pool.Skip(options.TrainPerClass).Take(options.ValidationPerClass), trainImages);
                if (options.TestPerClass > 0)
                {
                    var testPool = Shuffle(Enumerable.Range(0, testLabels.Length).Where(i => testLabels[i] == c).ToArray(), random);
                    Need(testPool.Length, options.TestPerClass, c, "test");
                    WriteAll(tmp, "test", c, testPool.Take(options.TestPerClass), testImages);
                }
            }
            if (Directory.Exists(final)) Directory.Delete(final);
            Directory.Move(tmp, final);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
        return final;
    }

    private static void Need(int have, int want, int c, string set)
    {
        if (have < want) throw new MlNetTransferException($"Fashion-MNIST class {c} ({ClassNames[c]}) has {have} {set} images; {want} were asked for.");
    }

    private static int[] Shuffle(int[] items, Random random)
    {
        random.Shuffle(items);
        return items;
    }

    private static void WriteAll(string root, string split, int c, IEnumerable<int> indices, byte[][] images)
    {
        var dir = Path.Combine(root, split, ClassNames[c]);
        Directory.CreateDirectory(dir);
        foreach (var i in indices)
        {
            using var bmp = new SKBitmap(new SKImageInfo(28, 28, SKColorType.Gray8, SKAlphaType.Opaque));
            System.Runtime.InteropServices.Marshal.Copy(images[i], 0, bmp.GetPixels(), images[i].Length);
            using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(dir, $"{split}-{i:D5}.png"), data.ToArray());
        }
    }
}
