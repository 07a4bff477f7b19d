using System.Runtime.InteropServices;
using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The heap settings are process-wide, so these run alone: a fine-tuning test beside them would hold them too.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessHeapCollection
{
    public const string Name = "process heap";
}

[Collection(ProcessHeapCollection.Name)]
public class NativeHeapTests
{
    // Above glibc's largest mmap threshold (32 MB) and below a thread arena's heap size (64 MB): the size of one activation.
    private const int BlockBytes = 40 << 20;
    private const int Pages = BlockBytes / 4096;

    [Fact]
    public void A_freed_block_is_reused_without_page_faults_while_retained_and_returned_to_the_kernel_after()
    {
        Assert.True(OperatingSystem.IsLinux(), "the suite runs on Linux with glibc");
        var zeros = new byte[BlockBytes];

        using (NativeHeap.Retain())
        {
            Assert.True(NativeHeap.IsActive);
            AllocateTouchFree(zeros); // the first touch faults the pages in
            // The best of three: a thread sharing this arena (a finalizer, a runtime worker) may take the freed block once in
            // between, and this thread then faults a new one in; without retention every try faults all its pages.
            var again = Enumerable.Range(0, 3).Select(_ => AllocateTouchFree(zeros)).Min();
            Assert.True(again < Pages / 10, $"{again} page faults touching a reused 40 MB block (of {Pages} pages)");
        }

        Assert.False(NativeHeap.IsActive);
        AllocateTouchFree(zeros);
        var released = AllocateTouchFree(zeros);
        Assert.True(released > Pages / 2, $"only {released} page faults: the block was not given back ({Pages} pages)");
    }

    [Fact]
    public void Holders_nest_and_a_second_dispose_does_not_release_anothers_hold()
    {
        var outer = NativeHeap.Retain();
        var inner = NativeHeap.Retain();
        inner.Dispose();
        inner.Dispose();
        Assert.True(NativeHeap.IsActive);
        outer.Dispose();
        Assert.False(NativeHeap.IsActive);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Fine_tuning_holds_the_heap_while_it_trains_when_asked_and_lets_it_go(bool retain)
    {
        using var data = new FineTuneFixture();
        var options = FineTuneFixture.Options(epochs: 1);
        options.RetainNativeMemory = retain;
        using var module = FineTuningTrainer.CreateModule(FineTuneFixture.Prepared(), 3, options);
        var seen = new List<bool>();
        new FineTuner(options).Train(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation,
            new InlineProgress<FineTuneProgress>(_ => seen.Add(NativeHeap.IsActive)));
        Assert.NotEmpty(seen);
        Assert.All(seen, active => Assert.Equal(retain, active));
        Assert.False(NativeHeap.IsActive);
    }

    /// <summary>Minor page faults of this thread while it mallocs a block, writes every page and frees it.</summary>
    private static long AllocateTouchFree(byte[] zeros)
    {
        var before = ThreadMinorFaults();
        var block = Marshal.AllocHGlobal(BlockBytes); // malloc on Unix
        try
        {
            Marshal.Copy(zeros, 0, block, BlockBytes);
        }
        finally
        {
            Marshal.FreeHGlobal(block);
        }
        return ThreadMinorFaults() - before;
    }

    // Field 10 of /proc/thread-self/stat (after the parenthesised command name, which may hold spaces).
    private static long ThreadMinorFaults()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
    }
}
