using static TorchSharp.torch;

namespace MlNetTransfer.FineTuning;

public sealed partial class OnnxTorchModule
{
    /// <summary>
    /// The last value of the forward pass with a spatial grid ([N, C, h, w] with h · w &gt; 1) through which everything
    /// after it flows: the cut just after the node producing it leaves it as the only computed value crossing. That is
    /// Grad-CAM's layer (the last convolutional activation). Measured on <paramref name="probe"/>; null when there is none.
    /// </summary>
    internal (OnnxForwardSplit Split, string Tensor)? LastSpatialCut(Tensor probe)
    {
        if (InputNames.Count != 1) throw new InvalidOperationException($"LastSpatialCut needs a single-input graph; this one has {InputNames.Count}.");
        var spatial = new List<(int Step, string Tensor)>();
        using (NewDisposeScope())
        using (no_grad())
        {
            var run = new OnnxRunContext { Training = false };
            var env = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [InputNames[0]] = Prepare(probe) };
            for (int s = 0; s < _steps.Count; s++)
            {
                var step = _steps[s];
                var args = step.Inputs.Select(i => i.Length == 0 ? null : env.TryGetValue(i, out var v) ? v : State(i)).ToArray();
                var outputs = Invoke(step.Node, step.Kernel, args, run);
                for (int k = 0; k < step.Outputs.Length && k < outputs.Length; k++)
                {
                    if (step.Outputs[k].Length == 0 || outputs[k] is not { } value) continue;
                    env[step.Outputs[k]] = value;
                    if (value.dim() == 4 && value.is_floating_point() && value.shape[2] * value.shape[3] > 1) spatial.Add((s, step.Outputs[k]));
                }
            }
        }
        for (int c = spatial.Count - 1; c >= 0; c--)
        {
            var split = SplitAt(spatial[c].Step + 1);
            if (ComputedCrossing(split) is [var only] && only == spatial[c].Tensor) return (split, only);
        }
        return null;
    }
}
