using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace MlNetTransfer.Tests.Importers;

/// <summary>A tensor written by tests/js/tfjs-reference.cjs: shape (batch first) and float32 values.</summary>
public sealed record RefTensor(int[] Shape, float[] Data);

/// <summary>Inputs and outputs TensorFlow.js computed, read from the script's JSON.</summary>
public sealed record TfjsReference(RefTensor Input, IReadOnlyDictionary<string, RefTensor> Outputs)
{
    public static TfjsReference Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        var outputs = new Dictionary<string, RefTensor>(StringComparer.Ordinal);
        foreach (var p in root.GetProperty("outputs").EnumerateObject()) outputs[p.Name] = Read(p.Value);
        return new TfjsReference(Read(root.GetProperty("input")), outputs);
    }

    private static RefTensor Read(JsonElement e)
    {
        var shape = e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
        var bytes = Convert.FromBase64String(e.GetProperty("data").GetString()!);
        return new RefTensor(shape, MemoryMarshal.Cast<byte, float>(bytes).ToArray());
    }
}

/// <summary>
/// Runs tests/js/tfjs-reference.cjs with node. The npm packages it needs (@tensorflow/tfjs, nsfwjs) must be installed
/// with <c>npm ci --prefix tests/js</c>; without them the tests fail and say so (they never skip).
/// </summary>
public static class TfjsNode
{
    public static string JsDirectory { get; } = FindJsDirectory();

    public static string NodeModules => Path.Combine(JsDirectory, "node_modules");

    public static string NsfwjsModel(string folder) => Path.Combine(NodeModules, "nsfwjs", "dist", "models", folder, "model.min.js");

    public static void RequirePackages()
    {
        foreach (var package in new[] { Path.Combine("@tensorflow", "tfjs"), "nsfwjs" })
            if (!Directory.Exists(Path.Combine(NodeModules, package)))
                Assert.Fail($"{Path.Combine(NodeModules, package)} is missing: run `npm ci --prefix tests/js` (needs Node.js and the npm registry) before these tests.");
    }

    /// <summary>Runs the script with <paramref name="args"/>; fails the test with node's stderr if it fails.</summary>
    public static void Run(params string[] args)
    {
        RequirePackages();
        var psi = new ProcessStartInfo("node")
        {
            WorkingDirectory = JsDirectory,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(JsDirectory, "tfjs-reference.cjs"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"could not start node ({e.Message}): install Node.js 18+ and run `npm ci --prefix tests/js`.");
            return;
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"node tfjs-reference.cjs {string.Join(" ", args)} timed out.");
            }
            if (process.ExitCode != 0)
                Assert.Fail($"node tfjs-reference.cjs {string.Join(" ", args)} exited with {process.ExitCode}:\n{stderr.Result}\n{stdout.Result}");
        }
    }

    private static string FindJsDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "js", "tfjs-reference.cjs");
            if (File.Exists(candidate)) return Path.GetDirectoryName(candidate)!;
        }
        throw new InvalidOperationException($"tests/js/tfjs-reference.cjs not found above {AppContext.BaseDirectory}.");
    }
}
