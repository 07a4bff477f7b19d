using System.CommandLine;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary>The <c>--shard</c> and <c>--shard-count</c> options shared by the shardable commands (featurize, predict).</summary>
internal sealed class ShardOptions
{
    public Option<string?> Shard { get; } = new("--shard")
    {
        Description = "Which part of the data this process handles: i/n (0-based, e.g. 2/4), or 'env' to read it from the scheduler: " +
                      "SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT (a Slurm job array, --array=0-3), or JOB_COMPLETION_INDEX of --shard-count (a Kubernetes Indexed Job). " +
                      "A file's shard is a hash of its relative path, so every file is in exactly one shard. Default: everything, one shard.",
    };

    public Option<int?> Count { get; } = new("--shard-count")
    {
        Description = "Number of shards; with JOB_COMPLETION_INDEX (Kubernetes) it is required (the Job's completions), and alone it implies --shard env.",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Shard);
        command.Options.Add(Count);
    }

    public bool Given(ParseResult parse) => parse.GetValue(Shard) is not null || parse.GetValue(Count) is not null;

    public ShardSpec Resolve(ParseResult parse) => ShardSpec.Resolve(parse.GetValue(Shard), parse.GetValue(Count));

    /// <summary>One line saying what the shard run did, and the files it skipped.</summary>
    public static void Print(ShardRunResult result, string what)
    {
        var m = result.Marker;
        if (result.AlreadyComplete)
            AnsiConsole.MarkupLine($"Shard {m.Shard}/{m.ShardCount}: [green]already complete[/] ({m.Rows} {what}, {Markup.Escape(result.ParquetPath)}); nothing to do.");
        else
        {
            if (result.Redone is { } why) AnsiConsole.MarkupLine($"[yellow]redone[/]: {Markup.Escape(why)}");
            foreach (var s in m.Skipped) AnsiConsole.MarkupLine($"[yellow]skipped[/] {Markup.Escape(s.Path)}: {Markup.Escape(s.Reason)}");
            var rate = m.Seconds > 0 ? m.Rows / m.Seconds : 0;
            AnsiConsole.MarkupLine($"Shard {m.Shard}/{m.ShardCount}: {m.Rows} {what} ({m.FilesInShard} of the {m.ListedFiles} files listed; {m.Skipped.Count} skipped) in {m.Seconds:0.0} s ({rate:0.0}/s)");
            AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(result.ParquetPath)}[/]");
        }
    }
}
