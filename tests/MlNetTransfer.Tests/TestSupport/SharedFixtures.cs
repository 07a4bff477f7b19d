using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;

namespace MlNetTransfer.Tests.TestSupport;

/// <summary>One generated dataset and one generated backbone file shared by a test class (generation is the slow part).</summary>
public sealed class SyntheticFixture : IDisposable
{
    private readonly TempDirectory _dir = new("mlnt-fixture");

    public SyntheticFixture()
    {
        DataDir = SyntheticImageDataset.Write(_dir.Combine("shapes"), imagesPerClass: 24, size: 64, seed: 3);
        BackbonePath = _dir.Combine("backbone", "tiny.onnx");
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(BackbonePath)!);
        OnnxModelFile.Save(BackboneResolver.Synthetic().Model, BackbonePath);
        CacheDir = _dir.Combine("cache");
    }

    public string DataDir { get; }
    public string BackbonePath { get; }
    public string CacheDir { get; }
    public string Root => _dir.Path;

    public void Dispose() => _dir.Dispose();
}
