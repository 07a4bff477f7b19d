namespace MlNetTransfer.Tests.TestSupport;

/// <summary>The split the generated-data runs use: a few dozen images still leave every split several per class.</summary>
internal static class TestSplits
{
    /// <summary>Sets 60% train, 20% validation, 20% test on <paramref name="options"/> and returns it.</summary>
    public static TransferLearningOptions WithSixtyTwentyTwenty(this TransferLearningOptions options)
    {
        options.Dataset.TrainFraction = 0.6;
        options.Dataset.ValidationFraction = 0.2;
        options.Dataset.TestFraction = 0.2;
        return options;
    }
}
