namespace TransferabilityStudy;

/// <summary>
/// The three ways transfer can help (Torrey &amp; Shavlik's "higher start, higher slope, higher asymptote"), read off one
/// learning curve of test accuracy per epoch:
/// <list type="bullet">
/// <item><b>start</b> — test accuracy after the first epoch (after 0 epochs every condition is at chance: the classifier
/// is always fresh);</item>
/// <item><b>slope</b> — accuracy gained per epoch from epoch 1 to epoch <see cref="SlopeEpochs"/> (a quarter of the run);</item>
/// <item><b>final</b> — test accuracy after the last epoch (the asymptote: the rate has decayed to zero by then).</item>
/// </list>
/// </summary>
public sealed record Measures(double Start, double Slope, double Final)
{
    /// <summary>The epoch (1-based) the early slope is measured to: a quarter of the run, at least the second epoch.</summary>
    public static int SlopeEpochs(int epochs) => Math.Max(2, (int)Math.Ceiling(epochs / 4.0));

    public static Measures Of(LearningCurve curve)
    {
        var a = curve.TestAccuracy;
        var k = Math.Min(SlopeEpochs(a.Length), a.Length);
        return new Measures(a[0], k > 1 ? (a[k - 1] - a[0]) / (k - 1) : 0, a[^1]);
    }
}

/// <summary>Mean and sample standard deviation of one measure over the seeds.</summary>
public sealed record Spread(double Mean, double Std, double[] Values)
{
    public static Spread Of(IEnumerable<double> values)
    {
        var v = values.ToArray();
        var mean = v.Average();
        var std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
        return new Spread(mean, std, v);
    }

    /// <summary>The per-seed differences this − <paramref name="baseline"/> (both listed in seed order: the runs are paired,
    /// sharing a seed's labelled set and fresh initial weights).</summary>
    public Spread Minus(Spread baseline) => Of(Values.Zip(baseline.Values, (a, b) => a - b));

    /// <summary>For a spread of paired differences: whether its mean differs from zero by a two-sided paired t-test at 5%.</summary>
    public bool Significant => Values.Length > 1 && Std > 0 && Math.Abs(Mean) / (Std / Math.Sqrt(Values.Length)) > TCritical(Values.Length - 1);

    // Student's t, two-sided 5%, for 1–10 degrees of freedom; beyond that the value for 10 (slightly conservative).
    private static double TCritical(int df) => df switch
    {
        1 => 12.706, 2 => 4.303, 3 => 3.182, 4 => 2.776, 5 => 2.571, 6 => 2.447, 7 => 2.365, 8 => 2.306, 9 => 2.262, _ => 2.228,
    };

    /// <summary>As a percentage "81.2 ± 1.3" (points).</summary>
    public string Percent(string format = "0.0") => $"{(100 * Mean).ToString(format, System.Globalization.CultureInfo.InvariantCulture)} ± {(100 * Std).ToString(format, System.Globalization.CultureInfo.InvariantCulture)}";
}
