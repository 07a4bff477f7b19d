using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>A small generated image set (three colour-coded shapes, 32 px) split into train and validation, and a generated
/// small CNN as the "pretrained" backbone: everything the fine-tuning tests need, nothing outside the repository.</summary>
public sealed class FineTuneFixture : IDisposable
{
    public const int ImageSize = 32;
    private readonly TempDirectory _dir = new("mlnt-finetune");

    public FineTuneFixture()
    {
        DataDir = SyntheticImageDataset.Write(_dir.Combine("shapes"), imagesPerClass: 16, size: 40, seed: 5);
        var examples = Directory.GetDirectories(DataDir).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Select(f => new ImageExample(f, Path.GetFileName(d))))
            .ToList();
        var split = StratifiedSplitter.Split(examples, validationFraction: 0.25, testFraction: 0, seed: 1);
        Train = split.Train;
        Validation = split.Validation;
        Classes = SyntheticImageDataset.Classes;
    }

    public string DataDir { get; }
    public IReadOnlyList<ImageExample> Train { get; }
    public IReadOnlyList<ImageExample> Validation { get; }
    public IReadOnlyList<string> Classes { get; }
    public string Root => _dir.Path;

    /// <summary>The fixture's CNN as an ONNX file with its spec beside it, as a user would pass one (written once per folder).</summary>
    public string BackboneFile(string folder)
    {
        var path = Path.Combine(Root, folder, "cnn.onnx");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        OnnxModelFile.Save(Backbone().Model, path);
        File.WriteAllText(BackboneResolver.SidecarPath(path),
            $$"""{ "name": "test-cnn", "inputWidth": {{ImageSize}}, "inputHeight": {{ImageSize}}, "mean": [0.5,0.5,0.5], "std": [0.25,0.25,0.25] }""");
        return path;
    }

    /// <summary>A small random-weight CNN: three Conv+BN+Relu blocks (max-pooled between), global pool, classifier.</summary>
    public static ResolvedBackbone Backbone(int seed = 3)
    {
        var model = OnnxModelBuilder.SmallCnn(inputSize: ImageSize, channels: [8, 16, 16], classes: 10, seed: seed);
        var spec = new BackboneSpec { Name = "test-cnn", InputWidth = ImageSize, InputHeight = ImageSize, Mean = [0.5f, 0.5f, 0.5f], Std = [0.25f, 0.25f, 0.25f] };
        return new ResolvedBackbone(model, spec, "generated in the test");
    }

    /// <summary>The fixture's backbone as a featurizer graph taking raw pixels.</summary>
    public static PreparedBackbone Prepared(int seed = 3)
    {
        var backbone = Backbone(seed);
        return BackbonePreparer.Prepare(backbone.Model, backbone.Spec);
    }

    public static ImagePixelReader Reader => new(ImageSize, ImageSize);

    /// <summary>Mean validation cross-entropy and accuracy of a module (what the trainer measures after each epoch).</summary>
    public (double Loss, double Accuracy) Evaluate(OnnxTorchModule module)
    {
        module.eval();
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var noGrad = TorchSharp.torch.no_grad();
        var reader = Reader;
        var pixels = new float[Validation.Count * reader.Length];
        var planes = new byte[reader.Length];
        for (int i = 0; i < Validation.Count; i++)
        {
            reader.Read(Validation[i].Path, planes);
            for (int k = 0; k < planes.Length; k++) pixels[i * reader.Length + k] = planes[k];
        }
        var x = TorchSharp.torch.tensor(pixels, [Validation.Count, 3, ImageSize, ImageSize]);
        var y = TorchSharp.torch.tensor(Validation.Select(e => (long)Classes.ToList().IndexOf(e.Label)).ToArray());
        var logits = module.forward(x);
        var loss = TorchSharp.torch.nn.functional.cross_entropy(logits, y).item<float>();
        var accuracy = logits.argmax(1).eq(y).to_type(TorchSharp.torch.ScalarType.Float32).mean().item<float>();
        return (loss, accuracy);
    }

    /// <summary>Copies of every parameter and buffer, by name.</summary>
    public static Dictionary<string, float[]> Snapshot(OnnxTorchModule module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().data<float>().ToArray());

    /// <summary>Fast settings: tiny batches, few epochs, no early stopping unless a test asks.</summary>
    public static FineTuneOptions Options(int epochs = 4) => new()
    {
        Epoch = epochs,
        BatchSize = 8,
        LearningRate = 0.01f,
        PretrainedLearningRateFactor = 0.5f,
        FreezeFraction = 0.5,
        HeadWarmupEpochs = 0,
        EarlyStoppingCriteria = null,
        Augmentation = { Enabled = false },
        DecodeParallelism = 2,
        NumberOfThreads = 1,
        Seed = 7,
    };

    public void Dispose() => _dir.Dispose();
}
