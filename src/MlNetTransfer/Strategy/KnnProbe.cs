using System.Numerics.Tensors;

namespace MlNetTransfer.Strategy;

/// <summary>Options of <see cref="KnnProbe"/>.</summary>
public sealed class KnnProbeOptions
{
    /// <summary>Neighbours that vote. Default 5.</summary>
    public int Neighbors { get; set; } = 5;

    /// <summary>Cross-validation folds (stratified). Default 5.</summary>
    public int Folds { get; set; } = 5;

    /// <summary>Larger sets are subsampled (stratified) to this many rows; the cost is N² dot products. Default 2000.</summary>
    public int MaximumExamples { get; set; } = 2000;

    /// <summary>Seed of the fold assignment and the subsampling. Default 0.</summary>
    public int Seed { get; set; }
}

/// <summary>Cross-validated accuracy of a k-nearest-neighbour classifier on one feature set.</summary>
public sealed record ProbeResult
{
    /// <summary>Mean over classes of the per-class recall: chance level is 1/classes whatever the class balance.</summary>
    public double BalancedAccuracy { get; init; }

    /// <summary>Fraction of rows predicted right.</summary>
    public double Accuracy { get; init; }

    public int Examples { get; init; }
    public int Classes { get; init; }
    public int Dimension { get; init; }
    public int Neighbors { get; init; }
    public int Folds { get; init; }
}

/// <summary>
/// A k-nearest-neighbour probe: how well the feature geometry alone separates the classes, with no training that
/// could hide a poor representation. Rows are centred (the mean row subtracted) and scaled to unit length, so the
/// neighbours are those of highest cosine similarity; each held-out row is predicted by majority vote of its k
/// nearest rows in the other folds (ties go to the class with the larger summed similarity).
/// </summary>
/// <remarks>Hand-written rather than ML.NET: ML.NET has no k-NN trainer, and the probe is a few lines over a
/// similarity matrix computed with SIMD dot products.</remarks>
public static class KnnProbe
{
    public static ProbeResult CrossValidate(float[][] features, int[] labels, KnnProbeOptions? options = null)
    {
        options ??= new KnnProbeOptions();
        if (options.Neighbors < 1) throw new MlNetTransferException($"k-NN probe: Neighbors is {options.Neighbors}; it must be at least 1.");
        if (options.Folds < 2) throw new MlNetTransferException($"k-NN probe: Folds is {options.Folds}; it must be at least 2.");
        var data = LabelledFeatures.Check(features, labels, "k-NN probe features", minimumRows: options.Folds)
            .Subsample(options.MaximumExamples, options.Seed);
        int n = data.Count;
        var rows = Normalise(data.Rows);
        var fold = StratifiedFolds(data, options.Folds, options.Seed);
        var similarity = new float[n][];
        Parallel.For(0, n, i =>
        {
            similarity[i] = new float[n];
            for (int j = 0; j < n; j++) similarity[i][j] = TensorPrimitives.Dot<float>(rows[i], rows[j]);
        });

        var predicted = new int[n];
        Parallel.For(0, n, i =>
        {
            var candidates = Enumerable.Range(0, n).Where(j => fold[j] != fold[i])
                .OrderByDescending(j => similarity[i][j]).ThenBy(j => j).Take(options.Neighbors);
            var votes = new int[data.ClassCount];
            var weight = new double[data.ClassCount];
            foreach (var j in candidates)
            {
                votes[data.ClassOf[j]]++;
                weight[data.ClassOf[j]] += similarity[i][j];
            }
            predicted[i] = Enumerable.Range(0, data.ClassCount).OrderByDescending(c => votes[c]).ThenByDescending(c => weight[c]).First();
        });

        var sizes = data.ClassSizes();
        var right = new int[data.ClassCount];
        for (int i = 0; i < n; i++) if (predicted[i] == data.ClassOf[i]) right[data.ClassOf[i]]++;
        return new ProbeResult
        {
            Accuracy = (double)right.Sum() / n,
            BalancedAccuracy = Enumerable.Range(0, data.ClassCount).Average(c => (double)right[c] / sizes[c]),
            Examples = n,
            Classes = data.ClassCount,
            Dimension = data.Dimension,
            Neighbors = options.Neighbors,
            Folds = options.Folds,
        };
    }

    private static float[][] Normalise(float[][] rows)
    {
        var d = rows[0].Length;
        var mean = new float[d];
        foreach (var r in rows) TensorPrimitives.Add(mean, r, mean);
        TensorPrimitives.Divide(mean, rows.Length, mean);
        return rows.Select(r =>
        {
            var centred = new float[d];
            TensorPrimitives.Subtract(r, mean, centred);
            var norm = TensorPrimitives.Norm<float>(centred);
            if (norm > 0) TensorPrimitives.Divide(centred, norm, centred);
            return centred;
        }).ToArray();
    }

    /// <summary>Each class's rows, shuffled, are dealt round the folds in turn, so every fold gets its share of every class.</summary>
    private static int[] StratifiedFolds(LabelledFeatures data, int folds, int seed)
    {
        var random = new Random(seed);
        var fold = new int[data.Count];
        int next = 0;
        for (int c = 0; c < data.ClassCount; c++)
        {
            var members = Enumerable.Range(0, data.Count).Where(i => data.ClassOf[i] == c).ToArray();
            random.Shuffle(members);
            foreach (var i in members) fold[i] = next++ % folds;
        }
        return fold;
    }
}
