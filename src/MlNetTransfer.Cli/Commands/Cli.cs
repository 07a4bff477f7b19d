using System.CommandLine;
using MlNetTransfer;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary>Shared plumbing: run a command, turn user errors into one red line and exit code 1.</summary>
internal static class Cli
{
    public const int UserError = 1;
    public const int Interrupted = 130;

    public static int Run(RootCommand root, string[] args)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>Wraps an action so a user-fixable problem prints its message (no stack trace) and a bug prints everything.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Guard(Func<ParseResult, CancellationToken, int> action) =>
        (parse, cancel) =>
        {
            try
            {
                return Task.FromResult(action(parse, cancel));
            }
            catch (Exception e)
            {
                return Task.FromResult(Fail(e));
            }
        };

    private static int Fail(Exception e)
    {
        var error = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        switch (e)
        {
            case OperationCanceledException:
                error.MarkupLine("[yellow]Interrupted; nothing was written.[/]");
                return Interrupted;
            case MlNetTransferException user:
                error.MarkupLine($"[red]error:[/] {Markup.Escape(user.Message)}");
                return UserError;
            default:
                error.MarkupLine($"[red]internal error:[/] {Markup.Escape(e.GetType().Name)}: {Markup.Escape(e.Message)}");
                error.WriteLine(e.ToString());
                return 70;
        }
    }

    /// <summary>Runs <paramref name="work"/> under a live progress display, one bar per stage.</summary>
    public static T WithProgress<T>(Func<IProgress<TrainingProgress>, T> work)
    {
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var gate = new object();
                var progress = new InlineProgress<TrainingProgress>(p =>
                {
                    lock (gate)
                    {
                        foreach (var (stage, other) in tasks)
                            if (stage != p.Stage && !other.IsFinished) other.StopTask();
                        if (!tasks.TryGetValue(p.Stage, out var task))
                            tasks[p.Stage] = task = ctx.AddTask(Markup.Escape(StageName(p)), maxValue: Math.Max(1, p.Total));
                        if (p.Total > 0) task.MaxValue = p.Total;
                        task.Value = p.Total > 0 ? p.Done : task.Value;
                        if (p.Message is { } m) task.Description = Markup.Escape($"{StageTitle(p.Stage)}: {m}");
                        if (p.Total > 0 && p.Done >= p.Total) task.StopTask();
                    }
                });
                result = work(progress);
                lock (gate)
                    foreach (var t in tasks.Values)
                    {
                        t.Value = t.MaxValue;
                        t.StopTask();
                    }
            });
        return result;
    }

    private static string StageName(TrainingProgress p) => p.Message is { } m ? $"{StageTitle(p.Stage)}: {m}" : StageTitle(p.Stage);

    private static string StageTitle(string stage) => stage switch
    {
        TrainingProgress.Loading => "Checking images",
        TrainingProgress.Preparing => "Backbone",
        TrainingProgress.Featurizing => "Featurizing",
        TrainingProgress.Training => "Training head",
        TrainingProgress.Evaluating => "Evaluating",
        TrainingProgress.Saving => "Saving",
        _ => stage,
    };
}
