using MlNetTransfer.FineTuning;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>Cutting the forward pass at a layer boundary (for the bottleneck cache): prefix then suffix is the whole pass.</summary>
public sealed class OnnxForwardSplitTests
{
    [Fact]
    public void PrefixThenSuffixEqualsTheWholeForwardAtEveryBoundary()
    {
        using var module = OnnxTorchModule.FromOnnx(TestCnn.Build(), new OnnxTorchModuleOptions { EmbeddingTensor = TestCnn.Embedding, NumClasses = 4, Seed = 1 });
        module.eval();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = torch.tensor(TestCnn.RandomImages(3, seed: 2), [3, 3, TestCnn.Size, TestCnn.Size]);
        var whole = module.forward(x).data<float>().ToArray();
        var crossings = new List<int>();
        for (int g = 0; g <= module.ParameterGroups.Count; g++)
        {
            var split = module.SplitBefore(g);
            crossings.Add(split.Tensors.Count);
            var parts = module.ForwardSuffix(module.ForwardPrefix(x, split), split).data<float>().ToArray();
            Assert.Equal(whole.Length, parts.Length);
            for (int i = 0; i < whole.Length; i++) Assert.Equal(whole[i], parts[i], 5);
        }
        // Before conv2 (inside the residual block) two values cross: r1 (for the Add) and itself as conv2's input... r1 only once.
        var insideResidual = module.SplitBefore(module.ParameterGroups.Single(p => p.NodeName == "conv2").Index);
        Assert.Equal(["r1"], insideResidual.Tensors);
        var beforeBn2 = module.SplitBefore(module.ParameterGroups.Single(p => p.NodeName == "bn2").Index);
        Assert.Equal(["c2", "r1"], beforeBn2.Tensors);
        var headOnly = module.SplitBefore(module.ParameterGroups.Count - 1);
        Assert.Equal([TestCnn.Embedding], headOnly.Tensors);
    }

    [Fact]
    public void APrefixIsFixedOnlyWhenFrozenWithFrozenBatchNorms()
    {
        using var module = OnnxTorchModule.FromOnnx(TestCnn.Build(), new OnnxTorchModuleOptions { EmbeddingTensor = TestCnn.Embedding, NumClasses = 4 });
        var split = module.SplitBefore(module.ParameterGroups.Single(p => p.NodeName == "conv3").Index);
        module.FreezeBefore(split.FirstGroup);
        Assert.True(module.IsPrefixFixed(split));
        module.FrozenBatchNormInEvalMode = false; // batch norms would then normalise with batch statistics in training
        Assert.False(module.IsPrefixFixed(split));
        module.FrozenBatchNormInEvalMode = true;
        module.FreezeBefore(0);                   // everything trainable: the prefix changes while training
        Assert.False(module.IsPrefixFixed(split));
    }
}
