using System.CommandLine;
using MlNetTransfer.Backbones.Onnx;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

internal static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("PATH") { Description = "An ONNX model file." };
        var command = new Command("inspect", "Show an ONNX model's inputs, outputs, size and the candidate embedding tensors to cut it at (best first).")
        {
            path,
        };
        command.SetAction(Cli.Guard((parse, _) =>
        {
            var file = parse.GetValue(path)!;
            var info = OnnxInspector.Inspect(file);
            Print(file, info);
            return 0;
        }));
        return command;
    }

    private static void Print(string file, OnnxModelInfo info)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(file)}[/]");
        AnsiConsole.Write(new Text(info.ToString()));
        AnsiConsole.WriteLine();
    }
}
