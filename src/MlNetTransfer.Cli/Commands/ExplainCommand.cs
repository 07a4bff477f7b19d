using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary><c>mlnet-transfer explain</c>: one image's Grad-CAM heat map as a PNG.</summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "A model zip saved by 'train' (any strategy with a linear head: not --trainer lightgbm).", Required = true };
        var input = new Option<string>("--input", "-i") { Description = "The image to explain (JPEG, PNG, BMP, GIF or WebP).", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The PNG to write (replaced atomically; nothing is written on an error).", Required = true };
        var className = new Option<string?>("--class") { Description = "Explain this class instead of the predicted one (one of the model's class names)." };
        var maxSide = new Option<int?>("--max-side")
        {
            Description = "Scale the PNG down so its longer side is at most this many pixels (never up). Default: the input image's own size.",
        };
        var command = new Command("explain",
            "Show where in an image the evidence for a class lies: Grad-CAM (Selvaraju et al. 2017) through the model's network — the activations of its " +
            "last layer with a spatial grid, each channel weighted by the spatial mean of the class score's gradient, summed, ReLU'd and scaled to 0..1 — " +
            "drawn over the image (blue: none, red: strongest) where the network looked at it (the part its resize kept). Prints the predicted class and " +
            "its confidence. Needs the fine-tuning engine (TorchSharp), which the CLI ships with.")
        {
            model, input, output, className, maxSide,
        };
        command.SetAction(Cli.Guard((parse, _) =>
        {
            var max = parse.GetValue(maxSide);
            if (max is < 1) throw new MlNetTransferException($"--max-side {max}: give a positive number of pixels.");
            using var classifier = ImageClassifier.Load(parse.GetValue(model)!);
            var map = classifier.Explain(parse.GetValue(input)!, parse.GetValue(className));
            var path = Path.GetFullPath(parse.GetValue(output)!);
            map.SavePng(path, max);
            var p = map.Prediction;
            AnsiConsole.MarkupLine($"Predicted: [bold]{Markup.Escape(p.Label)}[/] ({Percent(p.Confidence)})");
            if (map.Class != p.Label)
                AnsiConsole.MarkupLine($"Explained: [bold]{Markup.Escape(map.Class)}[/] ({Percent(map.ClassProbability)})");
            var view = (map.ViewWidth, map.ViewHeight) == (map.InputWidth, map.InputHeight) ? "" : $"the centre {map.ViewWidth}x{map.ViewHeight} of ";
            AnsiConsole.MarkupLine(Markup.Escape($"Grad-CAM of '{map.Layer}' ({map.GridWidth}x{map.GridHeight} grid over {view}the {map.InputWidth}x{map.InputHeight} input)"));
            AnsiConsole.MarkupLine($"Heat map: [green]{Markup.Escape(path)}[/]");
            return 0;
        }));
        return command;
    }

    private static string Percent(float p) => (p * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";
}
