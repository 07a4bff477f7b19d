namespace TransferabilityStudy;

/// <summary>Base network A's training on classes 0–4 for one seed (its curve is test accuracy on classes 0–4).</summary>
public sealed record BaseRun(int Seed, LearningCurve Curve);

/// <summary>One network for task B: a condition at one labelled-set size and seed.</summary>
public sealed record StudyRun(Condition Condition, int PerClass, int Seed, LearningCurve Curve, Measures Measures);

/// <summary>Everything the study measured, with what it ran on.</summary>
public sealed record StudyResult(StudyOptions Options, string[] Arguments, IReadOnlyList<BaseRun> BaseRuns, IReadOnlyList<StudyRun> Runs,
    double WallSeconds, string LoadAverageAtStart)
{
    public IEnumerable<StudyRun> Of(Condition condition, int perClass) => Runs.Where(r => r.Condition == condition && r.PerClass == perClass);

    public Spread Start(Condition c, int perClass) => Spread.Of(Of(c, perClass).Select(r => r.Measures.Start));
    public Spread Slope(Condition c, int perClass) => Spread.Of(Of(c, perClass).Select(r => r.Measures.Slope));
    public Spread Final(Condition c, int perClass) => Spread.Of(Of(c, perClass).Select(r => r.Measures.Final));

    /// <summary>Mean test accuracy per epoch over the seeds.</summary>
    public double[] MeanCurve(Condition c, int perClass)
    {
        var curves = Of(c, perClass).Select(r => r.Curve.TestAccuracy).ToList();
        return Enumerable.Range(0, curves[0].Length).Select(e => curves.Average(a => a[e])).ToArray();
    }
}
