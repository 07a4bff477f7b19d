using System.CommandLine;
using MlNetTransfer.Cli.Commands;
using Spectre.Console;

namespace MlNetTransfer.Tests.Catalog;

/// <summary>The <c>backbones</c> CLI command against a test catalog, capturing what it prints.</summary>
public sealed class BackbonesCommandTests : IDisposable
{
    private readonly CatalogTestBed _bed = new();
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();

    public void Dispose() => _bed.Dispose();

    private int Run(params string[] args)
    {
        IAnsiConsole Console(TextWriter writer)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(writer),
                Ansi = AnsiSupport.No,
                ColorSystem = ColorSystemSupport.NoColors,
                Interactive = InteractionSupport.No,
            });
            console.Profile.Width = 200;
            return console;
        }

        var root = new RootCommand { BackbonesCommand.Create(Console(_out), Console(_err)) };
        return root.Parse(["backbones", .. args, "--catalog", _bed.CatalogPath, "--cache", _bed.Cache]).Invoke();
    }

    [Fact]
    public void List_shows_every_entry_the_default_and_what_is_installed()
    {
        Assert.Equal(0, Run("install", "fake_onnx", "--mirror", _bed.Mirror, "--offline"));

        Assert.Equal(0, Run("list"));

        var text = _out.ToString();
        Assert.Contains("fake_onnx (default)", text);
        Assert.Contains("fake_tfjs", text);
        Assert.Contains("tfjs-umd", text);
        Assert.Matches(@"fake_onnx \(default\).*yes", text);
        Assert.Matches(@"fake_tfjs .*no", text);
    }

    [Fact]
    public void Install_with_repeated_mirrors_reports_the_installed_paths()
    {
        var empty = Path.Combine(_bed.Root, "empty");
        Directory.CreateDirectory(empty);

        Assert.Equal(0, Run("install", "fake_tfjs", "--mirror", empty, "--mirror", _bed.Mirror, "--offline"));

        var text = _out.ToString();
        Assert.Contains($"Installed fake_tfjs in {Path.Combine(_bed.Cache, "fake_tfjs_224")}", text);
        Assert.Contains(Path.Combine(_bed.Cache, "fake_tfjs_224", "model.json"), text);
        Assert.Equal("", _err.ToString());
    }

    [Fact]
    public void Info_shows_the_hashes_and_where_it_would_install_from()
    {
        Assert.Equal(0, Run("info", "fake_onnx", "--mirror", _bed.Mirror));

        var text = _out.ToString();
        Assert.Contains(CatalogTestBed.Sha256(_bed.OnnxBytes), text);
        Assert.Contains(CatalogTestBed.OnnxUrl, text);
        Assert.Contains($"mirror: {Path.Combine(_bed.Mirror, "fake-net.onnx")}", text);
        Assert.Contains("not installed", text);
    }

    [Fact]
    public void Errors_go_to_stderr_with_exit_code_1()
    {
        Assert.Equal(1, Run("install", "fake_onnx", "--offline"));

        Assert.Contains("Cannot install backbone 'fake_onnx'", _err.ToString());
        Assert.Contains("mlnet-transfer backbones import PATH --name fake_onnx", _err.ToString());
        Assert.DoesNotContain("Cannot install", _out.ToString());
    }

    [Fact]
    public void Import_verifies_against_the_catalog()
    {
        var file = Path.Combine(_bed.Root, "fake-net.onnx");
        File.WriteAllBytes(file, _bed.OnnxBytes);

        Assert.Equal(0, Run("import", file, "--name", "fake_onnx"));

        Assert.Contains("every file matches the catalog's SHA-256", _out.ToString());
    }
}
