using System.CommandLine;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary>The zero-setup run: a generated dataset and a generated backbone, so the whole path works with nothing downloaded.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out", "-o") { Description = "Folder for the generated images, the model and the report.", DefaultValueFactory = _ => "out/demo" };
        var perClass = new Option<int>("--images-per-class") { Description = "Generated images per class.", DefaultValueFactory = _ => 40 };
        var command = new Command("demo",
            "Run the whole pipeline on built-in stand-ins: a generated 3-class shapes dataset (SYNTHETIC, not real photos) and a generated CNN " +
            "backbone (RANDOM weights, not pretrained). Shows every stage working with nothing to download; real accuracy needs a pretrained backbone.")
        {
            output, perClass,
        };
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            var dir = parse.GetValue(output)!;
            var dataDir = Path.Combine(dir, "synthetic-shapes");
            AnsiConsole.MarkupLine($"[yellow]Demo on generated data ({Markup.Escape(dataDir)}) with the generated '{BackboneResolver.SyntheticName}' backbone (random weights).[/]");
            SyntheticImageDataset.Write(dataDir, imagesPerClass: parse.GetValue(perClass));
            var options = new TransferLearningOptions { DataPath = dataDir, Backbone = BackboneResolver.SyntheticName };
            return TrainCommand.Train(options, Path.Combine(dir, "model.zip"), Path.Combine(dir, "report.json"), cancel,
                result => Cli.WithProgress(progress => result.Mistakes(progress: progress, cancel: cancel)));
        }));
        return command;
    }
}
