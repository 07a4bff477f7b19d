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
        // Ctrl-C is handled by Guard (CtrlC below), not by System.CommandLine, whose handler gives a command only
        // two seconds to wind down: too short for a fine-tuning run that finishes its batch, evaluates and saves.
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
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
        (parse, _) =>
        {
            try
            {
                using var ctrlC = new CtrlC();
                return Task.FromResult(action(parse, ctrlC.Token));
            }
            catch (Exception e)
            {
                return Task.FromResult(Fail(e));
            }
        };

    /// <summary>The first Ctrl-C cancels the token (a command stops at its next safe point; fine-tuning keeps and saves its best
    /// epoch so far); a second one ends the process at once (files are written atomically, so nothing is left half-written).</summary>
    private sealed class CtrlC : IDisposable
    {
        private readonly CancellationTokenSource _cancel = new();
        private int _presses;

        public CtrlC() => Console.CancelKeyPress += OnCancelKeyPress;

        public CancellationToken Token => _cancel.Token;

        private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
        {
            if (Interlocked.Increment(ref _presses) > 1) return;
            e.Cancel = true;
            Console.Error.WriteLine("Stopping at the next safe point (Ctrl-C again to quit at once)...");
            _cancel.Cancel();
        }

        public void Dispose()
        {
            Console.CancelKeyPress -= OnCancelKeyPress;
            _cancel.Dispose();
        }
    }

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
                // Where it came from, for bug reports: MLNET_TRANSFER_DEBUG=1.
                if (Environment.GetEnvironmentVariable("MLNET_TRANSFER_DEBUG") is "1" or "true") error.WriteLine(user.ToString());
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
                        // A stage that runs again (the next auto/experiment candidate) gets a new bar: a stopped task no longer renders.
                        if (!tasks.TryGetValue(p.Stage, out var task) || task.IsFinished)
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
        TrainingProgress.FineTuning => "Fine-tuning",
        TrainingProgress.Evaluating => "Evaluating",
        TrainingProgress.Saving => "Saving",
        TrainingProgress.Measuring => "Measuring similarity",
        TrainingProgress.Searching => "Auto search",
        TrainingProgress.Comparing => "Comparing backbones",
        TrainingProgress.Timing => "Timing",
        TrainingProgress.Reporting => "Report",
        _ => stage,
    };
}
