namespace MlNetTransfer.FineTuning;

/// <summary>One stretch of training with a fixed set of trainable parameter groups.</summary>
/// <param name="Name"><c>fine-tune</c>; for chain-thaw <c>head</c>, <c>block k/n</c> or <c>all</c>.</param>
/// <param name="TrainableGroups">Indices (the module's parameter groups, input side first, the head last) of the groups that learn.</param>
/// <param name="Epochs">Most epochs the phase runs (early stopping may end it sooner).</param>
/// <param name="Augment">Whether training images are augmented in this phase (when augmentation is on at all). The head
/// warm-up trains on plain images, so the frozen network's embeddings are computed once (bottleneck cache).</param>
/// <param name="HeadLearningRate">Peak rate of the head in this phase; pretrained layers get <see cref="FineTuneOptions.LearningRate"/>
/// times <see cref="FineTuneOptions.PretrainedLearningRateFactor"/>.</param>
/// <param name="IsLinearProbe">The head is fitted by ML.NET's trainer on the frozen network's embeddings (one epoch, no
/// optimizer steps; see <see cref="FineTuneOptions.LinearProbe"/>).</param>
public sealed record FineTunePhase(string Name, IReadOnlySet<int> TrainableGroups, int Epochs, bool Augment, double HeadLearningRate, bool IsLinearProbe = false)
{
    /// <summary>Name of the head-only phase.</summary>
    public const string HeadPhase = "head";
}
