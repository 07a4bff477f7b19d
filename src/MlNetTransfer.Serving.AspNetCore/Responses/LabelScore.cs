namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>One class and its probability.</summary>
public sealed record LabelScore(string Label, float Score);
