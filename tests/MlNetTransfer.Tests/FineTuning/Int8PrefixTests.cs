using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Tests.TestSupport;
using TorchSharp;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The int8 frozen prefix (<see cref="FrozenPrefixEngine.OnnxRuntimeInt8"/>): an int8 backbone's own layers run in
/// front of the trained float ones, they hand over exactly what the int8 graph computes, and the saved zip keeps them, so it
/// scores the validation images as training did.</summary>
[Collection(ExactTrainingCollection.Name)]
public sealed class Int8PrefixTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private const int Batch = 5;

    /// <summary>The generated int8 CNN (QOperator: conv1, conv2, 1×1 conv3 + residual, pool) sized for the fixture's images.</summary>
    internal static ResolvedBackbone Int8Backbone() => new(
        QuantizedModelBuilder.Build(new QuantizedModelBuilderOptions { InputSize = FineTuneFixture.ImageSize }).QOperator,
        new BackboneSpec
        {
            Name = "int8-test", InputWidth = FineTuneFixture.ImageSize, InputHeight = FineTuneFixture.ImageSize, EmbeddingTensor = "s_quantized",
            // Maps 0..255 onto the [-2, 2] the builder calibrated its activation ranges on.
            Mean = [0.5f, 0.5f, 0.5f], Std = [0.25f, 0.25f, 0.25f],
        },
        "generated in the test");

    private float[] Pixels()
    {
        var reader = FineTuneFixture.Reader;
        var pixels = new float[Batch * reader.Length];
        var planes = new byte[reader.Length];
        for (int i = 0; i < Batch; i++)
        {
            reader.Read(data.Train[i].Path, planes);
            for (int k = 0; k < planes.Length; k++) pixels[i * reader.Length + k] = planes[k];
        }
        return pixels;
    }

    /// <summary>An 8-bit tensor of the int8 featurizer, dequantized here with its producer's output scale and zero point.</summary>
    private static float[] Int8Activation(ModelProto featurizer, string tensor, float[] pixels)
    {
        var model = featurizer.Clone();
        model.Graph.Output.Add(new ValueInfoProto { Name = tensor + "_quantized" });
        var producer = model.Graph.Node.Single(n => n.Output.Contains(tensor + "_quantized"));
        Assert.Equal("QLinearConv", producer.OpType);
        TensorProto Initializer(string name) => model.Graph.Initializer.Single(t => t.Name == name);
        var scaleProto = Initializer(producer.Input[6]);
        var zeroProto = Initializer(producer.Input[7]);
        float scale = scaleProto.FloatData.Count > 0 ? scaleProto.FloatData[0] : BitConverter.ToSingle(scaleProto.RawData.Span);
        float zeroPoint = zeroProto.Int32Data.Count > 0 ? zeroProto.Int32Data[0] : zeroProto.RawData[0];
        using var session = new InferenceSession(OnnxModelFile.ToBytes(model));
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [Batch, 3, FineTuneFixture.ImageSize, FineTuneFixture.ImageSize]);
        using var results = session.Run(new RunOptions(), [PreparedBackbone.InputName], [input], [tensor + "_quantized"]);
        return results[0].GetTensorDataAsSpan<byte>().ToArray().Select(q => (q - zeroPoint) * scale).ToArray();
    }

    [Fact]
    public void TheInt8PrefixHandsOverWhatTheInt8GraphComputes()
    {
        var prepared = FineTuningTrainer.PrepareBackbone(Int8Backbone(), keepInt8: true);
        Assert.NotNull(prepared.QuantizedFeaturizerModel);
        using var module = FineTuningTrainer.CreateModule(prepared, 3, new FineTuneOptions { Seed = 5 });
        module.FreezeBefore(2);
        var split = module.SplitBefore(2);
        Assert.Equal(["r1", "r2"], split.Tensors); // inside the residual block: conv1's output is read again after conv3
        var pixels = Pixels();

        using var int8 = FrozenPrefix.Create(module, split, FrozenPrefixEngine.OnnxRuntimeInt8, threads: 1, pretrained: true);
        using var floatTwin = FrozenPrefix.Create(module, split, FrozenPrefixEngine.OnnxRuntime, threads: 1, pretrained: true);
        Assert.Equal(FrozenPrefixEngine.OnnxRuntimeInt8, int8.Engine);
        Assert.Null(int8.Int8Fallback);
        Assert.Contains(int8.Int8Model!.Graph.Node, n => n.OpType == "QLinearConv");
        Assert.DoesNotContain(int8.Int8Model.Graph.Node, n => n.OpType == "Conv");

        using var scope = torch.NewDisposeScope();
        var ours = int8.Run(pixels, Batch, FineTuneFixture.ImageSize, FineTuneFixture.ImageSize);
        var twin = floatTwin.Run(pixels, Batch, FineTuneFixture.ImageSize, FineTuneFixture.ImageSize);
        foreach (var name in split.Tensors)
        {
            var values = ours[name].contiguous().data<float>().ToArray();
            var expected = Int8Activation(prepared.QuantizedFeaturizerModel!, name, pixels);
            Assert.Equal(expected.Length, values.Length);
            Assert.True(expected.Zip(values).All(p => Math.Abs(p.First - p.Second) < 1e-6), $"{name}: not the int8 graph's values");
            // The float twin computes nearly the same thing, but not on the 8-bit grid.
            var floats = twin[name].contiguous().data<float>().ToArray();
            var gap = floats.Zip(values).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(gap > 0 && gap < 0.25 * values.Max(), $"{name}: float twin differs by {gap}");
        }
    }

    [Fact]
    public void TheFloatTwinRunsWhereTheInt8GraphWouldNotComputeThePrefixTrainingSees()
    {
        var prepared = FineTuningTrainer.PrepareBackbone(Int8Backbone(), keepInt8: true);
        using var module = FineTuningTrainer.CreateModule(prepared, 3, new FineTuneOptions { Seed = 5 });
        module.FreezeBefore(2);
        using (var trained = FrozenPrefix.Create(module, module.SplitBefore(2), FrozenPrefixEngine.OnnxRuntimeInt8, threads: 1, pretrained: false))
        {
            Assert.Equal(FrozenPrefixEngine.OnnxRuntime, trained.Engine);
            Assert.Contains("trained", trained.Int8Fallback);
        }
        using var floatModule = FineTuningTrainer.CreateModule(FineTuneFixture.Prepared(), 3, new FineTuneOptions { Seed = 5 });
        floatModule.FreezeBefore(2);
        using var notInt8 = FrozenPrefix.Create(floatModule, floatModule.SplitBefore(2), FrozenPrefixEngine.OnnxRuntimeInt8, threads: 1, pretrained: true);
        Assert.Equal(FrozenPrefixEngine.OnnxRuntime, notInt8.Engine);
        Assert.Contains("not the dequantized twin", notInt8.Int8Fallback);
        // Without asking, the int8 featurizer is not prepared at all.
        Assert.Null(FineTuningTrainer.PrepareBackbone(Int8Backbone()).QuantizedFeaturizerModel);
    }

    private sealed class Row
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void TheSavedZipKeepsTheInt8PrefixAndScoresValidationAsTrainingDid()
    {
        var ml = new MLContext(1);
        IDataView View(IEnumerable<MlNetTransfer.Data.ImageExample> examples) => ml.Data.LoadFromEnumerable(examples.Select(e => new Row { ImagePath = e.Path, Label = e.Label }));
        var options = FineTuneFixture.Options(epochs: 3);
        options.FreezeFraction = 0.6;
        options.Augmentation.Enabled = true; // the prefix runs every step, so each epoch records its engine
        options.FrozenPrefixEngine = FrozenPrefixEngine.OnnxRuntimeInt8;
        options.ValidationSet = View(data.Validation);
        using var result = new FineTuningTrainer(ml, options, Int8Backbone()).Train(View(data.Train));

        Assert.True(result.Run.KeepsInt8Prefix);
        Assert.Null(result.Run.Int8PrefixFallback);
        Assert.All(result.Run.Epochs, e => Assert.Equal(FrozenPrefixEngine.OnnxRuntimeInt8, e.FrozenPrefix));
        var nodes = result.FeaturizerModel.Graph.Node;
        Assert.Contains(nodes, n => n.OpType == "QLinearConv" && n.Name.StartsWith(QuantizedPrefix.NamePrefix, StringComparison.Ordinal));
        Assert.Contains(nodes, n => n.OpType == "Conv"); // the trained layers, in float

        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        ml.Model.Save(result.Model, View([]).Schema, zip);
        var fresh = new MLContext(2);
        var loaded = fresh.Model.Load(zip, out _);
        var scores = fresh.Data.CreateEnumerable<Prediction>(loaded.Transform(fresh.Data.LoadFromEnumerable(
            data.Validation.Select(e => new Featurization.ImageFeaturizer.ImagePathRow { ImagePath = e.Path }))), reuseRowObject: false).ToList();
        var classes = result.Classes.ToList();
        var zipLoss = scores.Zip(data.Validation).Average(p => -Math.Log(Math.Max(p.First.Score[classes.IndexOf(p.Second.Label)], 1e-12)));
        var trainerLoss = result.Run.Best!.ValidationLoss;
        Assert.True(Math.Abs(zipLoss - trainerLoss) < 1e-4, $"validation loss while training {trainerLoss}, through the saved zip {zipLoss}");
    }
}
