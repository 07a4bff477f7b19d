using MlNetTransfer.Export;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Grad-CAM as the core sees it. Gradients need the TorchSharp module, so the computation lives in the
/// <c>MlNetTransfer.FineTuning</c> package; its engine class implements this beside <see cref="IFineTuningEngine"/> and
/// <see cref="FineTuningEngines.GradCam"/> finds it.
/// </summary>
internal interface IGradCamEngine
{
    /// <summary>The zip's network (its ONNX graph, int8 graphs dequantized to their float twin) and head, ready to explain
    /// images. Throws <see cref="MlNetTransferException"/> naming <paramref name="source"/> when it has no spatial layer
    /// or a head without gradients.</summary>
    IGradCamNetwork Load(SavedChain chain, int classes, string source);
}

/// <summary>One loaded network. Not thread-safe: one image at a time.</summary>
internal interface IGradCamNetwork : IDisposable
{
    /// <summary>The tensor whose activations are weighted (the last one with a spatial grid, usually the last convolution's activation).</summary>
    string Layer { get; }

    /// <summary>Grad-CAM on one image's pixels as the zip's ExtractPixels gives them ([3, H, W], 0..255), for class
    /// <paramref name="targetClass"/> (null: the top-scoring class).</summary>
    GradCamOutput Compute(float[] pixels, int? targetClass);
}

/// <summary>
/// What Grad-CAM computed (Selvaraju et al. 2017): the activations A [C, h, w] of <see cref="IGradCamNetwork.Layer"/>, the
/// channel weights αₖ = mean over the grid of ∂y/∂Aₖ where y is the target class's score before any softmax, and
/// <see cref="Cam"/> = ReLU(Σₖ αₖ Aₖ) [h, w], not yet normalised. <see cref="Scores"/> are the head's outputs as the zip
/// computes its Score.
/// </summary>
internal sealed record GradCamOutput(float[] Scores, int TargetClass, int Channels, int GridHeight, int GridWidth, float[] Activations, float[] Weights, float[] Cam);
