using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace MlNetTransfer.Data;

/// <summary>"I am shard <see cref="Index"/> of <see cref="Count"/>": which part of a data set one process of a job array
/// featurizes or predicts. A file belongs to the shard its relative path hashes to (<see cref="ShardOf"/>), so every file
/// is in exactly one shard, the assignment needs no coordination between processes, and adding files moves no other file.</summary>
public sealed record ShardSpec
{
    public ShardSpec(int index, int count)
    {
        if (count < 1) throw new MlNetTransferException($"Shard count {count}: there must be at least 1 shard.");
        if (index < 0 || index >= count)
            throw new MlNetTransferException($"Shard {index}/{count}: the index must be in 0..{count - 1} (shards are numbered from 0).");
        (Index, Count) = (index, count);
    }

    public int Index { get; }
    public int Count { get; }

    /// <summary>The whole data set as one shard.</summary>
    public static ShardSpec Whole { get; } = new(0, 1);

    public const string SlurmTaskId = "SLURM_ARRAY_TASK_ID";
    public const string SlurmTaskCount = "SLURM_ARRAY_TASK_COUNT";
    public const string SlurmTaskMin = "SLURM_ARRAY_TASK_MIN";
    public const string SlurmTaskStep = "SLURM_ARRAY_TASK_STEP";
    public const string KubernetesIndex = "JOB_COMPLETION_INDEX";

    /// <summary>The value <c>--shard</c> takes to read the shard from the scheduler's environment.</summary>
    public const string FromEnvironment = "env";

    /// <summary>Parses <c>i/n</c> (0-based index, e.g. <c>2/4</c>).</summary>
    public static ShardSpec Parse(string text)
    {
        var parts = text.Trim().Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            throw new MlNetTransferException($"Shard '{text}' is not of the form i/n (e.g. 0/4 for the first of 4 shards; indices start at 0), nor '{FromEnvironment}'.");
        return new ShardSpec(index, count);
    }

    /// <summary>The shard a command runs: <paramref name="shard"/> as <c>i/n</c>; or, when it is <c>env</c> (or only
    /// <paramref name="count"/> is given), from the scheduler: Slurm's <c>SLURM_ARRAY_TASK_ID</c> (minus
    /// <c>SLURM_ARRAY_TASK_MIN</c>, so <c>--array=1-4</c> works) of <c>SLURM_ARRAY_TASK_COUNT</c>, or Kubernetes'
    /// <c>JOB_COMPLETION_INDEX</c> of <paramref name="count"/> (an Indexed Job's completions). Neither given: the whole data set.</summary>
    public static ShardSpec Resolve(string? shard, int? count, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (count is < 1) throw new MlNetTransferException($"--shard-count {count}: there must be at least 1 shard.");
        if (shard is not null && !shard.Trim().Equals(FromEnvironment, StringComparison.OrdinalIgnoreCase))
        {
            var parsed = Parse(shard);
            if (count is { } c && c != parsed.Count)
                throw new MlNetTransferException($"--shard {shard} says {parsed.Count} shards but --shard-count says {c}; give one of them.");
            return parsed;
        }
        if (shard is null && count is null) return Whole;
        return FromScheduler(count, environment);
    }

    private static ShardSpec FromScheduler(int? count, Func<string, string?> environment)
    {
        if (environment(SlurmTaskId) is { } slurmId)
        {
            var id = Integer(SlurmTaskId, slurmId);
            var min = environment(SlurmTaskMin) is { } m ? Integer(SlurmTaskMin, m) : 0;
            if (environment(SlurmTaskStep) is { } step && Integer(SlurmTaskStep, step) != 1)
                throw new MlNetTransferException($"{SlurmTaskStep}={step}: a sharded job array must be contiguous (e.g. --array=0-3), so task ids map to shards 0..n-1.");
            var slurmCount = count ?? (environment(SlurmTaskCount) is { } n ? Integer(SlurmTaskCount, n)
                : throw new MlNetTransferException($"{SlurmTaskId} is set but {SlurmTaskCount} is not; give --shard-count."));
            if (id - min >= slurmCount)
                throw new MlNetTransferException($"Slurm array task {id} (array starting at {min}) is beyond {slurmCount} shards; submit --array={min}-{min + slurmCount - 1} or fix --shard-count.");
            return new ShardSpec(id - min, slurmCount);
        }
        if (environment(KubernetesIndex) is { } k8sIndex)
        {
            var k8sCount = count ?? throw new MlNetTransferException(
                $"{KubernetesIndex}={k8sIndex} is set (a Kubernetes Indexed Job) but the number of shards is not: give --shard-count with the Job's completions.");
            var index = Integer(KubernetesIndex, k8sIndex);
            if (index >= k8sCount)
                throw new MlNetTransferException($"{KubernetesIndex}={index} is beyond --shard-count {k8sCount}; set --shard-count to the Job's completions.");
            return new ShardSpec(index, k8sCount);
        }
        throw new MlNetTransferException(
            $"--shard {FromEnvironment}: neither {SlurmTaskId} (a Slurm job array) nor {KubernetesIndex} (a Kubernetes Indexed Job) is set; give --shard i/n.");
    }

    private static int Integer(string name, string value) =>
        int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new MlNetTransferException($"{name}='{value}' is not a non-negative whole number.");

    /// <summary>The shard a file belongs to: the first 8 bytes of SHA-256 over its path relative to the data root
    /// ('/' separators, UTF-8), modulo the shard count. Stable across machines, runtimes and processes.</summary>
    public static int ShardOf(string relativePath, int count)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(Normalize(relativePath)));
        return (int)(BinaryPrimitives.ReadUInt64LittleEndian(hash) % (ulong)count);
    }

    /// <summary>Whether this shard owns the file at <paramref name="relativePath"/>.</summary>
    public bool Owns(string relativePath) => Count == 1 || ShardOf(relativePath, Count) == Index;

    /// <summary>A path relative to the data root with '/' separators: the form shards store and hash.</summary>
    public static string Normalize(string relativePath) =>
        Path.DirectorySeparatorChar == '/' ? relativePath : relativePath.Replace(Path.DirectorySeparatorChar, '/');

    public override string ToString() => $"{Index}/{Count}";
}
