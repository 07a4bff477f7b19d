// Checks Dequantizer on a real quantized model: runs the int8 original and its dequantized float version in
// ONNX Runtime on a folder of images and reports how closely they agree (top-1, logit correlation, speed).
//
//   dotnet run -c Release --project bench/DequantizeCheck -- <model.onnx> <image-folder> [--save float.onnx] [--tensor name]
//       [--classes ants=310,bees=309]
//
// Preprocessing is the ImageNet one: resize to 224x224, RGB / 255, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), NCHW.
// --tensor also compares an intermediate float tensor present in both graphs (e.g. "627", MobileNetV2's last feature map).
// --classes maps image sub-folder names to class indices, so both models' accuracy is reported too (top-1 over all
// classes, and the argmax among the listed classes only).

using System.Diagnostics;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SkiaSharp;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: DequantizeCheck <model.onnx> <image-folder> [--save float.onnx] [--tensor name] [--classes folder=index,...]");
    return 2;
}
var modelPath = args[0];
var imageFolder = args[1];
string? savePath = null, tensorName = null;
var classes = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
for (var i = 2; i + 1 < args.Length; i += 2)
{
    if (args[i] == "--save") savePath = args[i + 1];
    else if (args[i] == "--tensor") tensorName = args[i + 1];
    else if (args[i] == "--classes")
        foreach (var pair in args[i + 1].Split(',', StringSplitOptions.RemoveEmptyEntries))
            classes[pair.Split('=')[0]] = int.Parse(pair.Split('=')[1]);
    else { Console.Error.WriteLine($"unknown option {args[i]}"); return 2; }
}

var quantized = OnnxModelFile.Load(modelPath);
var watch = Stopwatch.StartNew();
var dequantized = Dequantizer.Dequantize(quantized);
var rewriteMs = watch.Elapsed.TotalMilliseconds;
if (savePath is not null) OnnxModelFile.Save(dequantized, savePath);

static string OpCounts(ModelProto m) => string.Join(", ", m.Graph.Node.GroupBy(n => (n.Domain == "" ? "" : n.Domain + ".") + n.OpType)
    .OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));
Console.WriteLine($"model            {modelPath}");
Console.WriteLine($"rewrite          {rewriteMs:F0} ms; {quantized.Graph.Node.Count} nodes -> {dequantized.Graph.Node.Count} nodes");
Console.WriteLine($"  int8 ops       {OpCounts(quantized)}");
Console.WriteLine($"  float ops      {OpCounts(dequantized)}");
Console.WriteLine($"  opsets         {string.Join(", ", dequantized.OpsetImport.Select(o => $"'{o.Domain}' {o.Version}"))}");
Console.WriteLine($"  file size      {OnnxModelFile.ToBytes(quantized).Length / 1e6:F1} MB -> {OnnxModelFile.ToBytes(dequantized).Length / 1e6:F1} MB");

if (tensorName is not null)
{
    foreach (var m in new[] { quantized, dequantized })
        m.Graph.Output.Add(new ValueInfoProto { Name = tensorName, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });
}

using var options = new SessionOptions { IntraOpNumThreads = 2 };
using var int8Session = new InferenceSession(OnnxModelFile.ToBytes(quantized), options);
using var floatSession = new InferenceSession(OnnxModelFile.ToBytes(dequantized), options);
var inputName = int8Session.InputMetadata.Keys.First();
var outputName = int8Session.OutputMetadata.Keys.First();

var images = Directory.EnumerateFiles(imageFolder, "*.*", SearchOption.AllDirectories)
    .Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
    .Order(StringComparer.Ordinal).ToList();
if (images.Count == 0) { Console.Error.WriteLine($"no images under {imageFolder}"); return 2; }

int labelled = 0, int8Top1 = 0, floatTop1 = 0, int8Among = 0, floatAmong = 0;
int agree = 0, top5Overlap = 0, int8SelfAgree = 0, floatSelfAgree = 0;
var int8SelfCorrelation = new List<double>();
var noise = new Random(12345);
double int8Ms = 0, floatMs = 0;
var perImageCorrelation = new List<double>();
var allInt8 = new List<float>();
var allFloat = new List<float>();
double maxAbs = 0;
var tensorInt8 = new List<float>();
var tensorFloat = new List<float>();
var embeddingCosine = new List<double>();

foreach (var path in images)
{
    var input = Preprocess(path);
    var feeds = new[] { NamedOnnxValue.CreateFromTensor(inputName, input) };
    watch.Restart();
    using var a = int8Session.Run(feeds);
    int8Ms += watch.Elapsed.TotalMilliseconds;
    watch.Restart();
    using var b = floatSession.Run(feeds);
    floatMs += watch.Elapsed.TotalMilliseconds;

    var la = a.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
    var lb = b.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
    if (ArgMax(la) == ArgMax(lb)) agree++;
    if (classes.TryGetValue(Path.GetFileName(Path.GetDirectoryName(path)!), out var label))
    {
        labelled++;
        if (ArgMax(la) == label) int8Top1++;
        if (ArgMax(lb) == label) floatTop1++;
        if (classes.Values.MaxBy(c => la[c]) == label) int8Among++;
        if (classes.Values.MaxBy(c => lb[c]) == label) floatAmong++;
    }
    top5Overlap += TopK(la, 5).Intersect(TopK(lb, 5)).Count();
    perImageCorrelation.Add(Pearson(la, lb));
    allInt8.AddRange(la);
    allFloat.AddRange(lb);
    maxAbs = Math.Max(maxAbs, la.Zip(lb, (x, y) => Math.Abs(x - y)).Max());

    // Reference: how much the int8 model (and the float one) move when every pixel moves by one grey level at most,
    // a change far below what JPEG decoders or resize filters already introduce.
    var nudged = Nudge(input, noise);
    var nudgedFeeds = new[] { NamedOnnxValue.CreateFromTensor(inputName, nudged) };
    using (var an = int8Session.Run(nudgedFeeds))
    using (var bn = floatSession.Run(nudgedFeeds))
    {
        var lan = an.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
        var lbn = bn.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
        if (ArgMax(la) == ArgMax(lan)) int8SelfAgree++;
        if (ArgMax(lb) == ArgMax(lbn)) floatSelfAgree++;
        int8SelfCorrelation.Add(Pearson(la, lan));
    }

    if (tensorName is not null)
    {
        var ta = a.First(r => r.Name == tensorName).AsTensor<float>();
        var tb = b.First(r => r.Name == tensorName).AsTensor<float>();
        tensorInt8.AddRange(ta);
        tensorFloat.AddRange(tb);
        if (ta.Rank == 4) embeddingCosine.Add(Cosine(SpatialMean(ta), SpatialMean(tb)));
    }
}

