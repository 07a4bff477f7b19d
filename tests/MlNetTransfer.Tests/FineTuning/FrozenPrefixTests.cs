using MlNetTransfer.FineTuning;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The speed paths of fine-tuning compute what the plain path computes: channels-last memory order, and the frozen
/// prefix on ONNX Runtime with TorchSharp training only the suffix.</summary>
[Collection(ExactTrainingCollection.Name)]
public sealed class FrozenPrefixTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private const int Batch = 6;

    private static OnnxTorchModule Module(bool channelsLast = true) =>
        FineTuningTrainer.CreateModule(FineTuneFixture.Prepared(), 3, new FineTuneOptions { Seed = 5, ChannelsLast = channelsLast, HeadDropout = 0 });

    private float[] Pixels()
    {
        var reader = FineTuneFixture.Reader;
        var pixels = new float[Batch * reader.Length];
        for (int i = 0; i < Batch; i++)
            reader.ReadAugmented(data.Train[i].Path, pixels.AsSpan(i * reader.Length, reader.Length), new ImageAugmentation(), new Random(i));
        return pixels;
    }

    private long[] Labels() => data.Train.Take(Batch).Select(e => (long)data.Classes.ToList().IndexOf(e.Label)).ToArray();

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    private static Tensor Input(float[] pixels) => torch.tensor(pixels, [Batch, 3, FineTuneFixture.ImageSize, FineTuneFixture.ImageSize]);

    /// <summary>Loss of one batch and the gradients of every trainable parameter, by ONNX name order.</summary>
    private static (double Loss, List<float[]> Gradients) Step(OnnxTorchModule module, Func<Tensor> logits, long[] labels)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var p in module.parameters()) p.grad?.zero_();
        var loss = F.cross_entropy(logits(), torch.tensor(labels));
        loss.backward();
        var gradients = module.ParameterGroups.Where(g => g.Trainable).SelectMany(g => g.Parameters)
            .Select(p => p.grad is null ? [] : p.grad.contiguous().data<float>().ToArray()).ToList();
        return (loss.item<float>(), gradients);
    }

    [Fact]
    public void ChannelsLastComputesTheSameOutputsAndGradientsAsNchw()
    {
        var pixels = Pixels();
        var labels = Labels();
        using var nchw = Module(channelsLast: false);
        using var last = Module(channelsLast: true);
        nchw.train();
        last.train();
        // The conv weights really are in channels-last order: the channel stride is 1.
        var conv = last.ParameterGroups.First(g => g.OpType == "Conv").Parameters[0];
        Assert.Equal(4, conv.dim());
        Assert.Equal(1, conv.stride(1));
        Assert.NotEqual(1, nchw.ParameterGroups.First(g => g.OpType == "Conv").Parameters[0].stride(1));

        // Written back to ONNX, the weights are the same numbers in ONNX's order.
        var a = nchw.ToOnnx().Graph.Initializer.ToDictionary(t => t.Name, t => t.RawData.ToByteArray());
        var b = last.ToOnnx().Graph.Initializer.ToDictionary(t => t.Name, t => t.RawData.ToByteArray());
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, bytes) in a) Assert.Equal(bytes, b[name]);

        var (nchwLoss, nchwGradients) = Step(nchw, () => nchw.forward(Input(pixels)), labels);
        var (lastLoss, lastGradients) = Step(last, () => last.forward(Input(pixels)), labels);
        Assert.Equal(nchwLoss, lastLoss, 5);
        Assert.Equal(nchwGradients.Count, lastGradients.Count);
        for (int k = 0; k < nchwGradients.Count; k++)
            Assert.True(MaxDifference(nchwGradients[k], lastGradients[k]) < 1e-4, $"parameter {k}: {MaxDifference(nchwGradients[k], lastGradients[k])}");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void SuffixBehindAnOnnxRuntimePrefixGetsTheGradientsOfTheAllTorchSharpPath(double freeze)
    {
        var pixels = Pixels();
        var labels = Labels();
        using var module = Module();
        var firstTrainable = (int)Math.Floor(freeze * (module.ParameterGroups.Count - 1));
        module.FreezeBefore(firstTrainable);
        module.train();
        var split = module.SplitBefore(firstTrainable);
        using var onnxRuntime = FrozenPrefix.Create(module, split, FrozenPrefixEngine.OnnxRuntime, threads: 1);
        Assert.Equal(FrozenPrefixEngine.OnnxRuntime, onnxRuntime.Engine);

        // The values crossing the split agree with the module's own prefix.
        using (var scope = torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var ours = module.ForwardPrefix(Input(pixels), split);
            var theirs = onnxRuntime.Run(pixels, Batch, FineTuneFixture.ImageSize, FineTuneFixture.ImageSize);
            Assert.Equal(ours.Keys.Order(), theirs.Keys.Order());
            foreach (var (name, value) in ours)
            {
                Assert.Equal(value.shape, theirs[name].shape);
                var difference = MaxDifference(value.contiguous().data<float>().ToArray(), theirs[name].contiguous().data<float>().ToArray());
                Assert.True(difference < 1e-4, $"{name}: {difference}");
            }
        }

        var (torchLoss, torchGradients) = Step(module, () => module.forward(Input(pixels)), labels);
        var (ortLoss, ortGradients) = Step(module,
            () => module.ForwardSuffix(onnxRuntime.Run(pixels, Batch, FineTuneFixture.ImageSize, FineTuneFixture.ImageSize), split), labels);
        Assert.Equal(torchLoss, ortLoss, 4);
        Assert.Equal(module.ParameterGroups.Count - firstTrainable, module.ParameterGroups.Count(g => g.Trainable));
        Assert.Equal(torchGradients.Count, ortGradients.Count);
        for (int k = 0; k < torchGradients.Count; k++)
        {
            Assert.NotEmpty(ortGradients[k]);
            Assert.True(MaxDifference(torchGradients[k], ortGradients[k]) < 1e-4, $"parameter {k}: {MaxDifference(torchGradients[k], ortGradients[k])}");
        }
    }

    [Fact]
    public void PrefixStaysInTorchSharpWhenItIsNotFixedOrHoldsNoLayer()
    {
        using var module = Module();
        module.FreezeBefore(0);
        using (var nothingFrozen = FrozenPrefix.Create(module, module.SplitBefore(0), FrozenPrefixEngine.OnnxRuntime, threads: 1))
            Assert.Equal(FrozenPrefixEngine.TorchSharp, nothingFrozen.Engine);
        // A trainable layer inside the prefix: its output changes with every step, so it cannot be exported once.
        module.FreezeBefore(0);
        using (var moving = FrozenPrefix.Create(module, module.SplitBefore(2), FrozenPrefixEngine.OnnxRuntime, threads: 1))
            Assert.Equal(FrozenPrefixEngine.TorchSharp, moving.Engine);
        module.FreezeBefore(2);
        using (var asked = FrozenPrefix.Create(module, module.SplitBefore(2), FrozenPrefixEngine.TorchSharp, threads: 1))
            Assert.Equal(FrozenPrefixEngine.TorchSharp, asked.Engine);
    }

    [Fact]
    public void TrainingBehindTheOnnxRuntimePrefixGivesTheModelOfTheAllTorchSharpPath()
    {
        Dictionary<string, float[]> Train(FrozenPrefixEngine engine)
        {
            var options = FineTuneFixture.Options(epochs: 2);
            options.FreezeFraction = 0.5;
            options.Augmentation.Enabled = true; // the prefix runs in every step (no bottleneck cache)
            options.Optimizer = FineTuneOptimizer.Sgd;
            options.FrozenPrefixEngine = engine;
            using var module = FineTuningTrainer.CreateModule(FineTuneFixture.Prepared(), 3, options);
            new FineTuner(options).Train(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
            return FineTuneFixture.Snapshot(module);
        }
        var ort = Train(FrozenPrefixEngine.OnnxRuntime);
        var torchSharp = Train(FrozenPrefixEngine.TorchSharp);
        foreach (var (name, values) in ort)
            Assert.True(MaxDifference(values, torchSharp[name]) < 1e-4, $"{name}: {MaxDifference(values, torchSharp[name])}");
    }
}
