using System.CommandLine;
using System.Globalization;
using MlNetTransfer.Backbones.Catalog;
using Spectre.Console;

namespace MlNetTransfer.Cli.Commands;

/// <summary><c>mlnet-transfer backbones list | install NAME | import PATH | info NAME | compare</c>.</summary>
public static class BackbonesCommand
{
    /// <summary>The <c>backbones</c> command writing to the terminal (errors in red on stderr).</summary>
    public static Command Create() =>
        Create(AnsiConsole.Console, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }));

    /// <summary>The <c>backbones</c> command writing results to <paramref name="output"/> and errors to <paramref name="errors"/>.</summary>
    public static Command Create(IAnsiConsole output, IAnsiConsole errors)
    {
        var command = new Command("backbones", "List, install, import, inspect and compare the pretrained networks used as feature extractors.");
        command.Subcommands.Add(CreateList(output, errors));
        command.Subcommands.Add(CreateInstall(output, errors));
        command.Subcommands.Add(CreateImport(output, errors));
        command.Subcommands.Add(CreateInfo(output, errors));
        command.Subcommands.Add(BackbonesCompareCommand.Create());
        return command;
    }

    private static Command CreateList(IAnsiConsole output, IAnsiConsole errors)
    {
        var command = new Command("list", "Show the catalog's backbones and which are installed.");
        var common = CommonOptions.AddTo(command, withMirrors: false);
        command.SetAction(parse => Run(errors, () =>
        {
            var (catalog, installer) = common.Open(parse, output);
            // A borderless grid: on an 80-column console (output redirected) only the source domain needs to wrap.
            var grid = new Grid();
            for (var i = 0; i < 6; i++) grid.AddColumn(new GridColumn { NoWrap = i < 5, Padding = new Padding(0, 0, 2, 0) });
            grid.AddRow("[bold]Name[/]", "[bold]Format[/]", "[bold]Size[/]", "[bold]Params[/]", "[bold]Installed[/]", "[bold]Source domain[/]");
            foreach (var e in catalog.All)
            {
                var status = installer.GetStatus(e) switch
                {
                    BackboneStatus.Installed => "[green]yes[/]",
                    BackboneStatus.Damaged => "[red]damaged[/]",
                    _ => "no",
                };
                var name = e.Name == catalog.DefaultName ? $"{Markup.Escape(e.Name)} [grey](default)[/]" : Markup.Escape(e.Name);
                grid.AddRow(name, Markup.Escape(e.Format), Bytes(e.TotalSize), Count(e.Parameters), status, Markup.Escape(e.SourceDomain));
            }
            foreach (var imported in installer.ListImported())
                grid.AddRow(Markup.Escape(imported.Name), Markup.Escape(imported.Entry.Format), Bytes(imported.Entry.TotalSize), "", "[green]imported[/]", "[grey]your own model[/]");
            output.Write(grid);
            WriteLine(output, $"Cache: {installer.Options.CacheDirectory}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command CreateInstall(IAnsiConsole output, IAnsiConsole errors)
    {
        var command = new Command("install", "Install a backbone into the cache and verify every file's SHA-256.");
        var name = new Argument<string>("NAME") { Description = "Catalog name, e.g. mobilenet_v2 (see `backbones list`)." };
        command.Arguments.Add(name);
        var common = CommonOptions.AddTo(command, withMirrors: true);
        command.SetAction((parse, ct) => Run(errors, async () =>
        {
            var (catalog, installer) = common.Open(parse, output);
            var backbone = parse.GetValue(name)!;
            var entry = catalog.TryFind(backbone);
            var installed = await WithProgressAsync(output, installer, entry, () => installer.InstallAsync(backbone, ct));
            WriteLine(output, $"Installed {installed.Name} in {installed.Directory}");
            WriteLine(output, $"  model:  {installed.MainPath}");
            if (installed.LabelsPath is not null) WriteLine(output, $"  labels: {installed.LabelsPath}");
            return 0;
        }));
        return command;
    }

    private static Command CreateImport(IAnsiConsole output, IAnsiConsole errors)
    {
        var command = new Command("import", "Copy a model file or folder into the cache (verified against the catalog when NAME is a catalog backbone).");
        var path = new Argument<string>("PATH") { Description = "An .onnx file, a TensorFlow.js model folder, a folder with a catalog backbone's files, or an npm .tgz." };
        var nameOption = new Option<string>("--name")
        {
            Description = "Catalog name the files must match, or the name to store your own model under (default: the file name).",
        };
        command.Arguments.Add(path);
        command.Options.Add(nameOption);
        var common = CommonOptions.AddTo(command, withMirrors: false);
        command.SetAction((parse, ct) => Run(errors, async () =>
        {
            var (catalog, installer) = common.Open(parse, output);
            var source = parse.GetValue(path)!;
            var requested = parse.GetValue(nameOption);
            var entry = requested is null ? null : catalog.TryFind(requested);
            var installed = await WithProgressAsync(output, installer, entry, () => installer.ImportFileAsync(source, requested, ct));
            WriteLine(output, installed.IsCustom
                ? $"Imported your model as {installed.Name} in {installed.Directory}"
                : $"Imported {installed.Name} (every file matches the catalog's SHA-256) in {installed.Directory}");
            WriteLine(output, $"  model:  {installed.MainPath}");
            return 0;
        }));
        return command;
    }

    private static Command CreateInfo(IAnsiConsole output, IAnsiConsole errors)
    {
        var command = new Command("info", "Show everything the catalog knows about a backbone, its file hashes and where it would install from.");
        var name = new Argument<string>("NAME") { Description = "Catalog name or the name of a model you imported." };
        command.Arguments.Add(name);
        var common = CommonOptions.AddTo(command, withMirrors: true);
        command.SetAction(parse => Run(errors, () =>
        {
            var (catalog, installer) = common.Open(parse, output);
            var backbone = parse.GetValue(name)!;
            var damage = new List<string>();
            installer.Options.Log = damage.Add;
            var entry = catalog.TryFind(backbone) ?? installer.TryGetInstalled(backbone)?.Entry ?? catalog.Find(backbone);
            var installed = installer.TryGetInstalled(entry.Name);

            var facts = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
            void Row(string key, object? value)
            {
                if (value is null || value is string { Length: 0 }) return;
                facts.AddRow($"[bold]{Markup.Escape(key)}[/]", Markup.Escape(Convert.ToString(value, CultureInfo.InvariantCulture)!));
            }
            Row("Name", entry.Name + (entry.Name == catalog.DefaultName ? " (default)" : ""));
            Row("Title", entry.Title);
            Row("Format", entry.Format);
            Row("Source domain", entry.SourceDomain);
            Row("Input", $"{entry.InputName ?? "(only input)"}: {entry.InputWidth}x{entry.InputHeight}, {entry.Layout}, {entry.ChannelOrder}{(entry.FixedBatch ? ", batch fixed at 1" : "")}");
            Row("Preprocessing", $"(pixel * {entry.PixelScale.ToString("G6", CultureInfo.InvariantCulture)} - mean) / std; mean {Floats(entry.Mean)}, std {Floats(entry.Std)}");
            Row("Preprocessing source", entry.PreprocessingSource);
            Row("Embedding", (entry.EmbeddingTensor ?? "not verified: detected by inspection") + (entry.EmbeddingSize is int d ? $" ({d} values)" : ""));
            Row("Embedding note", entry.EmbeddingNote);
            Row("Classifier", entry.ClassifierTensor is null ? null
                : $"{entry.ClassifierTensor}: {entry.ClassCount} classes, {(entry.ClassifierOutputsProbabilities ? "probabilities" : "logits")}");
            Row("Labels", entry.LabelsFile ?? (entry.Labels is null ? null : string.Join(", ", entry.Labels)));
            Row("Parameters", entry.Parameters?.ToString("N0", CultureInfo.InvariantCulture));
            Row("MACs per image", entry.Macs?.ToString("N0", CultureInfo.InvariantCulture));
            Row("Cost source", entry.CostSource);
            Row("Size", $"{Bytes(entry.TotalSize)} in {entry.Files.Count} file(s)");
            Row("License", entry.License);
            Row("Homepage", entry.Homepage);
            Row("npm", entry.Npm is null ? null : $"{entry.Npm.Spec} ({entry.Npm.TarballUrl}, {entry.Npm.Integrity})");
            Row("Hash source", entry.HashSource);
            Row("Notes", entry.Notes);
            Row("Installed", installed is not null ? $"yes, verified: {installed.MainPath}"
                : damage.Count > 0 ? $"damaged: {string.Join("; ", damage)}" : "no");
            output.Write(facts);

            // Plain lines in SHA256SUMS order (hash first) so they can be copied or checked with sha256sum.
            output.MarkupLine("[bold]Files[/] (SHA-256, bytes, name, official source):");
            foreach (var f in entry.Files)
                WriteLine(output, $"  {f.Sha256}  {f.Size,11}  {f.Name}  {f.Url ?? (f.NpmPath is null ? "" : $"npm {entry.Npm?.Spec}: {f.NpmPath}")}");

            output.MarkupLine("[bold]Install sources, in order:[/]");
            foreach (var line in installer.DescribeSources(entry)) WriteLine(output, $"  - {line}");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Runs the installer with a progress bar on a terminal (report lines after it), or plain lines otherwise.</summary>
    private static async Task<InstalledBackbone> WithProgressAsync(IAnsiConsole output, BackboneInstaller installer, CatalogEntry? entry, Func<Task<InstalledBackbone>> run)
    {
        if (!output.Profile.Capabilities.Interactive)
        {
            installer.Options.Log = line => WriteLine(output, line);
            return await run();
        }

        var lines = new List<string>();
        installer.Options.Log = lines.Add;
        try
        {
            return await output.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(entry?.Name ?? "import"), maxValue: Math.Max(1, entry?.TotalSize ?? 1));
                    var perFile = new Dictionary<string, long>();
                    installer.Options.Progress = new Reporter(p =>
                    {
                        lock (perFile)
                        {
                            perFile[p.File] = p.BytesDone;
                            if (entry is null) task.MaxValue = Math.Max(task.MaxValue, perFile.Values.Sum());
                            task.Value = Math.Min(perFile.Values.Sum(), task.MaxValue);
                            task.Description = Markup.Escape($"{p.Backbone}: {p.File}");
                        }
                    });
                    var result = await run();
                    task.Value = task.MaxValue;
                    return result;
                });
        }
        finally
        {
            foreach (var line in lines) WriteLine(output, line);
        }
    }

    /// <summary>Runs an action, turning user-fixable failures into a red message on stderr and exit code 1.</summary>
    private static async Task<int> Run(IAnsiConsole errors, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is MlNetTransferException or IOException or UnauthorizedAccessException)
        {
            WriteLine(errors, e.Message, red: true);
            return 1;
        }
        catch (OperationCanceledException)
        {
            WriteLine(errors, "Cancelled.", red: true);
            return 1;
        }
    }

    /// <summary>Writes a line as is: Spectre would hard-wrap it at the console width, breaking URLs and commands people copy.</summary>
    private static void WriteLine(IAnsiConsole console, string text, bool red = false)
    {
        var writer = console.Profile.Out.Writer;
        writer.WriteLine(red && console.Profile.Capabilities.Ansi ? $"\u001b[31m{text}\u001b[0m" : text);
        writer.Flush();
    }

    private static string Bytes(long bytes) => bytes switch
    {
        >= 1_000_000 => $"{bytes / 1e6:0.0} MB",
        >= 1_000 => $"{bytes / 1e3:0} kB",
        _ => $"{bytes} B",
    };

    private static string Count(long? n) => n switch
    {
        null => "",
        >= 1_000_000_000 => (n.Value / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + " G",
        >= 1_000_000 => (n.Value / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + " M",
        _ => n.Value.ToString("N0", CultureInfo.InvariantCulture),
    };

    private static string Floats(float[] values) => "(" + string.Join(", ", values.Select(v => v.ToString("G6", CultureInfo.InvariantCulture))) + ")";

    /// <summary>Reports synchronously on the installer's thread (Progress&lt;T&gt; would post to the thread pool out of order).</summary>
    private sealed class Reporter(Action<InstallProgress> report) : IProgress<InstallProgress>
    {
        public void Report(InstallProgress value) => report(value);
    }

    /// <summary>Options every subcommand shares: which catalog, which cache, which mirrors.</summary>
    private sealed class CommonOptions
    {
        private readonly Option<string> _catalog = new("--catalog")
        {
            Description = "Catalog JSON to read instead of the models/catalog.json beside the executable.",
        };

        private readonly Option<string> _cache = new("--cache")
        {
            Description = $"Folder holding installed backbones (default ${InstallOptions.HomeVariable} or ~/.cache/mlnet-transfer/models).",
        };

        private readonly Option<string[]> _mirror = new("--mirror")
        {
            Description = $"Folder with copies of the official files (repeatable; also ${InstallOptions.MirrorsVariable}).",
        };

        private readonly Option<bool> _offline = new("--offline")
        {
            Description = "Use only the cache and mirror folders: no npm, no downloads.",
        };

        private bool _withMirrors;

        public static CommonOptions AddTo(Command command, bool withMirrors)
        {
            var options = new CommonOptions { _withMirrors = withMirrors };
            command.Options.Add(options._catalog);
            command.Options.Add(options._cache);
            if (withMirrors)
            {
                command.Options.Add(options._mirror);
                command.Options.Add(options._offline);
            }
            return options;
        }

        public (BackboneCatalog Catalog, BackboneInstaller Installer) Open(ParseResult parse, IAnsiConsole output)
        {
            var catalogPath = parse.GetValue(_catalog);
            var catalog = catalogPath is null ? BackboneCatalog.LoadDefault() : BackboneCatalog.Load(catalogPath);
            var options = new InstallOptions();
            if (parse.GetValue(_cache) is { } cache) options.CacheDirectory = Path.GetFullPath(cache);
            if (_withMirrors)
            {
                options.Mirrors.AddRange(parse.GetValue(_mirror) ?? []);
                if (parse.GetValue(_offline)) options.AllowNpm = options.AllowDownload = false;
            }
            return (catalog, new BackboneInstaller(catalog, options));
        }
    }
}
