// Featurization throughput: the ML.NET pipeline (LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel, as
// training runs it) against a bare ONNX Runtime session on the same prepared graph and batch size (1), in one run.
// Usage: dotnet run -c Release --project bench/FeaturizationBench -- [--backbone NAME|PATH] [--images DIR] [--n N] [--mirror DIR]
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using SkiaSharp;

var backboneName = args.Arg("--backbone", "synthetic-cnn");
var n = int.Parse(args.Arg("--n", "200"));
var mirror = args.Arg("--mirror", "");
var imagesDir = args.Arg("--images", "");
using var temp = new TempFolder();
if (imagesDir == "") imagesDir = SyntheticImageDataset.Write(Path.Combine(temp.Path, "images"), imagesPerClass: (n + 2) / 3, size: 256, seed: 5);
var images = Directory.GetFiles(imagesDir, "*", SearchOption.AllDirectories).Where(f => ImageFileValidator.Validate(f).IsValid).Order().ToList();
while (images.Count < n) images.AddRange(images.Take(n - images.Count));
images = images.Take(n).ToList();

var resolved = BackboneResolver.Resolve(backboneName, new BackboneResolveOptions { Mirrors = mirror == "" ? [] : [mirror] });
var backbone = BackbonePreparer.Prepare(resolved.Model, resolved.Spec);
var bytes = OnnxModelFile.ToBytes(backbone.FeaturizerModel);
Console.WriteLine($"backbone {backbone.Spec.Name} ({backbone.Spec.InputWidth}x{backbone.Spec.InputHeight} → {backbone.EmbeddingSize}-d), {images.Count} images, {Environment.ProcessorCount} cores");

var ml = new MLContext(0);
double MlNet(int dop, int? threadsPerCursor)
{
    var options = new ImageFeaturizerOptions { CacheDirectory = null, DegreeOfParallelism = dop, OnnxThreadsPerCursor = threadsPerCursor };
    var featurizer = ImageFeaturizer.FitForBulk(ml, backbone, options);
    var extractor = new EmbeddingExtractor(ml, featurizer, backbone.Sha256, options);
    extractor.Extract(images.Take(8).ToList()); // warm-up: session creation, JIT
    var sw = Stopwatch.StartNew();
    extractor.Extract(images);
    return images.Count / sw.Elapsed.TotalSeconds;
}

// The bare session: same graph, batch 1, default threading; pixels decoded and resized with SkiaSharp.
using var session = new InferenceSession(bytes);
DenseTensor<float> Decode(string path)
{
    using var bmp = SKBitmap.Decode(path);
    using var resized = bmp.Resize(new SKImageInfo(backbone.Spec.ResizeWidth, backbone.Spec.ResizeHeight), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
    var t = new DenseTensor<float>([1, 3, backbone.Spec.ResizeHeight, backbone.Spec.ResizeWidth]);
    for (int y = 0; y < resized.Height; y++)
        for (int x = 0; x < resized.Width; x++)
        {
            var c = resized.GetPixel(x, y);
            t[0, 0, y, x] = c.Red; t[0, 1, y, x] = c.Green; t[0, 2, y, x] = c.Blue;
        }
    return t;
}
void Run(DenseTensor<float> t)
{
    using var r = session.Run([NamedOnnxValue.CreateFromTensor("pixels", t)]);
    _ = r.First().AsTensor<float>()[0, 0];
}
var decoded = images.Select(Decode).ToList();
foreach (var t in decoded.Take(8)) Run(t);
var swBare = Stopwatch.StartNew();
foreach (var t in decoded) Run(t);
var bareInference = images.Count / swBare.Elapsed.TotalSeconds;
swBare.Restart();
foreach (var p in images) Run(Decode(p));
var bareSerial = images.Count / swBare.Elapsed.TotalSeconds;

var cores = Environment.ProcessorCount;
var ml1 = MlNet(1, null);
var mlShared = MlNet(cores, null);
var mlN = MlNet(cores, 1);
Console.WriteLine($"bare ONNX Runtime, inference only (pre-decoded)   {bareInference,8:0.0} images/s   (the ceiling)");
Console.WriteLine($"bare ONNX Runtime, decode then infer, serial      {bareSerial,8:0.0} images/s");
Console.WriteLine($"ML.NET pipeline, 1 cursor, ORT default threads    {ml1,8:0.0} images/s");
Console.WriteLine($"ML.NET pipeline, {cores} cursors, ORT default threads   {mlShared,8:0.0} images/s");
Console.WriteLine($"ML.NET pipeline, {cores} cursors, 1 ORT thread each     {mlN,8:0.0} images/s   (as training runs)");
Console.WriteLine($"ratio ML.NET/{cores} cursors ÷ bare inference-only: {mlN / bareInference:0.00}   (target ≥ 0.80)");
Console.WriteLine($"ratio ML.NET/{cores} cursors ÷ bare decode+infer:   {mlN / bareSerial:0.00}");

sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "featbench-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
