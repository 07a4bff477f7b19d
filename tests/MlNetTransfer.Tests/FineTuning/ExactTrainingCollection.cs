namespace MlNetTransfer.Tests.FineTuning;

/// <summary>
/// Tests that compare trained weights exactly or to 1e-4: they run alone, after the parallel tests. libtorch's thread
/// count is process-wide and its channels-last kernels split work by it, so a training test beside them that sets another
/// count changes their rounding.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ExactTrainingCollection
{
    public const string Name = "exact training";
}
