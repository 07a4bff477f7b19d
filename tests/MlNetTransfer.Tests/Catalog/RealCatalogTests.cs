using System.Security.Cryptography;
using MlNetTransfer.Backbones.Catalog;

namespace MlNetTransfer.Tests.Catalog;

/// <summary>The shipped models/catalog.json (copied beside the test assembly by the library project).</summary>
public sealed class RealCatalogTests
{
    private readonly BackboneCatalog _catalog = BackboneCatalog.LoadDefault();

    [Fact]
    public void It_loads_from_beside_the_executable_and_the_default_is_mobilenet_v2()
    {
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "models", "catalog.json"), _catalog.FilePath);
        Assert.Equal("mobilenet_v2", _catalog.DefaultName);
        var d = _catalog.Default;
        Assert.Equal("onnx", d.Format);
        Assert.Equal("mobilenetv2-12-int8.onnx", d.MainFile);
        Assert.Equal("cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f", d.Main.Sha256);
        Assert.Equal("input", d.InputName);
        Assert.Equal("output", d.ClassifierTensor);
        Assert.Equal("imagenet_classes.txt", d.LabelsFile);
    }

    [Fact]
    public void Every_file_of_every_entry_has_a_sha256_a_size_and_a_source()
    {
        Assert.True(_catalog.All.Count >= 9);
        foreach (var entry in _catalog.All)
        {
            Assert.NotEmpty(entry.Files);
            Assert.False(string.IsNullOrWhiteSpace(entry.HashSource), $"{entry.Name} says where its hashes come from");
            foreach (var file in entry.Files)
            {
                Assert.Matches("^[0-9a-f]{64}$", file.Sha256);
                Assert.True(file.Size > 0, $"{entry.Name}/{file.Name} has a size");
                Assert.True(file.Url is not null || (file.NpmPath is not null && entry.Npm is not null), $"{entry.Name}/{file.Name} has a source");
            }
            entry.ToSpec().Validate();
        }
    }

    [Fact]
    public void The_required_entries_are_there_with_their_facts()
    {
        var v1 = _catalog.Find("mobilenet_v1_075");
        Assert.Equal("tfjs-layers", v1.Format);
        Assert.Equal("mobilenet_v1_0.75_224", v1.InstallDirectoryName);
        Assert.Equal(56, v1.Files.Count); // model.json + 55 shards
        Assert.Equal("NHWC", v1.Layout);
        Assert.Equal([0.5f, 0.5f, 0.5f], v1.Mean);
        Assert.Equal("global_average_pooling2d_1", v1.EmbeddingTensor);
        Assert.All(v1.Files, f => Assert.StartsWith("https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/", f.Url));

        foreach (var name in new[] { "nsfwjs_mobilenet_v2", "nsfwjs_inception_v3" })
        {
            var e = _catalog.Find(name);
            Assert.Equal("tfjs-umd", e.Format);
            Assert.Equal("nsfwjs", e.Npm!.Package);
            Assert.Matches(@"^\d+\.\d+\.\d+$", e.Npm.Version);
            Assert.All(e.Files, f => Assert.StartsWith("dist/models/", f.NpmPath));
            Assert.Equal("partly ImageNet, retrained for nsfw", e.SourceDomain);
            Assert.NotEqual(_catalog.DefaultName, e.Name);
        }

        foreach (var (name, file) in new[]
                 {
                     ("resnet50_v2", "resnet50-v2-7.onnx"), ("mobilenet_v2_float", "mobilenetv2-12.onnx"),
                     ("efficientnet_lite4", "efficientnet-lite4-11.onnx"), ("squeezenet1_1", "squeezenet1.1-7.onnx"),
                     ("densenet121", "densenet-12.onnx"),
                 })
        {
            var e = _catalog.Find(name);
            Assert.Equal(file, e.MainFile);
            Assert.StartsWith("https://github.com/onnx/models/raw/main/validated/vision/classification/", e.Main.Url);
            Assert.EndsWith("/" + file, e.Main.Url);
        }
        Assert.Equal("NHWC", _catalog.Find("efficientnet_lite4").Layout);
    }

    [Fact]
    public void The_imagenet_labels_ship_beside_the_catalog_and_match_its_hash()
    {
        var labels = _catalog.FindLabelFile("imagenet_classes.txt")!;
        var path = Path.Combine(_catalog.BaseDirectory, labels.Name);
        var bytes = File.ReadAllBytes(path);

        Assert.Equal(labels.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.Equal(labels.Size, bytes.Length);
        Assert.Equal(1000, File.ReadAllLines(path).Length);
    }
}
