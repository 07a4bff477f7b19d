using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Whether libtorch's channels-last kernels compute, on this machine, what its NCHW ones compute. Channels-last order is
/// only a memory layout, so the values must not change; but on one machine here (AMD EPYC with AVX-512, libtorch 2.10)
/// MobileNetV2 in channels-last order gave each image different logits alone than in a batch (up to 0.86 apart after
/// fine-tuning; 16 of hds_shapes' 240 validation images changed class), and ONNX's depthwise-convolution-with-multiplier
/// conformance case failed outright. A network trained on such kernels learns their error, and the saved model, which
/// ONNX Runtime runs correctly, then scores several points under what training measured (0.929 against 0.892 there). So
/// the fine-tuning module is checked before it trains: the same two images alone and as one batch must give the same
/// outputs; where they do not, it keeps NCHW order (slower where libtorch runs most of the network, right values) and the report says why.
/// </summary>
internal static class ChannelsLastCheck
{
    /// <summary>Largest difference allowed, relative to the largest output (float rounding differs between kernels; an
    /// order-of-magnitude larger difference is a different computation).</summary>
    public const float Tolerance = 1e-3f;

    /// <summary>Why <paramref name="forward"/> (a network in eval mode, pixels 0..255 [N, 3, H, W] in) cannot be trusted in
    /// channels-last order: its outputs for two random images alone differ from theirs as one batch; null when they agree.</summary>
    public static string? Failure(Func<Tensor, Tensor> forward, int height, int width, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(forward);
        // No dispose scope: a module may keep tensors its first forward creates, and a scope would free them under it.
        using var noGrad = no_grad();
        using var generator = new Generator((ulong)seed);
        using var a = rand([1, 3, height, width], generator: generator).mul_(255);
        using var b = rand([1, 3, height, width], generator: generator).mul_(255);
        using var ab = cat([a, b], 0);
        using var ya = forward(a);
        using var yb = forward(b);
        using var batched = forward(ab);
        using var alone = cat([ya, yb], 0);
        using var delta = batched.sub(alone).abs_();
        using var largestDelta = delta.max();
        using var magnitude = alone.abs();
        using var largest = magnitude.max();
        var difference = largestDelta.item<float>();
        var scale = largest.item<float>();
        if (difference <= Tolerance * (1 + scale)) return null;
        return string.Create(CultureInfo.InvariantCulture,
            $"libtorch's channels-last kernels gave two images other outputs in one batch than alone on this machine (largest difference {difference:G3}, outputs up to {scale:G3}), so this run keeps NCHW order (slower where libtorch runs most of the network), and what training measures is what the saved model computes. Where oneDNN's AVX-512 kernels are at fault, ONEDNN_MAX_CPU_ISA=AVX2 in the environment before the app starts keeps channels-last order and right values");
    }
}
