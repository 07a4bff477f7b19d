using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.FineTuning;

namespace TransferabilityStudy;

/// <summary>
/// One of Yosinski et al.'s (2014) networks for task B:
/// <list type="bullet">
/// <item><b>B</b> — the architecture trained from random initialisation on B alone (<see cref="CutDepth"/> 0);</item>
/// <item><b>AnB</b> — blocks 1..n copied from the base network A and frozen, the rest re-initialised and trained;</item>
/// <item><b>AnB+</b> — blocks 1..n copied from A, the rest re-initialised, and everything fine-tuned.</item>
/// </list>
/// A block is Conv → BatchNormalization → Relu (→ MaxPool); the classifier (GlobalAveragePool → Gemm) is always re-initialised.
/// </summary>
public sealed record Condition(int CutDepth, bool FineTuneCopied)
{
    public string Name => CutDepth == 0 ? "B" : $"A{CutDepth}B{(FineTuneCopied ? "+" : "")}";

    /// <summary>B, then A1B, A1B+, A2B, A2B+, ... up to every block copied.</summary>
    public static IReadOnlyList<Condition> All(int blocks) =>
        [new Condition(0, true), .. Enumerable.Range(1, blocks).SelectMany(n => new[] { new Condition(n, false), new Condition(n, true) })];

    /// <summary>
    /// The network this condition starts from: A's trained graph (<paramref name="baseNetwork"/>, a SmallCnn written back by
    /// <see cref="OnnxTorchModule.ToOnnx"/>) re-initialised from block n+1 on — so every condition's fresh layers are drawn
    /// the same way (and, for a seed, are the same values) — with blocks 1..n frozen unless the condition fine-tunes them.
    /// </summary>
    internal OnnxTorchModule Build(ModelProto baseNetwork, int seed, int blocks)
    {
        var firstFresh = CutDepth < blocks ? $"block{CutDepth + 1}/conv" : HeadNode(baseNetwork);
        var start = WeightReinitializer.Reinitialize(baseNetwork, seed, fromNode: firstFresh);
        var module = OnnxTorchModule.FromOnnx(start);
        if (!FineTuneCopied) module.FreezeBefore(module.ParameterGroups.Single(g => g.NodeName == firstFresh).Index);
        return module;
    }

    private static string HeadNode(ModelProto model) => model.Graph.Node.Last(n => n.OpType == "Gemm").Name;
}
