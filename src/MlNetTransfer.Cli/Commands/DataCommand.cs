using System.CommandLine;
using MlNetTransfer.Data;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary><c>mlnet-transfer data ...</c>: make image-folder data sets to train on.</summary>
internal static class DataCommand
{
    public static Command Create() => new("data", "Make ready-to-train image folders from known data sets.")
    {
        FashionMnist(),
        Synthetic(),
    };

    private static Command FashionMnist()
    {
        var defaults = new FashionMnistExportOptions();
        var output = new Option<string>("--out", "-o") { Description = "New folder to write train/ val/ test/ into.", Required = true };
        var source = new Option<string>("--source") { Description = "Folder holding the four IDX .gz files (Debian: apt-get install dataset-fashion-mnist).", DefaultValueFactory = _ => defaults.SourceDirectory };
        var train = new Option<int>("--train-per-class") { Description = "Training images per class.", DefaultValueFactory = _ => defaults.TrainPerClass };
        var val = new Option<int>("--val-per-class") { Description = "Validation images per class (disjoint from training).", DefaultValueFactory = _ => defaults.ValidationPerClass };
        var test = new Option<int>("--test-per-class") { Description = "Test images per class, from the official test set (0: no test/).", DefaultValueFactory = _ => defaults.TestPerClass };
        var classes = new Option<string>("--classes") { Description = "Class indices, e.g. 0-9, 0-4 or 1,3,5 (0 t-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot).", DefaultValueFactory = _ => "0-9" };
        var seed = new Option<int>("--seed") { Description = "Seed of the pick: same seed, same files.", DefaultValueFactory = _ => defaults.Seed };
        var command = new Command("fashion-mnist", "Write a reproducible Fashion-MNIST subset as 28×28 PNG folders: a domain far from ImageNet photos.")
        {
            output, source, train, val, test, classes, seed,
        };
        command.SetAction(Cli.Guard((parse, _) =>
        {
            var dir = FashionMnistExporter.Export(parse.GetValue(output)!, new FashionMnistExportOptions
            {
                SourceDirectory = parse.GetValue(source)!,
                TrainPerClass = parse.GetValue(train),
                ValidationPerClass = parse.GetValue(val),
                TestPerClass = parse.GetValue(test),
                Classes = ParseClasses(parse.GetValue(classes)!),
                Seed = parse.GetValue(seed),
            });
            AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(dir)}[/]");
            return 0;
        }));
        return command;
    }

    private static Command Synthetic()
    {
        var output = new Option<string>("--out", "-o") { Description = "New folder for the class folders.", Required = true };
        var perClass = new Option<int>("--images-per-class") { Description = "Images per class.", DefaultValueFactory = _ => 40 };
        var size = new Option<int>("--size") { Description = "Image side in pixels.", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "Generator seed.", DefaultValueFactory = _ => 1 };
        var command = new Command("synthetic", "Write a generated 3-class shapes data set (SYNTHETIC images, for trying the tool without data).")
        {
            output, perClass, size, seed,
        };
        command.SetAction(Cli.Guard((parse, _) =>
        {
            var dir = SyntheticImageDataset.Write(parse.GetValue(output)!, parse.GetValue(perClass), parse.GetValue(size), parse.GetValue(seed));
            AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(dir)}[/]");
            return 0;
        }));
        return command;
    }

    internal static int[] ParseClasses(string text)
    {
        var result = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var range = part.Split('-');
            if (range.Length == 1 && int.TryParse(range[0], out var one)) result.Add(one);
            else if (range.Length == 2 && int.TryParse(range[0], out var a) && int.TryParse(range[1], out var b) && a <= b)
                for (int c = a; c <= b; c++) result.Add(c);
            else throw new MlNetTransferException($"--classes '{text}': '{part}' is not a class index or a range like 0-4.");
        }
        return result.ToArray();
    }
}
