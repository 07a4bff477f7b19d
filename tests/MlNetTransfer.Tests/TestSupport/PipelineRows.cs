namespace MlNetTransfer.Tests.TestSupport;

/// <summary>A labelled image as ML.NET pipelines take it: the path and the class name.</summary>
public sealed class LabelledImageRow
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
}

/// <summary>What a classifier chain emits per image, once MapKeyToValue has turned the prediction back into a class name.</summary>
public sealed class ClassPrediction
{
    public string ImagePath { get; set; } = "";
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
