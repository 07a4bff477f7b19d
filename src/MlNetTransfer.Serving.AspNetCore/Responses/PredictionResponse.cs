using System.Text.Json.Serialization;

namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>The JSON answer for one image: ML.NET's <c>PredictedLabel</c> and <c>Score</c> (one probability per class,
/// in the order <c>GET /model</c> lists the classes), plus the top-k classes by name.</summary>
public sealed record PredictionResponse
{
    /// <summary>The uploaded file's name (batch answers; single answers when the upload was a named file).</summary>
    [JsonPropertyOrder(-1)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? FileName { get; init; }

    public string PredictedLabel { get; init; } = "";

    /// <summary>The predicted label's probability.</summary>
    public float Confidence { get; init; }

    public IReadOnlyList<float> Score { get; init; } = [];

    /// <summary>The most probable classes, most probable first.</summary>
    public IReadOnlyList<LabelScore> Top { get; init; } = [];

    public static PredictionResponse From(ImagePrediction prediction, int top, string? fileName) => new()
    {
        FileName = fileName,
        PredictedLabel = prediction.Label,
        Confidence = prediction.Confidence,
        Score = prediction.Scores.Select(s => s.Value).ToArray(),
        Top = prediction.Top(top).Select(s => new LabelScore(s.Key, s.Value)).ToArray(),
    };
}
