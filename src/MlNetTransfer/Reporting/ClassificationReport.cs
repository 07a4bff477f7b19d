using Microsoft.ML.Data;

namespace MlNetTransfer.Reporting;

/// <summary>Multiclass metrics on a held-out split, in the report's JSON shape.</summary>
public sealed record ClassificationReport
{
    /// <summary>Fraction of images whose top prediction is right (ML.NET's micro-accuracy).</summary>
    public double Accuracy { get; init; }

    /// <summary>Unweighted mean over classes of F1 = 2PR/(P+R); a class never predicted and never present counts as 0.</summary>
    public double MacroF1 { get; init; }

    /// <summary>Mean over classes of per-class recall (ML.NET's macro-accuracy).</summary>
    public double MacroAccuracy { get; init; }

    /// <summary>Mean negative log of the probability given to the true class.</summary>
    public double LogLoss { get; init; }

    /// <summary>Log-loss reduction relative to predicting the class priors (1 is perfect, ≤ 0 no better than priors).</summary>
    public double LogLossReduction { get; init; }

    public int Examples { get; init; }

    public IReadOnlyList<ClassMetrics> PerClass { get; init; } = [];

    /// <summary>Rows are true classes, columns predicted classes, both in <see cref="ConfusionMatrixReport.Classes"/> order.</summary>
    public ConfusionMatrixReport Confusion { get; init; } = new();

    /// <summary>Expected calibration error and the reliability diagram's bins (null where the scores were not available).</summary>
    public CalibrationReport? Calibration { get; init; }

    public static ClassificationReport From(MulticlassClassificationMetrics m, IReadOnlyList<string> classes)
    {
        var cm = m.ConfusionMatrix;
        var n = cm.NumberOfClasses;
        if (n != classes.Count) throw new InvalidOperationException($"Confusion matrix has {n} classes, expected {classes.Count}.");
        var counts = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => (long)cm.Counts[i][j]).ToArray()).ToArray();
        var perClass = new List<ClassMetrics>();
        for (int c = 0; c < n; c++)
        {
            long tp = counts[c][c], support = counts[c].Sum(), predicted = counts.Sum(row => row[c]);
            double p = predicted == 0 ? 0 : (double)tp / predicted;
            double r = support == 0 ? 0 : (double)tp / support;
            perClass.Add(new ClassMetrics
            {
                Class = classes[c],
                Precision = p,
                Recall = r,
                F1 = p + r == 0 ? 0 : 2 * p * r / (p + r),
                Support = support,
                LogLoss = c < m.PerClassLogLoss.Count ? m.PerClassLogLoss[c] : double.NaN,
            });
        }
        return new ClassificationReport
        {
            Accuracy = m.MicroAccuracy,
            MacroAccuracy = m.MacroAccuracy,
            MacroF1 = perClass.Average(c => c.F1),
            LogLoss = m.LogLoss,
            LogLossReduction = m.LogLossReduction,
            Examples = (int)counts.Sum(r => r.Sum()),
            PerClass = perClass,
            Confusion = new ConfusionMatrixReport { Classes = classes.ToArray(), Counts = counts },
        };
    }
}

public sealed record ClassMetrics
{
    public string Class { get; init; } = "";
    public double Precision { get; init; }
    public double Recall { get; init; }
    public double F1 { get; init; }
    public long Support { get; init; }
    public double LogLoss { get; init; }
}

public sealed record ConfusionMatrixReport
{
    public string[] Classes { get; init; } = [];
    public long[][] Counts { get; init; } = [];
}
