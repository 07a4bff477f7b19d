namespace MlNetTransfer.FineTuning;

/// <summary>
/// A point in an <c>OnnxTorchModule</c>'s forward pass, just before the first node that reads a parameter of
/// group <see cref="FirstGroup"/> or later. The prefix (everything before it) reads only earlier groups; the suffix
/// continues from <see cref="Tensors"/>, the values that cross the cut (one after a plain layer, more inside a residual
/// block). Made by <c>OnnxTorchModule.SplitBefore</c>; used to compute a frozen prefix once (bottleneck cache).
/// </summary>
public sealed record OnnxForwardSplit
{
    internal OnnxForwardSplit(int firstGroup, int step, IReadOnlyList<string> tensors)
    {
        FirstGroup = firstGroup;
        Step = step;
        Tensors = tensors;
    }

    /// <summary>Index of the first parameter group the suffix holds.</summary>
    public int FirstGroup { get; }

    /// <summary>Index of the first step (node run in topological order) in the suffix; the step count when only the head remains.</summary>
    public int Step { get; }

    /// <summary>Names of the values the prefix hands to the suffix.</summary>
    public IReadOnlyList<string> Tensors { get; }
}
