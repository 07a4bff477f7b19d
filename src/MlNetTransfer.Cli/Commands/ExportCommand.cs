using System.CommandLine;
using MlNetTransfer.Export;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

internal static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "A model zip saved by 'train' (any strategy) or by predict --save-model.", Required = true };
        var onnx = new Option<string>("--onnx") { Description = "The ONNX file to write (replaced atomically).", Required = true };
        var command = new Command("export",
            "Write a model zip as one standalone ONNX file: the zip's normalisation, backbone and head, ending in class probabilities " +
            "('Score') and the top class name ('PredictedLabel'); class names in its metadata ('classes'). Input 'pixels': float32 " +
            "[N, 3, H, W], R, G, B planes of 0..255 values, each image resized to the backbone's W x H by the caller as the zip does " +
            "(keep the aspect ratio, cover, centre-crop); the exact description is printed and stored in the file's doc string. " +
            "Runs in any ONNX Runtime (Python, JavaScript, C++, mobile).")
        {
            model, onnx,
        };
        command.SetAction(Cli.Guard((parse, _) =>
        {
            var summary = ModelExport.ExportOnnx(parse.GetValue(model)!, parse.GetValue(onnx)!);
            AnsiConsole.MarkupLine($"ONNX: [green]{Markup.Escape(summary.Path)}[/] ({summary.Bytes / 1024.0 / 1024.0:0.0} MB)");
            AnsiConsole.MarkupLine("Input " + Markup.Escape(summary.InputDescription()));
            AnsiConsole.MarkupLine(Markup.Escape($"Outputs: '{ModelExport.ScoreOutput}' float32 [N, {summary.Classes.Count}] ({summary.Head}); " +
                                                 $"'{ModelExport.LabelOutput}' string [N]"));
            AnsiConsole.MarkupLine($"Classes: {Markup.Escape(string.Join(", ", summary.Classes))}");
            return 0;
        }));
        return command;
    }
}
