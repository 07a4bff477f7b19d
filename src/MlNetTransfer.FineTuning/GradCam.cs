using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.Export;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Grad-CAM (Selvaraju et al. 2017) through a saved zip's network built as an <see cref="OnnxTorchModule"/>: the forward
/// pass is cut after the last layer with a spatial grid, the activations A there are made a leaf, the rest of the network
/// and the zip's head (normaliser, linear weights) run on them, and the target class's score before softmax is
/// differentiated with respect to A. An int8 graph is dequantized to its float twin first (the dequantizer reproduces the
/// int8 network's clipping, not its rounding), so the gradients are those of the float network the int8 one approximates.
/// </summary>
internal sealed class GradCam : IGradCamNetwork
{
    private readonly OnnxTorchModule _module;
    private readonly OnnxForwardSplit _split;
    private readonly IReadOnlyList<HeadStep> _head;
    private readonly int _classes, _width, _height;

    private GradCam(OnnxTorchModule module, OnnxForwardSplit split, string layer, IReadOnlyList<HeadStep> head, int classes, int width, int height)
    {
        (_module, _split, Layer, _head, _classes, _width, _height) = (module, split, layer, head, classes, width, height);
    }

    public string Layer { get; }

    public static GradCam Load(SavedChain chain, int classes, string source)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var model = chain.OnnxModel.Clone();
        var graph = model.Graph;
        graph.Output.Clear();
        graph.Output.Add(new ValueInfoProto { Name = chain.OnnxOutput });
        OnnxGraphEditing.Prune(graph);
        if (Dequantizer.IsQuantized(model)) model = Dequantizer.Dequantize(model);
        foreach (var step in chain.Head.Steps)
            if (step is LinearStep l && l.Weights.Length != classes)
                throw new MlNetTransferException($"{source}: its head has {l.Weights.Length} classes but the model lists {classes} class names.");

        var module = OnnxTorchModule.FromOnnx(model, new OnnxTorchModuleOptions { ChannelsLast = false });
        try
        {
            module.eval();
            // Only the activations are differentiated; the weights stay out of the autograd graph.
            foreach (var p in module.parameters()) p.requires_grad = false;
            using var probe = zeros(1, 3, chain.Height, chain.Width);
            var (split, layer) = module.LastSpatialCut(probe)
                ?? throw new MlNetTransferException($"{source}: its network has no layer with a spatial grid that everything after it flows through, so there is nothing for Grad-CAM to weight.");
            return new GradCam(module, split, layer, chain.Head.Steps, classes, chain.Width, chain.Height);
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    public GradCamOutput Compute(float[] pixels, int? targetClass)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Length != 3 * _width * _height)
            throw new ArgumentException($"Expected {3 * _width * _height} pixel values ([3, {_height}, {_width}]), got {pixels.Length}.", nameof(pixels));
        using var scope = NewDisposeScope();
        using var input = tensor(pixels, [1, 3, _height, _width]);
        Tensor activations;
        using (no_grad())
        {
            var crossing = _module.ForwardPrefix(input, _split);
            activations = crossing[Layer].detach().clone();
        }
        activations.requires_grad = true;
        using var grad = enable_grad();
        var embedding = _module.ForwardSuffix(new Dictionary<string, Tensor> { [Layer] = activations }, _split);
        var (classScores, scores) = Head(embedding);
        var scoreValues = scores.detach().cpu().data<float>().ToArray();
        if (scoreValues.Length != _classes)
            throw new MlNetTransferException($"The network's head gives {scoreValues.Length} scores for {_classes} classes.");
        var target = targetClass ?? Array.IndexOf(scoreValues, scoreValues.Max());
        if (target < 0 || target >= _classes) throw new ArgumentOutOfRangeException(nameof(targetClass), target, $"There are {_classes} classes.");
        var y = classScores[0, target];
        var gradient = autograd.grad([y], [activations])[0];
        using var noGrad = no_grad();
        var weights = gradient.mean([2, 3]);                                        // αₖ [1, C]
        var cam = nn.functional.relu((weights.unsqueeze(-1).unsqueeze(-1) * activations).sum(1)); // [1, h, w]
        var (c, h, w) = ((int)activations.shape[1], (int)activations.shape[2], (int)activations.shape[3]);
        return new GradCamOutput(scoreValues, target, c, h, w,
            activations.detach().contiguous().cpu().data<float>().ToArray(),
            weights.contiguous().cpu().data<float>().ToArray(),
            cam.contiguous().cpu().data<float>().ToArray());
    }

    /// <summary>The class scores (before softmax) the rest of the network and the head compute from activations of
    /// <see cref="Layer"/> ([C, h, w] as <see cref="GradCamOutput.Activations"/>): what the gradients are checked against.</summary>
    internal float[] ClassScores(float[] activations)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var probe = zeros(1, 3, _height, _width);
        var shape = _module.ForwardPrefix(probe, _split)[Layer].shape;
        var a = tensor(activations, shape);
        var (classScores, _) = Head(_module.ForwardSuffix(new Dictionary<string, Tensor> { [Layer] = a }, _split));
        return classScores.cpu().data<float>().ToArray();
    }

    /// <summary>The class scores Grad-CAM differentiates (before any softmax or calibration) and the zip's Score, as
    /// <see cref="OnnxHeadWriter"/> writes the same head for export.</summary>
    private (Tensor ClassScores, Tensor Scores) Head(Tensor embedding)
    {
        var x = embedding;
        foreach (var step in _head)
        {
            switch (step)
            {
                case IdentityStep:
                    x = x.flatten(1);
                    return (x, x);
                case AffineStep a:
                    x = x.flatten(1);
                    if (a.Offset.Length > 0) x = x - tensor(a.Offset);
                    x = x * tensor(a.Scale);
                    break;
                case L2NormStep:
                    x = x.flatten(1);
                    x = x / x.norm(1, keepdim: true, p: 2).clamp_min(1e-12);
                    break;
                case LinearStep l:
                {
                    var d = l.Weights[0].Length;
                    var weights = tensor(l.Weights.SelectMany(r => r).ToArray(), [l.Weights.Length, d]);
                    var z = x.flatten(1).matmul(weights.t()) + tensor(l.Bias);
                    switch (l.Output)
                    {
                        case LinearOutput.Raw: return (z, z);
                        case LinearOutput.Softmax: return (z, z.softmax(1));
                        default:
                            var p = nn.functional.sigmoid(-(z * tensor(l.PlattSlope!)) - tensor(l.PlattOffset!));
                            return (z, p / p.sum(1, keepdim: true));
                    }
                }
            }
        }
        throw new MlNetTransferException("The model's head has no linear layer after its network.");
    }

    public void Dispose() => _module.Dispose();
}
