// Checks the TensorFlow.js layers importer on a real pretrained model: Google's mobilenet_v1_0.75_224 run by
// TensorFlow.js itself (node, tests/js/tfjs-reference.cjs, pure-JS CPU backend) and, imported to ONNX, by ONNX Runtime,
// on the same input tensors (hymenoptera images decoded once). The zoo int8 MobileNetV2 against its dequantized graphs is
// bench/DequantizeCheck's job.
//
//   dotnet run -c Release --project bench/ImportCheck -- [--mirror ../shared/models] [--images ../shared/data/hymenoptera/val] [--n N]
//
// Needs node and `npm ci --prefix tests/js`. Exit code 0 when the imported model agrees with TensorFlow.js on top-1 for
// at least 99% of the images and no output differs by more than 1e-3.

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using MlNetTransfer.Backbones.Importers;
using MlNetTransfer.Backbones.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SkiaSharp;

string mirror = "../shared/models", imageFolder = "../shared/data/hymenoptera/val";
int? limit = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--mirror" when i + 1 < args.Length: mirror = args[++i]; break;
        case "--images" when i + 1 < args.Length: imageFolder = args[++i]; break;
        case "--n" when i + 1 < args.Length: limit = int.Parse(args[++i]); break;
        default:
            Console.Error.WriteLine("usage: ImportCheck [--mirror DIR] [--images DIR] [--n N]");
            return 2;
    }
}

var modelJson = Path.Combine(mirror, "mobilenet_v1_0.75_224", "model.json");
var script = FindUp(Path.Combine("tests", "js", "tfjs-reference.cjs"))
    ?? throw new FileNotFoundException("tests/js/tfjs-reference.cjs not found above the current folder; run from the repository.");
var images = Directory.EnumerateFiles(imageFolder, "*.*", SearchOption.AllDirectories)
    .Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
    .Order(StringComparer.Ordinal).Take(limit ?? int.MaxValue).ToList();
if (images.Count == 0) { Console.Error.WriteLine($"no images under {imageFolder}"); return 2; }
const int Side = 224;
var plane = Side * Side * 3;

// mobilenet_v1 (TF.js): NHWC, RGB scaled to [-1, 1]. Decoded once; both runtimes get these exact floats.
var pixels = images.Select(Decode).ToList();
var nhwc = new float[images.Count * plane];
for (var n = 0; n < images.Count; n++)
    for (var k = 0; k < plane; k++) nhwc[n * plane + k] = pixels[n][k] / 127.5f - 1f;

var watch = Stopwatch.StartNew();
var imported = TfjsLayersImporter.Import(modelJson);
var importMs = watch.Elapsed.TotalMilliseconds;
var work = Directory.CreateTempSubdirectory("importcheck-");
try
{
    var inputsFile = Path.Combine(work.FullName, "inputs.json");
    var outputsFile = Path.Combine(work.FullName, "tfjs.json");
    File.WriteAllText(inputsFile, JsonSerializer.Serialize(new { input = new { shape = new[] { images.Count, Side, Side, 3 }, data = Convert.ToBase64String(MemoryMarshal.AsBytes(nhwc.AsSpan())) } }));
    watch.Restart();
    RunNode(script, "file", Path.GetFullPath(modelJson), inputsFile, outputsFile);
    var tfjsSeconds = watch.Elapsed.TotalSeconds;
    var tfjs = ReadOutputs(outputsFile);

    using var options = new SessionOptions { IntraOpNumThreads = 2 };
    using var session = new InferenceSession(OnnxModelFile.ToBytes(imported.Model), options);
    var onnx = imported.OutputNames.ToDictionary(name => name, _ => new List<float>());
    watch.Restart();
    for (var n = 0; n < images.Count; n++)
    {
        var input = new DenseTensor<float>(nhwc.AsMemory(n * plane, plane), [1, Side, Side, 3]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(imported.InputNames[0], input)]);
        foreach (var r in results) onnx[r.Name].AddRange(r.AsEnumerable<float>());
    }
    var ortSeconds = watch.Elapsed.TotalSeconds;

    Console.WriteLine($"model            {modelJson}: imported in {importMs:F0} ms, {imported.Model.Graph.Node.Count} ONNX nodes, outputs {string.Join(", ", imported.OutputNames)}");
    Console.WriteLine($"images           {images.Count} under {imageFolder}, 224x224 (SkiaSharp resize), RGB/127.5 - 1, NHWC");
    Console.WriteLine($"runtimes         TensorFlow.js {tfjs.Version} ({tfjs.Backend} backend, node) {tfjsSeconds:F1} s; ONNX Runtime {ortSeconds:F1} s (2 threads, batch 1)");
    var ok = true;
    foreach (var name in imported.OutputNames)
    {
        if (!tfjs.Outputs.TryGetValue(name, out var reference)) { Console.WriteLine($"output '{name}': TensorFlow.js has no such output"); ok = false; continue; }
        var stats = Compare.Rows(reference, onnx[name].ToArray(), images.Count);
        Console.WriteLine($"tfjs vs ONNX     '{name}' [{images.Count}x{reference.Length / images.Count}]: {stats}");
        ok &= stats.Agree * 100 >= 99 * images.Count && stats.MaxAbs <= 1e-3;
    }

    Console.WriteLine(ok ? "PASS             imported model: top-1 agreement >= 99% and max |Δ| <= 1e-3" : "FAIL             imported model misses top-1 >= 99% or max |Δ| <= 1e-3");
    return ok ? 0 : 1;
}
finally
{
    work.Delete(recursive: true);
}