var n = images.Count;
Console.WriteLine($"images           {n} under {imageFolder}");
Console.WriteLine($"top-1 agreement  {agree}/{n} = {100.0 * agree / n:F2}%");
Console.WriteLine($"top-5 overlap    {100.0 * top5Overlap / (5.0 * n):F2}%");
Console.WriteLine($"logit Pearson    pooled {Pearson(allInt8.ToArray(), allFloat.ToArray()):F5}; per image mean {perImageCorrelation.Average():F5}, min {perImageCorrelation.Min():F5}");
Console.WriteLine($"logit |diff|     mean {allInt8.Zip(allFloat, (x, y) => Math.Abs(x - y)).Average():F4}, max {maxAbs:F4} (int8 logits span {allInt8.Min():F2}..{allInt8.Max():F2})");
if (tensorName is not null)
{
    Console.WriteLine($"tensor '{tensorName}'     Pearson {Pearson(tensorInt8.ToArray(), tensorFloat.ToArray()):F5}; max |diff| {tensorInt8.Zip(tensorFloat, (x, y) => Math.Abs(x - y)).Max():F4}");
    if (embeddingCosine.Count > 0)
        Console.WriteLine($"  spatial mean   cosine per image mean {embeddingCosine.Average():F5}, min {embeddingCosine.Min():F5}");
}
if (labelled > 0)
    Console.WriteLine($"accuracy         {labelled} labelled images: int8 top-1 {100.0 * int8Top1 / labelled:F2}%, among listed classes {100.0 * int8Among / labelled:F2}%; " +
        $"float top-1 {100.0 * floatTop1 / labelled:F2}%, among listed classes {100.0 * floatAmong / labelled:F2}%");
Console.WriteLine($"reference        input nudged by <= 1/255 per pixel: int8 vs int8 top-1 {100.0 * int8SelfAgree / n:F2}% (logit Pearson {int8SelfCorrelation.Average():F5}); float vs float top-1 {100.0 * floatSelfAgree / n:F2}%");
Console.WriteLine($"time per image   int8 {int8Ms / n:F1} ms, float {floatMs / n:F1} ms (ONNX Runtime, 2 threads, batch 1)");
return agree * 100 >= 99 * n ? 0 : 1;

static DenseTensor<float> Preprocess(string path)
{
    float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
    using var original = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path}: not a decodable image");
    using var resized = original.Resize(new SKImageInfo(224, 224, SKColorType.Rgba8888, SKAlphaType.Unpremul), SKFilterQuality.Medium);
    var tensor = new DenseTensor<float>([1, 3, 224, 224]);
    for (var y = 0; y < 224; y++)
        for (var x = 0; x < 224; x++)
        {
            var c = resized.GetPixel(x, y);
            tensor[0, 0, y, x] = (c.Red / 255f - mean[0]) / std[0];
            tensor[0, 1, y, x] = (c.Green / 255f - mean[1]) / std[1];
            tensor[0, 2, y, x] = (c.Blue / 255f - mean[2]) / std[2];
        }
    return tensor;
}

static DenseTensor<float> Nudge(DenseTensor<float> input, Random random)
{
    float[] std = [0.229f, 0.224f, 0.225f];
    var result = new DenseTensor<float>(input.Dimensions);
    var plane = 224 * 224;
    for (var i = 0; i < input.Length; i++)
        result.SetValue(i, input.GetValue(i) + (random.Next(3) - 1) / 255f / std[i / plane % 3]);
    return result;
}

static int ArgMax(float[] v) => Array.IndexOf(v, v.Max());

static int[] TopK(float[] v, int k) => v.Select((x, i) => (x, i)).OrderByDescending(t => t.x).Take(k).Select(t => t.i).ToArray();

static double Pearson(float[] a, float[] b)
{
    double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
    for (var i = 0; i < a.Length; i++)
    {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db; saa += da * da; sbb += db * db;
    }
    return sab / Math.Sqrt(saa * sbb);
}

static double Cosine(float[] a, float[] b)
{
    double ab = 0, aa = 0, bb = 0;
    for (var i = 0; i < a.Length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    return ab / Math.Sqrt(aa * bb);
}

static float[] SpatialMean(Tensor<float> t)
{
    var (channels, h, w) = (t.Dimensions[1], t.Dimensions[2], t.Dimensions[3]);
    var result = new float[channels];
    for (var c = 0; c < channels; c++)
    {
        double sum = 0;
        for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) sum += t[0, c, y, x];
        result[c] = (float)(sum / (h * w));
    }
    return result;
}
