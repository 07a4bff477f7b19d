using TorchSharp;

namespace MlNetTransfer.FineTuning;

/// <summary>Turns the device setting ("cpu", "cuda", "cuda:1") into a TorchSharp device, checking the installed libtorch can use it.</summary>
public static class TorchDevices
{
    /// <summary>The default device: the CPU, which every libtorch package supports.</summary>
    public const string Cpu = "cpu";

    public static torch.Device Resolve(string? device)
    {
        var name = string.IsNullOrWhiteSpace(device) ? Cpu : device.Trim().ToLowerInvariant();
        if (name == Cpu) return torch.CPU;
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new MlNetTransferException(
                    $"Device '{device}': this build's libtorch has no usable CUDA (it references libtorch-cpu, or no GPU/driver is present). " +
                    "Use device 'cpu', or reference a libtorch-cuda package instead of libtorch-cpu and run on a machine with an NVIDIA GPU.");
            if (name == "cuda") return torch.CUDA;
            if (!int.TryParse(name.AsSpan(5), out var index) || index < 0 || index >= torch.cuda.device_count())
                throw new MlNetTransferException($"Device '{device}': no such CUDA device (this machine has {torch.cuda.device_count()}).");
            return new torch.Device(DeviceType.CUDA, index);
        }
        throw new MlNetTransferException($"Device '{device}' is not known; use 'cpu', 'cuda' or 'cuda:<index>'.");
    }
}
