using System.IO.Compression;

namespace MlNetTransfer.Data;

/// <summary>
/// Reads Fashion-MNIST's IDX .gz files (Debian <c>dataset-fashion-mnist</c>) into memory: 28×28 grey images as 784 bytes
/// each, row-major, and their class labels 0–9. Hand-written because the format is a 16-byte header and raw bytes — no
/// package needed.
/// </summary>
public static class FashionMnistReader
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Pixels per image (28 × 28).</summary>
    public const int ImagePixels = 28 * 28;

    /// <summary>The official training set (60 000 images, <c>train-*</c> files).</summary>
    public static (byte[][] Images, byte[] Labels) ReadTraining(string directory = DefaultDirectory) => Read(directory, "train");

    /// <summary>The official test set (10 000 images, <c>t10k-*</c> files).</summary>
    public static (byte[][] Images, byte[] Labels) ReadTest(string directory = DefaultDirectory) => Read(directory, "t10k");

    private static (byte[][] Images, byte[] Labels) Read(string dir, string prefix)
    {
        var imagesPath = Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz");
        var labelsPath = Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz");
        foreach (var p in new[] { imagesPath, labelsPath })
            if (!File.Exists(p))
                throw new MlNetTransferException($"{p}: not found. Install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or point --source at the IDX files.");
        var labels = ReadIdx(labelsPath, 2049, out _);
        var pixels = ReadIdx(imagesPath, 2051, out var dims);
        if (dims.Length != 3 || dims[1] != 28 || dims[2] != 28 || dims[0] != labels.Length)
            throw new MlNetTransferException($"{imagesPath}: expected {labels.Length} images of 28×28, found dimensions [{string.Join(",", dims)}].");
        var images = new byte[dims[0]][];
        for (int i = 0; i < images.Length; i++) images[i] = pixels.AsSpan(i * ImagePixels, ImagePixels).ToArray();
        return (images, labels);
    }

    private static byte[] ReadIdx(string path, int magic, out int[] dims)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var bytes = ms.ToArray();
        int BigEndian(int at) => (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
        if (bytes.Length < 8 || BigEndian(0) != magic) throw new MlNetTransferException($"{path}: not an IDX file (bad magic number).");
        var rank = magic & 0xFF;
        dims = Enumerable.Range(0, rank).Select(k => BigEndian(4 + 4 * k)).ToArray();
        var offset = 4 + 4 * rank;
        var count = dims.Aggregate(1L, (a, d) => a * d);
        if (bytes.Length - offset != count) throw new MlNetTransferException($"{path}: truncated ({bytes.Length - offset} of {count} bytes).");
        return bytes[offset..];
    }
}
