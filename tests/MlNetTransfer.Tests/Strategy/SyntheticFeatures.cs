namespace MlNetTransfer.Tests.Strategy;

/// <summary>Deterministic feature matrices for the strategy estimators.</summary>
internal static class SyntheticFeatures
{
    /// <summary>Gaussian clusters: class c's rows scatter (sd <paramref name="noise"/>) around a random unit-scale centre.</summary>
    public static (float[][] Features, int[] Labels) Clusters(int perClass, int classes, int dimension, double noise, int seed)
    {
        var random = new Random(seed);
        var centres = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, dimension).Select(_ => Normal(random)).ToArray()).ToArray();
        var features = new List<float[]>();
        var labels = new List<int>();
        for (int i = 0; i < perClass * classes; i++)
        {
            var c = i % classes;
            features.Add(centres[c].Select(v => (float)(v + noise * Normal(random))).ToArray());
            labels.Add(c);
        }
        return (features.ToArray(), labels.ToArray());
    }

    /// <summary>Pure noise rows.</summary>
    public static float[][] Noise(int rows, int dimension, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, dimension).Select(_ => (float)Normal(random)).ToArray()).ToArray();
    }

    public static int[] Shuffled(int[] labels, int seed)
    {
        var copy = labels.ToArray();
        new Random(seed).Shuffle(copy);
        return copy;
    }

    public static double Normal(Random random)
        => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
