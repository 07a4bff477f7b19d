using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Heads;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Serving;

/// <summary>Two small trained models (different heads, so different scores) on a generated data set, probe images, and
/// the bad inputs the serving path must refuse. Shared by the serving tests (training is the slow part).</summary>
public sealed class ServingFixture : IDisposable
{
    private readonly TempDirectory _dir = new("mlnt-serving");

    public ServingFixture()
    {
        var data = SyntheticImageDataset.Write(_dir.Combine("shapes"), imagesPerClass: 12, size: 64, seed: 11);
        TrainingImage = Directory.GetFiles(data, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        ModelA = Train(data, HeadTrainer.Lbfgs, "a.zip");
        ModelB = Train(data, HeadTrainer.Sdca, "b.zip");
        // Fresh images the models never saw: PNG and JPEG alternate.
        var probes = SyntheticImageDataset.Write(_dir.Combine("probes"), imagesPerClass: 4, size: 80, seed: 99);
        Probes = Directory.GetFiles(probes, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Trained with LbfgsMaximumEntropy.</summary>
    public string ModelA { get; }

    /// <summary>Trained with SdcaMaximumEntropy on the same data: same classes, different scores.</summary>
    public string ModelB { get; }

    /// <summary>12 images (4 per class, PNG and JPEG).</summary>
    public string[] Probes { get; }

    /// <summary>A 64×64 PNG: exactly the models' input size.</summary>
    public string TrainingImage { get; }

    public string Jpeg => Probes.First(p => p.EndsWith(".jpg", StringComparison.Ordinal));

    public string Png => Probes.First(p => p.EndsWith(".png", StringComparison.Ordinal));

    public string Root => _dir.Path;

    public string Combine(params string[] parts) => _dir.Combine(parts);

    private string Train(string data, HeadTrainer trainer, string name)
    {
        var result = new MLContext(1).TransferLearning().Train(new TransferLearningOptions
        {
            DataPath = data,
            Backbone = BackboneResolver.SyntheticName,
            Head = { Trainer = trainer },
            Featurizer = { CacheDirectory = _dir.Combine("cache") },
        });
        var path = _dir.Combine(name);
        result.Save(path);
        return path;
    }

    public void Dispose() => _dir.Dispose();
}
