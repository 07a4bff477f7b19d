using System.Runtime.InteropServices;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Keeps libtorch's freed blocks in the process heap while training runs. glibc hands every block above its mmap threshold
/// (at most 32 MB; a batch of 32 at 112x112 needs 50-230 MB per activation) back to the kernel on free, so every step
/// page-faults its activations in again: about 2.8 million faults and a fifth of PyTorch's own step time at freeze 0 here
/// (bench/FineTuneBench/RESULTS.md). With mmap off and trimming off, a step reuses the previous step's memory.
/// Hand-written because libtorch's CPU allocator is not replaceable from TorchSharp; glibc only (elsewhere it does nothing).
/// </summary>
internal static class NativeHeap
{
    // mallopt parameters from glibc's malloc.h.
    private const int TrimThreshold = -1, MmapMax = -4;
    private const int DefaultTrimThreshold = 128 * 1024, DefaultMmapMax = 65536;

    private static readonly Lock Gate = new();
    private static int _holders;
    private static bool? _available;

    /// <summary>Whether the settings took (Linux with glibc); false elsewhere.</summary>
    public static bool IsActive { get { lock (Gate) return _holders > 0 && _available == true; } }

    /// <summary>Retains freed native memory until the last holder is disposed; then the defaults return and the heap's
    /// free tail goes back to the kernel.</summary>
    public static IDisposable Retain()
    {
        lock (Gate)
        {
            if (_holders++ == 0 && Available()) Set(mmapMax: 0, trimThreshold: int.MaxValue);
        }
        return new Holder();
    }

    private static void Release()
    {
        lock (Gate)
        {
            if (--_holders != 0 || _available != true) return;
            Set(DefaultMmapMax, DefaultTrimThreshold);
            malloc_trim(0);
        }
    }

    private static bool Available()
    {
        if (_available is { } known) return known;
        try
        {
            // glibc's mallopt returns 1 on success; musl's is a stub returning 0.
            _available = OperatingSystem.IsLinux() && mallopt(MmapMax, DefaultMmapMax) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _available = false;
        }
        return _available.Value;
    }

    private static void Set(int mmapMax, int trimThreshold)
    {
        mallopt(MmapMax, mmapMax);
        mallopt(TrimThreshold, trimThreshold);
    }

    private sealed class Holder : IDisposable
    {
        private int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) Release();
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);
}
