namespace MlNetTransfer.Data;

/// <summary>Splits labelled images into train / validation / test so every class keeps its proportions.</summary>
/// <remarks>
/// <para><b>Determinism.</b> Each class is handled on its own: its images are sorted by path (ordinal), then shuffled
/// with a Fisher–Yates pass driven by a fresh <c>new System.Random(seed)</c>; the first <i>train</i> images go to
/// training, the next <i>validation</i> ones to validation, the rest to test. The same files and seed therefore always
/// give the same split, whatever the order files were listed in, and adding a class does not move another class's images.
/// The returned lists are sorted by label, then path.</para>
/// <para><b>Rounding</b> (see <see cref="Counts"/>): for a class of <i>n</i> images, validation = round(n × ValidationFraction)
/// and test = round(n × TestFraction), halves rounding up; validation is raised to 1 when it rounded to 0 and n ≥ 2;
/// training gets the rest, and if that would leave it empty, images are taken back from test first, then validation,
/// so training always keeps at least 1 image. A class of 1 image therefore goes to training only, a class of 2 splits
/// 1/1/0, and a class of 5 at 80/10/10 splits 3/1/1.</para>
/// </remarks>
public static class StratifiedSplitter
{
    /// <summary>Splits <paramref name="examples"/> with the fractions and seed of <paramref name="options"/> (validated first).</summary>
    public static DatasetSplit Split(IEnumerable<ImageExample> examples, DatasetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Split(examples, options.ValidationFraction, options.TestFraction, options.Seed);
    }

    /// <summary>Splits <paramref name="examples"/>: training gets what validation and test do not take.</summary>
    /// <param name="examples">The labelled images.</param>
    /// <param name="validationFraction">Share of each class for validation, in [0, 1).</param>
    /// <param name="testFraction">Share of each class for test, in [0, 1).</param>
    /// <param name="seed">Seed of the per-class shuffle.</param>
    public static DatasetSplit Split(IEnumerable<ImageExample> examples, double validationFraction, double testFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        CheckFraction(validationFraction, nameof(validationFraction));
        CheckFraction(testFraction, nameof(testFraction));
        List<ImageExample> train = [], validation = [], test = [];
        foreach (var group in examples.GroupBy(e => e.Label, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var items = group.OrderBy(e => e.Path, StringComparer.Ordinal).ToArray();
            Shuffle(items, new Random(seed));
            var (nTrain, nVal, _) = Counts(items.Length, validationFraction, testFraction);
            train.AddRange(items.Take(nTrain));
            validation.AddRange(items.Skip(nTrain).Take(nVal));
            test.AddRange(items.Skip(nTrain + nVal));
        }
        return new DatasetSplit(Sorted(train), Sorted(validation), Sorted(test));
    }

    /// <summary>How many of a class's <paramref name="count"/> images go to each split (the rounding rule in the remarks above).</summary>
    public static (int Train, int Validation, int Test) Counts(int count, double validationFraction, double testFraction)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckFraction(validationFraction, nameof(validationFraction));
        CheckFraction(testFraction, nameof(testFraction));
        if (count == 0) return (0, 0, 0);
        // decimal, so 5 × 0.1 is exactly the half it looks like and rounds up.
        var validation = (int)Math.Round((decimal)validationFraction * count, MidpointRounding.AwayFromZero);
        var test = (int)Math.Round((decimal)testFraction * count, MidpointRounding.AwayFromZero);
        if (validation == 0 && validationFraction > 0 && count >= 2) validation = 1;
        while (count - validation - test < 1)
        {
            if (test > 0) test--;
            else validation--;
        }
        return (count - validation - test, validation, test);
    }

    // Written out rather than Random.Shuffle so the documented split cannot change with the runtime's implementation.
    private static void Shuffle<T>(T[] items, Random random)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static List<ImageExample> Sorted(List<ImageExample> list) =>
        list.OrderBy(e => e.Label, StringComparer.Ordinal).ThenBy(e => e.Path, StringComparer.Ordinal).ToList();

    private static void CheckFraction(double value, string name)
    {
        if (double.IsNaN(value) || value < 0 || value >= 1)
            throw new ArgumentOutOfRangeException(name, value, "A split fraction must be in [0, 1).");
    }
}
