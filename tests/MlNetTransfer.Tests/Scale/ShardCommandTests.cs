using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Scale;

/// <summary>The commands as a job array runs them: one process per task, the shard from the scheduler's environment.</summary>
public sealed class ShardCommandTests(ShardFixture fixture) : IClassFixture<ShardFixture>
{
    // The console wraps long messages at its width: compare words, not lines.
    private static string Words(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public void SlurmArrayTasksFeaturizeAndTrainGathersTheirShards()
    {
        using var dir = new TempDirectory();
        var shards = dir.Combine("shards");
        for (var task = 1; task <= 2; task++)
        {
            // --array=1-2: Slurm numbers the tasks from 1 here.
            var env = new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = $"{task}", ["SLURM_ARRAY_TASK_COUNT"] = "2", ["SLURM_ARRAY_TASK_MIN"] = "1" };
            var run = CliRunner.Run(dir.Path, env, "featurize", "--data", fixture.DataDir, "--backbone", BackboneResolver.SyntheticName, "--out", shards, "--shard", "env", "--threads", "2");
            Assert.True(run.ExitCode == 0, run.All);
            Assert.Contains($"Shard {task - 1}/2:", run.StdOut);
        }
        Assert.Equal(60, Directory.GetFiles(shards, "*.parquet").Sum(f => GatheredEmbeddings.ReadRows(f).Count));

        var again = CliRunner.Run(dir.Path, "featurize", "--data", fixture.DataDir, "--backbone", BackboneResolver.SyntheticName, "--out", shards, "--shard", "0/2");
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains("already complete", again.StdOut);

        var train = CliRunner.Run(dir.Path, "train", "--embeddings", shards, "--trainer", "lbfgs", "--out", dir.Combine("model", "model.zip"));
        Assert.True(train.ExitCode == 0, train.All);
        Assert.Equal(BackboneResolver.SyntheticName, ModelMetadata.Read(dir.Combine("model", "model.zip"))!.Backbone);

        File.Delete(Path.Combine(shards, "embeddings-00001-of-00002.json"));
        var incomplete = CliRunner.Run(dir.Path, "train", "--embeddings", shards, "--out", dir.Combine("m2", "model.zip"));
        Assert.Equal(1, incomplete.ExitCode);
        Assert.Contains("embeddings-00001-of-00002.parquet has no completion marker", Words(incomplete.StdErr));
        Assert.False(File.Exists(dir.Combine("m2", "model.zip")));
    }

    [Fact]
    public void BadShardArgumentsAreUserErrors()
    {
        using var dir = new TempDirectory();
        var bad = CliRunner.Run(dir.Path, "featurize", "--data", fixture.DataDir, "--out", dir.Combine("o"), "--shard", "3/3");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("index must be in 0..2", Words(bad.StdErr));
        var noScheduler = CliRunner.Run(dir.Path, "featurize", "--data", fixture.DataDir, "--out", dir.Combine("o"), "--shard", "env");
        Assert.Equal(1, noScheduler.ExitCode);
        Assert.Contains("JOB_COMPLETION_INDEX", Words(noScheduler.StdErr));
        var both = CliRunner.Run(dir.Path, "train", "--data", fixture.DataDir, "--embeddings", dir.Path);
        Assert.NotEqual(0, both.ExitCode);
        Assert.Contains("exactly one of --data", Words(both.All));
        Assert.False(Directory.Exists(dir.Combine("o")));
    }
}
