using Microsoft.ML;

namespace MlNetTransfer;

/// <summary>Entry points hung off <see cref="MLContext"/>, the way ML.NET's own catalogs are.</summary>
public static class MLContextExtensions
{
    /// <summary><c>ml.TransferLearning().Train(options)</c>: train an image classifier from a pretrained backbone.</summary>
    public static TransferLearningTrainer TransferLearning(this MLContext ml) => new(ml);
}
