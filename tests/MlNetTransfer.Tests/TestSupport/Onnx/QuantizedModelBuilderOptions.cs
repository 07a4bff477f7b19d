namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Options for <see cref="QuantizedModelBuilder"/>.</summary>
internal sealed class QuantizedModelBuilderOptions
{
    /// <summary>Input image side (the input is [N, 3, side, side]). Default 16.</summary>
    public int InputSize { get; init; } = 16;

    /// <summary>Channels of every convolution. Default 8.</summary>
    public int Channels { get; init; } = 8;

    /// <summary>Number of output classes (logits). Default 5.</summary>
    public int Classes { get; init; } = 5;

    /// <summary>Random inputs run through the float model to calibrate the activation ranges. Default 16.</summary>
    public int CalibrationSamples { get; init; } = 16;

    /// <summary>Seed for the weights and the calibration inputs. Default 1.</summary>
    public int Seed { get; init; } = 1;
}
