using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetTransfer.Reporting;

/// <summary>
/// How far the model's confidence can be taken at its word: the expected calibration error and the reliability diagram's bins
/// (Guo, Pleiss, Sun and Weinberger 2017, "On Calibration of Modern Neural Networks"). Confidence is the top class's probability;
/// the images fall into <see cref="Bins"/> equal-width confidence bins, and ECE = Σ_b (|B_b| / n) · |accuracy(B_b) − confidence(B_b)|.
/// </summary>
public sealed record CalibrationReport
{
    /// <summary>Number of equal-width confidence bins of (0, 1]; Guo et al. use 15.</summary>
    public const int DefaultBins = 15;

    /// <summary>Expected calibration error, 0 (calibrated) to 1.</summary>
    public double ExpectedCalibrationError { get; init; }

    /// <summary>The largest gap between a non-empty bin's accuracy and its mean confidence (MCE).</summary>
    public double MaximumCalibrationError { get; init; }

    /// <summary>Mean top-class confidence over all images.</summary>
    public double MeanConfidence { get; init; }

    public int Examples { get; init; }

    /// <summary>Every bin, empty ones included, lowest confidence first.</summary>
    public IReadOnlyList<CalibrationBin> Bins { get; init; } = [];

    /// <summary>Bins the predictions: <paramref name="confidence"/> is each image's top probability, <paramref name="correct"/>
    /// whether its top class is the true one. A confidence of exactly b/M falls in bin b (bins are (lower, upper]).</summary>
    public static CalibrationReport From(IReadOnlyList<double> confidence, IReadOnlyList<bool> correct, int bins = DefaultBins)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        if (confidence.Count != correct.Count) throw new ArgumentException("One correctness flag per confidence is needed.");
        var count = new int[bins];
        var hits = new int[bins];
        var sum = new double[bins];
        for (int i = 0; i < confidence.Count; i++)
        {
            var c = Math.Clamp(confidence[i], 0, 1);
            int b = Math.Clamp((int)Math.Ceiling(c * bins - 1e-9) - 1, 0, bins - 1); // b/M itself (up to rounding) belongs to bin b
            count[b]++;
            sum[b] += c;
            if (correct[i]) hits[b]++;
        }
        int n = confidence.Count;
        double ece = 0, mce = 0;
        var list = new List<CalibrationBin>(bins);
        for (int b = 0; b < bins; b++)
        {
            double? accuracy = count[b] > 0 ? hits[b] / (double)count[b] : null, meanConfidence = count[b] > 0 ? sum[b] / count[b] : null;
            if (count[b] > 0)
            {
                var gap = Math.Abs(accuracy!.Value - meanConfidence!.Value);
                ece += count[b] / (double)n * gap;
                mce = Math.Max(mce, gap);
            }
            list.Add(new CalibrationBin { Lower = b / (double)bins, Upper = (b + 1) / (double)bins, Count = count[b], Accuracy = accuracy, Confidence = meanConfidence });
        }
        return new CalibrationReport
        {
            ExpectedCalibrationError = ece,
            MaximumCalibrationError = mce,
            MeanConfidence = n > 0 ? confidence.Average() : 0,
            Examples = n,
            Bins = list,
        };
    }

    /// <summary>From a scored data view: <paramref name="scoreColumn"/> the class probabilities, <paramref name="labelColumn"/> the
    /// key-typed true class (ML.NET's 1-based keys, slot k − 1 of the scores).</summary>
    internal static CalibrationReport FromScored(IDataView scored, string labelColumn = "Label", string scoreColumn = "Score")
    {
        var (label, score) = (scored.Schema[labelColumn], scored.Schema[scoreColumn]);
        var confidence = new List<double>();
        var correct = new List<bool>();
        using var cursor = scored.GetRowCursor([label, score]);
        var getLabel = cursor.GetGetter<uint>(label);
        var getScore = cursor.GetGetter<VBuffer<float>>(score);
        uint key = 0;
        VBuffer<float> scores = default;
        while (cursor.MoveNext())
        {
            getLabel(ref key);
            getScore(ref scores);
            var values = scores.DenseValues().ToArray();
            if (key == 0 || values.Length == 0) continue; // a label the head never saw: no class to be right about
            int top = Array.IndexOf(values, values.Max());
            confidence.Add(values[top]);
            correct.Add(top == key - 1);
        }
        return From(confidence, correct);
    }
}

/// <summary>One confidence bin (lower, upper]: how many images, their accuracy and mean confidence (null when empty).</summary>
public sealed record CalibrationBin
{
    public double Lower { get; init; }
    public double Upper { get; init; }
    public int Count { get; init; }
    public double? Accuracy { get; init; }
    public double? Confidence { get; init; }
}