static byte[] Decode(string path)
{
    using var original = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path}: not a decodable image");
    using var resized = original.Resize(new SKImageInfo(Side, Side, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
    var rgb = new byte[Side * Side * 3];
    for (var y = 0; y < Side; y++)
        for (var x = 0; x < Side; x++)
        {
            var c = resized.GetPixel(x, y);
            var k = (y * Side + x) * 3;
            (rgb[k], rgb[k + 1], rgb[k + 2]) = (c.Red, c.Green, c.Blue);
        }
    return rgb;
}

static string? FindUp(string relative)
{
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, relative))) return Path.Combine(dir.FullName, relative);
    return null;
}

static void RunNode(string script, params string[] args)
{
    var psi = new ProcessStartInfo("node") { WorkingDirectory = Path.GetDirectoryName(script)!, RedirectStandardError = true, UseShellExecute = false };
    psi.ArgumentList.Add(script);
    foreach (var a in args) psi.ArgumentList.Add(a);
    using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
    var stderr = process.StandardError.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0)
        throw new InvalidOperationException($"node {Path.GetFileName(script)} {string.Join(" ", args)} failed ({process.ExitCode}); did you run `npm ci --prefix tests/js`?\n{stderr}");
}

static (string Version, string Backend, Dictionary<string, float[]> Outputs) ReadOutputs(string path)
{
    using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
    var root = doc.RootElement;
    var outputs = root.GetProperty("outputs").EnumerateObject().ToDictionary(p => p.Name,
        p => MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(p.Value.GetProperty("data").GetString()!)).ToArray());
    return (root.GetProperty("tfjs").GetString()!, root.GetProperty("backend").GetString()!, outputs);
}

/// <summary>Row-wise agreement of two [rows x columns] outputs.</summary>
sealed record Compare(int Agree, int Count, double MaxAbs, double MeanAbs, double Pearson, double MinRowPearson)
{
    public static Compare Rows(float[] a, float[] b, int rows)
    {
        if (a.Length != b.Length) throw new InvalidOperationException($"{a.Length} values vs {b.Length}");
        var columns = a.Length / rows;
        int agree = 0;
        double maxAbs = 0, sumAbs = 0, minRow = 1;
        for (var r = 0; r < rows; r++)
        {
            var ra = a.AsSpan(r * columns, columns);
            var rb = b.AsSpan(r * columns, columns);
            if (ArgMax(ra) == ArgMax(rb)) agree++;
            minRow = Math.Min(minRow, PearsonOf(ra, rb));
        }
        for (var i = 0; i < a.Length; i++)
        {
            var d = Math.Abs((double)a[i] - b[i]);
            maxAbs = Math.Max(maxAbs, d);
            sumAbs += d;
        }
        return new Compare(agree, rows, maxAbs, sumAbs / a.Length, PearsonOf(a, b), minRow);
    }

    public override string ToString() =>
        $"top-1 agree {Agree}/{Count} = {100.0 * Agree / Count:F2}%, max |Δ| {MaxAbs:G3}, mean |Δ| {MeanAbs:G3}, Pearson {Pearson:F7} (lowest per image {MinRowPearson:F7})";

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        var best = 0;
        for (var i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static double PearsonOf(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double ma = 0, mb = 0;
        for (var i = 0; i < a.Length; i++) { ma += a[i]; mb += b[i]; }
        ma /= a.Length; mb /= b.Length;
        double sab = 0, saa = 0, sbb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            double da = a[i] - ma, db = b[i] - mb;
            sab += da * db; saa += da * da; sbb += db * db;
        }
        return sab / Math.Sqrt(saa * sbb);
    }
}
