namespace MlNetTransfer;

/// <summary>One image's prediction: the label, its probability, and every class's probability.</summary>
public sealed record ImagePrediction
{
    /// <summary>The file path (or the name given with a stream or bytes); empty for an in-memory image.</summary>
    public string ImagePath { get; init; } = "";

    /// <summary>The predicted class (ML.NET's <c>PredictedLabel</c>).</summary>
    public string Label { get; init; } = "";

    /// <summary>The predicted class's probability.</summary>
    public float Confidence { get; init; }

    /// <summary>Per-class probability, in the model's class order (ML.NET's <c>Score</c> with its slot names).</summary>
    public IReadOnlyList<KeyValuePair<string, float>> Scores { get; init; } = [];

    /// <summary>The <paramref name="k"/> most probable classes, most probable first (ties keep class order).</summary>
    public IReadOnlyList<KeyValuePair<string, float>> Top(int k) => Scores.OrderByDescending(s => s.Value).Take(Math.Max(0, k)).ToList();

    /// <summary>The label is the arg-max of Score: every kind of zip has Score, and for trained heads it is exactly
    /// their PredictedLabel (pretrained-classifier zips carry PredictedLabel as a one-element vector instead).</summary>
    internal static ImagePrediction From(string path, float[] score, IReadOnlyList<string> classes)
    {
        var scores = new KeyValuePair<string, float>[score.Length];
        for (var i = 0; i < score.Length; i++) scores[i] = new(i < classes.Count ? classes[i] : $"class{i}", score[i]);
        var best = score.Length == 0 ? -1 : Array.IndexOf(score, score.Max());
        return new ImagePrediction { ImagePath = path, Label = best < 0 ? "" : scores[best].Key, Confidence = best < 0 ? 0 : score[best], Scores = scores };
    }
}
