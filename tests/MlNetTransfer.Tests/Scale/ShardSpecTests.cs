using MlNetTransfer.Data;

namespace MlNetTransfer.Tests.Scale;

public sealed class ShardSpecTests
{
    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Theory]
    [InlineData("0/1", 0, 1)]
    [InlineData("2/4", 2, 4)]
    [InlineData(" 3/4 ", 3, 4)]
    public void ParsesIndexOfCount(string text, int index, int count)
    {
        var shard = ShardSpec.Parse(text);
        Assert.Equal((index, count), (shard.Index, shard.Count));
        Assert.Equal($"{index}/{count}", shard.ToString());
    }

    [Theory]
    [InlineData("4/4", "index must be in 0..3")]
    [InlineData("1/0", "at least 1 shard")]
    [InlineData("-1/4", "not of the form i/n")]
    [InlineData("2", "not of the form i/n")]
    [InlineData("a/b", "not of the form i/n")]
    [InlineData("1/2/3", "not of the form i/n")]
    public void RejectsBadSpecsSayingWhy(string text, string message)
    {
        var e = Assert.Throws<MlNetTransferException>(() => ShardSpec.Parse(text));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void NothingGivenIsTheWholeDataSet() => Assert.Equal(ShardSpec.Whole, ShardSpec.Resolve(null, null, Env()));

    [Fact]
    public void SlurmArrayTaskIsTheShardCountingFromTheArraysFirstId()
    {
        Assert.Equal(new ShardSpec(2, 4), ShardSpec.Resolve("env", null, Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "0"))));
        // --array=1-4: task 1 is shard 0.
        Assert.Equal(new ShardSpec(0, 4), ShardSpec.Resolve("env", null, Env(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1"))));
        var stepped = Assert.Throws<MlNetTransferException>(() => ShardSpec.Resolve("env", null,
            Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3"), ("SLURM_ARRAY_TASK_STEP", "2"))));
        Assert.Contains("contiguous", stepped.Message);
    }

    [Fact]
    public void KubernetesIndexNeedsTheCount()
    {
        Assert.Equal(new ShardSpec(5, 8), ShardSpec.Resolve(null, 8, Env(("JOB_COMPLETION_INDEX", "5"))));
        Assert.Equal(new ShardSpec(5, 8), ShardSpec.Resolve("env", 8, Env(("JOB_COMPLETION_INDEX", "5"))));
        var noCount = Assert.Throws<MlNetTransferException>(() => ShardSpec.Resolve("env", null, Env(("JOB_COMPLETION_INDEX", "5"))));
        Assert.Contains("--shard-count", noCount.Message);
        var beyond = Assert.Throws<MlNetTransferException>(() => ShardSpec.Resolve("env", 4, Env(("JOB_COMPLETION_INDEX", "5"))));
        Assert.Contains("beyond --shard-count 4", beyond.Message);
    }

    [Fact]
    public void EnvWithoutASchedulerAndConflictingCountsAreErrors()
    {
        var none = Assert.Throws<MlNetTransferException>(() => ShardSpec.Resolve("env", null, Env()));
        Assert.Contains("SLURM_ARRAY_TASK_ID", none.Message);
        Assert.Contains("JOB_COMPLETION_INDEX", none.Message);
        var conflict = Assert.Throws<MlNetTransferException>(() => ShardSpec.Resolve("1/4", 3, Env()));
        Assert.Contains("--shard-count says 3", conflict.Message);
        Assert.Throws<MlNetTransferException>(() => ShardSpec.Resolve("env", null, Env(("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "2"))));
    }

    [Fact]
    public void EveryPathIsInExactlyOneShardAndTheShardsAreBalanced()
    {
        var paths = Enumerable.Range(0, 4000).Select(i => $"class{i % 7}/img_{i:D5}.jpg").ToList();
        var shards = Enumerable.Range(0, 5).Select(i => new ShardSpec(i, 5)).ToList();
        foreach (var path in paths) Assert.Single(shards, s => s.Owns(path));
        var sizes = shards.Select(s => paths.Count(s.Owns)).ToList();
        Assert.All(sizes, n => Assert.InRange(n, 700, 900));
    }

    [Fact]
    public void TheAssignmentIsAFixedFunctionOfThePath()
    {
        // SHA-256 is the same on every machine and runtime; these values pin the documented rule (first 8 bytes, little-endian, mod n).
        var hash = System.Security.Cryptography.SHA256.HashData("ants/0013035.jpg"u8.ToArray());
        var expected = (int)(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(hash) % 7);
        Assert.Equal(expected, ShardSpec.ShardOf("ants/0013035.jpg", 7));
        Assert.Equal(ShardSpec.ShardOf("ants/0013035.jpg", 7), ShardSpec.ShardOf("ants/0013035.jpg", 7));
        Assert.True(new ShardSpec(0, 1).Owns("anything"));
    }
}
