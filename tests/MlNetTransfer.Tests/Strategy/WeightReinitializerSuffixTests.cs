using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Tests.Strategy;

/// <summary>Re-initialising only the layers from a given node on (the "AnB" networks of a transferability study).</summary>
public sealed class WeightReinitializerSuffixTests
{
    private static readonly ModelProto Cnn = OnnxModelBuilder.SmallCnn(inputSize: 16, channels: [4, 8, 8], classes: 3, seed: 11);

    private static float[] Weights(ModelProto model, string name) => OnnxTensors.ToFloats(model.Graph.Initializer.Single(t => t.Name == name));

    [Fact]
    public void NodesBeforeTheCutKeepTheirWeightsAndTheRestMatchAFullReinitialisation()
    {
        var partial = WeightReinitializer.Reinitialize(Cnn, seed: 3, fromNode: "block2/conv");
        var full = WeightReinitializer.Reinitialize(Cnn, seed: 3);

        foreach (var kept in new[] { "block1/conv/W", "block1/bn/scale", "block1/bn/bias", "block1/bn/mean", "block1/bn/var" })
            Assert.Equal(Weights(Cnn, kept), Weights(partial, kept));
        foreach (var fresh in new[] { "block2/conv/W", "block3/conv/W", "head/fc/W" })
        {
            Assert.NotEqual(Weights(Cnn, fresh), Weights(partial, fresh));
            // Per-tensor random streams: a suffix gets exactly the values a whole re-initialisation gives it.
            Assert.Equal(Weights(full, fresh), Weights(partial, fresh));
        }
        Assert.All(Weights(partial, "block2/bn/scale"), v => Assert.Equal(1f, v));
        Assert.All(Weights(partial, "block3/bn/mean"), v => Assert.Equal(0f, v));
        Assert.All(Weights(partial, "head/fc/B"), v => Assert.Equal(0f, v));
        Assert.Equal(Cnn.Graph.Node.Select(n => n.Name), partial.Graph.Node.Select(n => n.Name));
    }

    [Fact]
    public void AWeightSharedWithAKeptNodeIsKept()
    {
        // Tie block1's conv weight to a second, later conv: the later node must not overwrite the kept layer's weight.
        var tied = Cnn.Clone();
        var later = tied.Graph.Node.First(n => n.Name == "block1/conv").Clone();
        later.Name = "block1/conv_again";
        later.Input[0] = "block1/conv";
        later.Output[0] = "block1/conv_again";
        tied.Graph.Node.Add(later);

        var partial = WeightReinitializer.Reinitialize(tied, seed: 3, fromNode: "block2/conv");
        Assert.Equal(Weights(Cnn, "block1/conv/W"), Weights(partial, "block1/conv/W"));
    }

    [Fact]
    public void AnUnknownNodeOrACutAfterEveryWeightIsAClearError()
    {
        var unknown = Assert.Throws<MlNetTransferException>(() => WeightReinitializer.Reinitialize(Cnn, seed: 3, fromNode: "block9/conv"));
        Assert.Contains("block9/conv", unknown.Message);
        var nothing = Assert.Throws<MlNetTransferException>(() => WeightReinitializer.Reinitialize(Cnn, seed: 3, fromNode: "head/softmax"));
        Assert.Contains("head/softmax", nothing.Message);
    }
}
