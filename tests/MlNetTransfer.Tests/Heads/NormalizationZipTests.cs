using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Heads;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Heads;

/// <summary>A feature-extractor zip loads and predicts as trained whatever sits between the featurizer and the head: the
/// head trains on the featurizer's own embedding type, so --normalize none and l2 bind at load as meanvar does.</summary>
public sealed class NormalizationZipTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    [Theory]
    [InlineData(EmbeddingNormalization.None)]
    [InlineData(EmbeddingNormalization.L2)]
    [InlineData(EmbeddingNormalization.MeanVariance)]
    public void SavedZipLoadsAndPredictsAsTheTrainedModel(EmbeddingNormalization normalization)
    {
        using var dir = new TempDirectory();
        var options = new TransferLearningOptions
        {
            DataPath = fixture.DataDir,
            Backbone = BackboneResolver.SyntheticName,
            Head = { Trainer = HeadTrainer.Lbfgs, Normalization = normalization, CrossValidationFolds = 0 },
            Featurizer = { CacheDirectory = fixture.CacheDir },
        };
        var result = new MLContext(1).TransferLearning().Train(options);
        SavedZip.AssertPredictsAsTrained(result, fixture.DataDir, dir);
    }
}
