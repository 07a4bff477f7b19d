using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.FineTuning;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using static TorchSharp.torch;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;
using F = TorchSharp.torch.nn.functional;
using MlNetTransfer.Tests.Backbones;

namespace MlNetTransfer.Tests.FineTuning;

public class OnnxTorchModuleTests
{
    private static float[] RunOnnxRuntime(ModelProto model, float[] images, int batch, string output) =>
        OrtRunner.Run(model, output, TestCnn.Input, new MlNetTransfer.Tests.Backbones.FloatTensor(images, [batch, 3, TestCnn.Size, TestCnn.Size])).Values;

    private static float[] RunTorch(OnnxTorchModule module, float[] images, int batch)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = torch.tensor(images, [batch, 3, TestCnn.Size, TestCnn.Size]);
        return module.forward(x).data<float>().ToArray();
    }

    private static double MaxAbsDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (p, q) => Math.Abs((double)p - q)).Max();
    }

    [Fact]
    public void ConvertedGraphComputesWhatOnnxRuntimeComputes()
    {
        var model = TestCnn.Build();
        using var module = OnnxTorchModule.FromOnnx(model);
        module.eval();
        var images = TestCnn.RandomImages(4, seed: 3);

        var torchOut = RunTorch(module, images, 4);
        var ortOut = RunOnnxRuntime(model, images, 4, TestCnn.Output);

        Assert.Equal(4 * TestCnn.Classes, torchOut.Length);
        Assert.True(MaxAbsDifference(torchOut, ortOut) < 1e-4, $"max difference {MaxAbsDifference(torchOut, ortOut)}");
        // The reshape target computed from the classifier weight's shape never changes, so it is folded away.
        Assert.Equal(["fc_shape", "fc_width", "flat_shape"], module.FoldedNodes);
    }

    [Fact]
    public void TrainedModuleWrittenBackToOnnxAgreesWithOnnxRuntime()
    {
        var source = TestCnn.Build();
        using var module = OnnxTorchModule.FromOnnx(source, new OnnxTorchModuleOptions { EmbeddingTensor = TestCnn.Embedding, NumClasses = 3, Seed = 7 });
        Train(module, steps: 3);

        module.eval();
        var images = TestCnn.RandomImages(5, seed: 11);
        var torchOut = RunTorch(module, images, 5);
        var written = module.ToOnnx();
        var ortOut = RunOnnxRuntime(written, images, 5, "logits");

        Assert.Equal(5 * 3, torchOut.Length);
        Assert.True(MaxAbsDifference(torchOut, ortOut) < 1e-4, $"max difference {MaxAbsDifference(torchOut, ortOut)}");

        // Weights and batch-norm statistics changed and were written; the old classifier is gone, the head is the output.
        float[] Init(ModelProto m, string name) => OnnxTensors.ToFloats(m.Graph.Initializer.Single(t => t.Name == name));
        Assert.NotEqual(Init(source, "conv1.weight"), Init(written, "conv1.weight"));
        Assert.NotEqual(Init(source, "bn1.mean"), Init(written, "bn1.mean"));
        Assert.Equal(Init(source, "relu6.max"), Init(written, "relu6.max"));
        Assert.DoesNotContain(written.Graph.Initializer, t => t.Name == "fc.weight");
        Assert.DoesNotContain(written.Graph.Node, n => n.Name == "fc");
        Assert.Equal(["logits"], written.Graph.Output.Select(o => o.Name));
        Assert.Equal(new long[] { 3, TestCnn.Width }, written.Graph.Initializer.Single(t => t.Name == "head.weight").Dims);
    }

    [Fact]
    public void WrittenModelRunsThroughMlNetApplyOnnxModel()
    {
        using var module = OnnxTorchModule.FromOnnx(TestCnn.Build(), new OnnxTorchModuleOptions { EmbeddingTensor = TestCnn.Embedding, NumClasses = 2 });
        module.eval();
        var images = TestCnn.RandomImages(2, seed: 5);
        var torchOut = RunTorch(module, images, 2);
        var path = Path.Combine(Path.GetTempPath(), $"mlnet-transfer-test-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxModelFile.Save(module.ToOnnx(), path);
            var ml = new Microsoft.ML.MLContext(seed: 0);
            var rows = Enumerable.Range(0, 2).Select(r => new ImageRow { Input = images.Skip(r * 3 * TestCnn.Size * TestCnn.Size).Take(3 * TestCnn.Size * TestCnn.Size).ToArray() });
            var data = ml.Data.LoadFromEnumerable(rows);
            var pipeline = ml.Transforms.ApplyOnnxModel(["logits"], [TestCnn.Input], path);
            var scored = pipeline.Fit(data).Transform(data);
            var logits = scored.GetColumn<float[]>("logits").SelectMany(v => v).ToArray();
            Assert.True(MaxAbsDifference(torchOut, logits) < 1e-4, $"max difference {MaxAbsDifference(torchOut, logits)}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class ImageRow
    {
        [Microsoft.ML.Data.ColumnName(TestCnn.Input), Microsoft.ML.Data.VectorType(3, TestCnn.Size, TestCnn.Size)]
        public float[] Input { get; set; } = [];
    }

    private static void Train(OnnxTorchModule module, int steps)
    {
        module.train();
        using var optimizer = torch.optim.SGD(module.parameters(), 0.05);
        for (int step = 0; step < steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            var x = torch.tensor(TestCnn.RandomImages(4, seed: 100 + step), [4, 3, TestCnn.Size, TestCnn.Size]);
            var y = torch.tensor(new long[] { 0, 1, 2, 1 });
            var loss = F.cross_entropy(module.forward(x), y);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
    }

    [Fact]
    public void ParameterGroupsFollowTheGraphAndFreezeByDepth()
    {
        using var module = OnnxTorchModule.FromOnnx(TestCnn.Build(), new OnnxTorchModuleOptions { EmbeddingTensor = TestCnn.Embedding, NumClasses = 3 });
        Assert.Equal(["conv1", "bn1", "conv2", "bn2", "conv3", "head_gemm"], module.ParameterGroups.Select(g => g.NodeName));
        Assert.Equal(["Conv", "BatchNormalization", "Conv", "BatchNormalization", "Conv", "Gemm"], module.ParameterGroups.Select(g => g.OpType));
        Assert.Equal(["conv2.weight"], module.ParameterGroups[2].TensorNames);
        Assert.True(module.ParameterGroups[^1].IsHead);
        // Constants are buffers, not parameters: the ReLU6 bounds must never be trained.
        Assert.DoesNotContain(module.named_parameters(), p => p.name.Contains("relu6"));
        Assert.Equal(module.parameters().Count(), module.ParameterGroups.Sum(g => g.Parameters.Count));

        module.FreezeBefore(4);
        Assert.Equal([false, false, false, false, true, true], module.ParameterGroups.Select(g => g.Trainable));

        module.train();
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(TestCnn.RandomImages(2, seed: 1), [2, 3, TestCnn.Size, TestCnn.Size]);
        module.forward(x).sum().backward();
        foreach (var g in module.ParameterGroups)
            foreach (var p in g.Parameters)
                Assert.Equal(g.Trainable, p.grad is not null);
    }

    [Fact]
    public void FrozenBatchNormKeepsItsRunningStatisticsInTrainingMode()
    {
        using var module = OnnxTorchModule.FromOnnx(TestCnn.Build());
        var bn1 = module.ParameterGroups.Single(g => g.NodeName == "bn1");
        var bn2 = module.ParameterGroups.Single(g => g.NodeName == "bn2");
        bn1.Trainable = false;
        float[] Buffer(string name) => module.named_buffers().Single(b => b.name == name).buffer.data<float>().ToArray();
        var mean1 = Buffer("bn1_mean");
        var mean2 = Buffer("bn2_mean");

        module.train();
        ForwardOnce(module);
        Assert.Equal(mean1, Buffer("bn1_mean"));          // frozen: eval mode, statistics kept
        Assert.NotEqual(mean2, Buffer("bn2_mean"));       // trainable: batch statistics, running mean moves

        module.FrozenBatchNormInEvalMode = false;
        ForwardOnce(module);
        Assert.NotEqual(mean1, Buffer("bn1_mean"));       // switch off: every batch norm follows the module's mode

        var before = Buffer("bn2_mean");
        module.eval();
        ForwardOnce(module);
        Assert.Equal(before, Buffer("bn2_mean"));         // eval mode never updates
    }

    private static void ForwardOnce(OnnxTorchModule module)
    {
        using var scope = torch.NewDisposeScope();
        module.forward(torch.tensor(TestCnn.RandomImages(3, seed: 9), [3, 3, TestCnn.Size, TestCnn.Size]));
    }

    [Fact]
    public void BatchNormInTrainingModeNormalisesWithBatchStatisticsAndMovesRunningOnesTheOnnxWay()
    {
        // One BatchNormalization: y = (x - batch mean) / sqrt(batch var + eps); running = running * m + batch * (1 - m).
        var g = new GraphProto { Name = "bn" };
        g.Input.Add(TensorValue("x", DataType.Float, -1, 2, 3, 3));
        g.Output.Add(TensorValue("y", DataType.Float, -1, 2, 3, 3));
        g.Initializer.Add(OnnxTensors.FromFloats("s", [1f, 1f], 2));
        g.Initializer.Add(OnnxTensors.FromFloats("b", [0f, 0f], 2));
        g.Initializer.Add(OnnxTensors.FromFloats("m", [0f, 0f], 2));
        g.Initializer.Add(OnnxTensors.FromFloats("v", [1f, 1f], 2));
        g.Node.Add(Node("BatchNormalization", "bn", ["x", "s", "b", "m", "v"], ["y"], Attr("momentum", 0.75f), Attr("epsilon", 0f)));
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 15 });

        using var module = OnnxTorchModule.FromOnnx(model);
        module.train();
        using var scope = torch.NewDisposeScope();
        var x = torch.arange(36, dtype: ScalarType.Float32).reshape(2, 2, 3, 3);
        var y = module.forward(x);
        var (batchVar, batchMean) = torch.var_mean(x, [0, 2, 3], unbiased: false);
        var expected = (x - batchMean.reshape(1, 2, 1, 1)) / batchVar.reshape(1, 2, 1, 1).sqrt();
        Assert.True(torch.allclose(y, expected, 1e-5, 1e-5));
        var written = module.ToOnnx();
        var mean = OnnxTensors.ToFloats(written.Graph.Initializer.Single(t => t.Name == "m"));
        var variance = OnnxTensors.ToFloats(written.Graph.Initializer.Single(t => t.Name == "v"));
        var bm = batchMean.data<float>().ToArray();
        var bv = batchVar.data<float>().ToArray();
        for (int c = 0; c < 2; c++)
        {
            Assert.Equal(0.25f * bm[c], mean[c], 4);
            Assert.Equal(0.75f + 0.25f * bv[c], variance[c], 4);
        }
    }

    [Fact]
    public void TrainingModeDropoutKeepsOrScalesEachValue()
    {
        // ONNX's random-mask cases cannot be reproduced (numpy's generator), so check the contract instead.
        var g = new GraphProto { Name = "dropout" };
        g.Input.Add(TensorValue("x", DataType.Float, 4000));
        g.Output.Add(TensorValue("y", DataType.Float, 4000));
        g.Output.Add(TensorValue("mask", DataType.Bool, 4000));
        g.Initializer.Add(OnnxTensors.FromFloats("ratio", [0.25f]));
        g.Node.Add(Node("Dropout", "drop", ["x", "ratio"], ["y", "mask"]));
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });

        using var module = OnnxTorchModule.FromOnnx(model);
        using var scope = torch.NewDisposeScope();
        var x = torch.rand(4000) + 1;
        module.train();
        var outputs = module.Forward(new Dictionary<string, Tensor> { ["x"] = x });
        var kept = outputs["mask"];
        Assert.True(torch.allclose(outputs["y"], torch.where(kept, x / 0.75, torch.zeros_like(x))));
        var keptFraction = kept.to_type(ScalarType.Float32).mean().item<float>();
        Assert.InRange(keptFraction, 0.70, 0.80);

        module.eval();
        var eval = module.Forward(new Dictionary<string, Tensor> { ["x"] = x });
        Assert.True(eval["y"].eq(x).all().item<bool>());
        Assert.True(eval["mask"].all().item<bool>());
    }

    [Fact]
    public void QuantizedGraphIsRefusedNamingTheOpAndNode()
    {
        var model = TestCnn.Build();
        model.Graph.Node[0] = Node("QLinearConv", "conv1_quant", ["input", "s", "z", "w", "ws", "wz", "ys", "yz"], ["c1"]);
        foreach (var name in new[] { "s", "ws", "ys" }) model.Graph.Initializer.Add(OnnxTensors.FromFloats(name, [0.02f]));
        foreach (var name in new[] { "z", "wz", "yz" }) model.Graph.Initializer.Add(OnnxTensors.FromBytes(name, DataType.Uint8, [128]));
        model.Graph.Initializer.Add(OnnxTensors.FromBytes("w", DataType.Int8, new byte[8 * 3 * 3 * 3], 8, 3, 3, 3));
        var e = Assert.Throws<MlNetTransferException>(() => OnnxTorchModule.FromOnnx(model));
        Assert.Contains("conv1_quant", e.Message);
        Assert.Contains("QLinearConv", e.Message);
        Assert.Contains("dequantize", e.Message);
    }

    [Fact]
    public void UnsupportedAttributeIsRefusedNamingIt()
    {
        var model = TestCnn.Build();
        model.Graph.Node.Single(n => n.Name == "conv2").Attribute.Add(Attr("future_attribute", 1L));
        var e = Assert.Throws<MlNetTransferException>(() => OnnxTorchModule.FromOnnx(model));
        Assert.Contains("conv2", e.Message);
        Assert.Contains("future_attribute", e.Message);
    }

    [Fact]
    public void MissingEmbeddingTensorIsRefused()
    {
        var e = Assert.Throws<MlNetTransferException>(() =>
            OnnxTorchModule.FromOnnx(TestCnn.Build(), new OnnxTorchModuleOptions { EmbeddingTensor = "no_such_tensor", NumClasses = 2 }));
        Assert.Contains("no_such_tensor", e.Message);
    }

    [Fact]
    public void DeviceIsASettingCheckedAgainstTheInstalledLibtorch()
    {
        Assert.Equal(DeviceType.CPU, TorchDevices.Resolve("cpu").type);
        Assert.Equal(DeviceType.CPU, TorchDevices.Resolve(null).type);
        Assert.Throws<MlNetTransferException>(() => TorchDevices.Resolve("tpu"));
        if (torch.cuda.is_available()) Assert.Equal(DeviceType.CUDA, TorchDevices.Resolve("cuda").type);
        else Assert.Contains("CUDA", Assert.Throws<MlNetTransferException>(() => TorchDevices.Resolve("cuda")).Message);
    }
}
