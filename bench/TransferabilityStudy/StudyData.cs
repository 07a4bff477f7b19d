using MlNetTransfer.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace TransferabilityStudy;

/// <summary>Images as a float tensor [N, 3, 28, 28] (grey repeated to three channels, normalised) and labels 0–4 [N].</summary>
public sealed record LabelledTensors(Tensor Images, Tensor Labels) : IDisposable
{
    public long Count => Labels.shape[0];

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// The data split, Yosinski-style: task A = Fashion-MNIST classes 0–4 (t-shirt, trouser, pullover, dress, coat), task B =
/// classes 5–9 (sandal, shirt, sneaker, bag, ankle boot). A's training images and B's small labelled sets are draws from
/// the official training split (disjoint, as the classes are; a seed picks them); B's test set is the first
/// <see cref="StudyOptions.TestPerClass"/> images per class of the official test split, the same for every run.
/// </summary>
public sealed class StudyData
{
    public static readonly int[] ClassesA = [0, 1, 2, 3, 4];
    public static readonly int[] ClassesB = [5, 6, 7, 8, 9];

    // Fashion-MNIST's pixel mean and standard deviation (over the training set, pixels scaled to 0..1).
    private const float Mean = 0.2860f, Std = 0.3530f;

    private readonly byte[][] _trainImages, _testImages;
    private readonly byte[] _trainLabels, _testLabels;

    public StudyData(string source)
    {
        (_trainImages, _trainLabels) = FashionMnistReader.ReadTraining(source);
        (_testImages, _testLabels) = FashionMnistReader.ReadTest(source);
    }

    /// <summary>A's training set: <paramref name="perClass"/> images of each class 0–4.</summary>
    public LabelledTensors BaseTraining(int perClass, int seed) => Pick(_trainImages, _trainLabels, ClassesA, perClass, new Random(seed));

    /// <summary>B's labelled set: <paramref name="perClass"/> images of each class 5–9. For a seed, a smaller set is a
    /// subset of a larger one (the same shuffled order, cut shorter), so sizes differ only in how much was labelled.</summary>
    public LabelledTensors TargetTraining(int perClass, int seed) => Pick(_trainImages, _trainLabels, ClassesB, perClass, new Random(seed));

    /// <summary>B's fixed test set from the official test split.</summary>
    public LabelledTensors TargetTest(int perClass) => Pick(_testImages, _testLabels, ClassesB, perClass, random: null);

    /// <summary>A's test set (to report how good the base network is), from the official test split.</summary>
    public LabelledTensors BaseTest(int perClass) => Pick(_testImages, _testLabels, ClassesA, perClass, random: null);

    private static LabelledTensors Pick(byte[][] images, byte[] labels, int[] classes, int perClass, Random? random)
    {
        var chosen = new List<(int Index, int Label)>();
        for (int k = 0; k < classes.Length; k++)
        {
            var pool = Enumerable.Range(0, labels.Length).Where(i => labels[i] == classes[k]).ToArray();
            random?.Shuffle(pool);
            if (pool.Length < perClass)
                throw new ArgumentException($"Class {classes[k]} has {pool.Length} images; {perClass} were asked for.");
            chosen.AddRange(pool.Take(perClass).Select(i => (i, k)));
        }
        var pixels = new float[chosen.Count * FashionMnistReader.ImagePixels];
        for (int n = 0; n < chosen.Count; n++)
        {
            var src = images[chosen[n].Index];
            for (int p = 0; p < src.Length; p++) pixels[n * FashionMnistReader.ImagePixels + p] = (src[p] / 255f - Mean) / Std;
        }
        using var grey = torch.tensor(pixels, [chosen.Count, 1, 28, 28]);
        // The SmallCnn takes RGB like every backbone here; grey images enter as three equal channels.
        return new LabelledTensors(grey.repeat(1, 3, 1, 1), torch.tensor(chosen.Select(c => (long)c.Label).ToArray()));
    }
}
