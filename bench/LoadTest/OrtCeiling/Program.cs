// The ceiling for bench/LoadTest: a bare ONNX Runtime session doing the same work per image as the server, in process,
// with no HTTP and no ML.NET: decode the encoded bytes (SkiaSharp), centre-crop and resize to the input size, fill the
// float tensor, run the very graph the model zip embeds (checked by its SHA-256). The linear head is left out (a
// 1280×k multiply, negligible). Fixed duration; 1 thread and one per core (or only --threads N); the better is the ceiling.
// Usage: dotnet OrtCeiling.dll --model model.zip --backbone NAME|PATH [--seconds 20] [--threads N] image...
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer;
using MlNetTransfer.Backbones;
using SkiaSharp;

var named = new[] { "--model", "--backbone", "--seconds", "--threads" };
var imagePaths = args.Where((a, i) => !named.Contains(a) && (i == 0 || !named.Contains(args[i - 1]))).ToArray();
var modelPath = args.Arg("--model", "");
var seconds = double.Parse(args.Arg("--seconds", "20"), System.Globalization.CultureInfo.InvariantCulture);
if (modelPath == "" || imagePaths.Length == 0)
{
    Console.Error.WriteLine("usage: OrtCeiling --model model.zip --backbone NAME|PATH [--seconds 20] image...");
    return 2;
}
var metadata = MlNetTransfer.ModelMetadata.Read(modelPath) ?? throw new InvalidOperationException($"{modelPath}: no metadata");
var resolved = BackboneResolver.Resolve(args.Arg("--backbone", metadata.Backbone));
var backbone = BackbonePreparer.Prepare(resolved.Model, resolved.Spec);
if (backbone.Sha256 != metadata.BackboneSha256)
    Console.WriteLine($"warning: prepared backbone sha256 {backbone.Sha256[..12]} differs from the model's {metadata.BackboneSha256[..Math.Min(12, metadata.BackboneSha256.Length)]}");
var (width, height) = (backbone.Spec.InputWidth, backbone.Spec.InputHeight);
var images = imagePaths.Select(File.ReadAllBytes).ToArray();
using var session = new InferenceSession(backbone.FeaturizerBytes);
var input = session.InputMetadata.Keys.Single();

void Predict(byte[] encoded)
{
    using var bitmap = SKBitmap.Decode(encoded) ?? throw new InvalidDataException("undecodable image");
    // Centre crop to the target aspect, then resize (ML.NET's IsoCrop), with a high-quality filter.
    var scale = Math.Max((float)width / bitmap.Width, (float)height / bitmap.Height);
    var (w, h) = (width / scale, height / scale);
    var src = SKRect.Create((bitmap.Width - w) / 2, (bitmap.Height - h) / 2, w, h);
    using var resized = new SKBitmap(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Premul));
    using (var canvas = new SKCanvas(resized))
    using (var image = SKImage.FromBitmap(bitmap))
    using (var paint = new SKPaint())
        canvas.DrawImage(image, src, SKRect.Create(width, height), new SKSamplingOptions(SKCubicResampler.Mitchell), paint);
    var tensor = new DenseTensor<float>([1, 3, height, width]);
    var pixels = resized.GetPixelSpan();
    var plane = width * height;
    var buffer = tensor.Buffer.Span;
    for (var p = 0; p < plane; p++)
    {
        buffer[p] = pixels[p * 4 + 2];             // R
        buffer[plane + p] = pixels[p * 4 + 1];     // G
        buffer[2 * plane + p] = pixels[p * 4];     // B
    }
    using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, tensor)]);
    _ = results.First().AsTensor<float>()[0, 0];
}

(double ImagesPerSecond, double CpuMsPerImage) Measure(int threads)
{
    var done = 0L;
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var deadline = Stopwatch.StartNew();
    var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
    {
        for (var n = t; deadline.Elapsed.TotalSeconds < seconds; n++)
        {
            Predict(images[n % images.Length]);
            Interlocked.Increment(ref done);
        }
    })).ToList();
    workers.ForEach(w => w.Start());
    workers.ForEach(w => w.Join());
    var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
    return (done / deadline.Elapsed.TotalSeconds, cpuMs / done);
}

foreach (var img in images.Take(4)) Predict(img); // warm-up: JIT, session allocation
Console.WriteLine($"backbone {backbone.Spec.Name} {width}x{height}, {images.Length} images, {Environment.ProcessorCount} cores, {seconds:0} s per run");
var threadCounts = args.Arg("--threads", "") is { Length: > 0 } t ? [int.Parse(t)] : new[] { 1, Environment.ProcessorCount }.Distinct().ToArray();
var (best, bestCpu) = (0.0, double.MaxValue);
foreach (var threads in threadCounts)
{
    var (rate, cpuMs) = Measure(threads);
    Console.WriteLine($"bare ONNX Runtime, {threads} thread(s): {rate,8:0.0} images/s, {cpuMs:0.00} CPU ms per image");
    best = Math.Max(best, rate);
    bestCpu = Math.Min(bestCpu, cpuMs);
}
// CPU time per image is the steadier number on a machine shared with other work; images/s is what a client sees.
Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"CEILING images_per_s={best:0.0} cpu_ms_per_image={bestCpu:0.00}"));
return 0;
