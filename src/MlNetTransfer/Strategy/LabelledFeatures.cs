namespace MlNetTransfer.Strategy;

/// <summary>Checks a (features, labels) pair once for every estimator and maps the labels present to 0..C−1.</summary>
internal sealed class LabelledFeatures
{
    private LabelledFeatures(float[][] rows, int[] classOf, int classCount, int dimension)
    {
        Rows = rows;
        ClassOf = classOf;
        ClassCount = classCount;
        Dimension = dimension;
    }

    public float[][] Rows { get; }

    /// <summary>Each row's class in 0..<see cref="ClassCount"/>−1 (the distinct labels present, in ascending order).</summary>
    public int[] ClassOf { get; }

    public int ClassCount { get; }

    public int Dimension { get; }

    public int Count => Rows.Length;

    /// <summary>Checks shapes, finiteness and labels; <paramref name="what"/> names the matrix in error messages.</summary>
    public static LabelledFeatures Check(float[][] features, int[] labels, string what, int minimumRows = 2)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (features.Length != labels.Length)
            throw new MlNetTransferException($"{what}: {features.Length} rows but {labels.Length} labels; they must match one to one.");
        if (features.Length < minimumRows)
            throw new MlNetTransferException($"{what}: {features.Length} rows; at least {minimumRows} are needed.");
        var dimension = features[0]?.Length ?? 0;
        if (dimension == 0) throw new MlNetTransferException($"{what}: row 0 is empty.");
        for (int i = 0; i < features.Length; i++)
        {
            var row = features[i];
            if (row is null || row.Length != dimension)
                throw new MlNetTransferException($"{what}: row {i} has {row?.Length ?? 0} values, row 0 has {dimension}.");
            for (int j = 0; j < row.Length; j++)
                if (!float.IsFinite(row[j])) throw new MlNetTransferException($"{what}: row {i}, value {j} is {row[j]} (not finite).");
            if (labels[i] < 0) throw new MlNetTransferException($"{what}: label of row {i} is {labels[i]}; labels must be 0 or more.");
        }
        var distinct = labels.Distinct().Order().ToArray();
        if (distinct.Length < 2)
            throw new MlNetTransferException($"{what}: all rows have label {distinct[0]}; at least two classes are needed.");
        var index = distinct.Select((label, k) => (label, k)).ToDictionary(p => p.label, p => p.k);
        return new LabelledFeatures(features, labels.Select(l => index[l]).ToArray(), distinct.Length, dimension);
    }

    /// <summary>Rows per class, indexed by class.</summary>
    public int[] ClassSizes()
    {
        var sizes = new int[ClassCount];
        foreach (var c in ClassOf) sizes[c]++;
        return sizes;
    }

    /// <summary>At most <paramref name="max"/> rows, keeping each class's share (at least one row per class); deterministic for a seed.</summary>
    public LabelledFeatures Subsample(int max, int seed)
    {
        if (Count <= max) return this;
        var random = new Random(seed);
        var keep = new List<int>();
        for (int c = 0; c < ClassCount; c++)
        {
            var members = Enumerable.Range(0, Count).Where(i => ClassOf[i] == c).ToArray();
            random.Shuffle(members);
            var share = Math.Max(1, (int)Math.Round((double)members.Length * max / Count));
            keep.AddRange(members.Take(share));
        }
        keep.Sort();
        return new LabelledFeatures(keep.Select(i => Rows[i]).ToArray(), keep.Select(i => ClassOf[i]).ToArray(), ClassCount, Dimension);
    }
}
