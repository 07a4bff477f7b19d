// Checks Dequantizer on a real quantized model: runs the int8 original and its two dequantized float versions (pure
// float, the default; and with activation quantization simulated by QuantizeLinear→DequantizeLinear) in ONNX Runtime
// on a folder of images and reports how closely each agrees with the int8 model (top-1, top-5, logit correlation, speed).
//
//   dotnet run -c Release --project bench/DequantizeCheck -- <model.onnx> <image-folder> [--save float.onnx]
//       [--save-simulated fakequant.onnx] [--tensor name] [--classes ants=310,bees=309] [--layers]
//
// Preprocessing is the ImageNet one: resize to 224x224, RGB / 255, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), NCHW.
// --tensor also compares an intermediate float tensor present in both graphs (e.g. "627", MobileNetV2's last feature map).
// --classes maps image sub-folder names to class indices, so both models' accuracy is reported too (top-1 over all
// classes, and the argmax among the listed classes only).
// --layers compares every re-quantized activation of the simulated graph with the int8 graph's on the first
// image, in graph order: where the two first part is where a rewrite differs from what the integer kernels compute.
// Exit code 0 when the simulated mode agrees on top-1 for at least 99% of the images.

using System.Diagnostics;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SkiaSharp;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: DequantizeCheck <model.onnx> <image-folder> [--save float.onnx] [--save-simulated fakequant.onnx] [--tensor name] [--classes folder=index,...] [--layers]");
    return 2;
}
var modelPath = args[0];
var imageFolder = args[1];
string? savePath = null, simulatedSavePath = null, tensorName = null;
var layers = false;
var classes = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
for (var i = 2; i < args.Length; i += 2)
{
    if (args[i] == "--layers") { layers = true; i--; continue; }
    if (i + 1 >= args.Length) { Console.Error.WriteLine($"{args[i]} needs a value"); return 2; }
    if (args[i] == "--save") savePath = args[i + 1];
    else if (args[i] == "--save-simulated") simulatedSavePath = args[i + 1];
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
var simulated = Dequantizer.Dequantize(quantized, new DequantizeOptions { SimulateActivationQuantization = true });
if (savePath is not null) OnnxModelFile.Save(dequantized, savePath);
if (simulatedSavePath is not null) OnnxModelFile.Save(simulated, simulatedSavePath);

static string OpCounts(ModelProto m) => string.Join(", ", m.Graph.Node.GroupBy(n => (n.Domain == "" ? "" : n.Domain + ".") + n.OpType)
    .OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));
static bool FloatWeights(ModelProto m)
{
    var initializers = m.Graph.Initializer.ToDictionary(t => t.Name);
    return m.Graph.Node.Where(n => n.OpType is "Conv" or "MatMul" or "Gemm").SelectMany(n => n.Input).Where(initializers.ContainsKey)
        .All(name => initializers[name].DataType == (int)TensorProto.Types.DataType.Float);
}
Console.WriteLine($"model            {modelPath}");
Console.WriteLine($"rewrite          {rewriteMs:F0} ms; {quantized.Graph.Node.Count} nodes -> {dequantized.Graph.Node.Count} nodes (pure float), {simulated.Graph.Node.Count} nodes (simulated)");
Console.WriteLine($"  int8 ops       {OpCounts(quantized)}");
Console.WriteLine($"  float ops      {OpCounts(dequantized)}");
Console.WriteLine($"  simulated ops  {OpCounts(simulated)}");
Console.WriteLine($"  float weights  pure float {FloatWeights(dequantized)}, simulated {FloatWeights(simulated)}");
Console.WriteLine($"  opsets         {string.Join(", ", dequantized.OpsetImport.Select(o => $"'{o.Domain}' {o.Version}"))}");
Console.WriteLine($"  file size      {OnnxModelFile.ToBytes(quantized).Length / 1e6:F1} MB -> {OnnxModelFile.ToBytes(dequantized).Length / 1e6:F1} MB (pure float), {OnnxModelFile.ToBytes(simulated).Length / 1e6:F1} MB (simulated)");

var floatValue = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } };
if (tensorName is not null)
    foreach (var m in new[] { quantized, dequantized, simulated })
        m.Graph.Output.Add(new ValueInfoProto { Name = tensorName, Type = floatValue });

using var options = new SessionOptions { IntraOpNumThreads = 2 };
using var int8Session = new InferenceSession(OnnxModelFile.ToBytes(quantized), options);
using var floatSession = new InferenceSession(OnnxModelFile.ToBytes(dequantized), options);
using var simulatedSession = new InferenceSession(OnnxModelFile.ToBytes(simulated), options);
var inputName = int8Session.InputMetadata.Keys.First();
var outputName = int8Session.OutputMetadata.Keys.First();

var images = Directory.EnumerateFiles(imageFolder, "*.*", SearchOption.AllDirectories)
    .Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
    .Order(StringComparer.Ordinal).ToList();
if (images.Count == 0) { Console.Error.WriteLine($"no images under {imageFolder}"); return 2; }

if (layers) CompareLayers(quantized, simulated, inputName, Preprocess(images[0]), options);

var reference = new Agreement("int8 nudged");
var pureFloat = new Agreement("pure float");
var simulation = new Agreement("simulated");
int labelled = 0, floatSelfAgree = 0;
int int8Top1 = 0, int8Among = 0;
var noise = new Random(12345);
double int8Ms = 0;
var classIndices = classes.Values.Distinct().ToArray();

foreach (var path in images)
{
    var input = Preprocess(path);
    var feeds = new[] { NamedOnnxValue.CreateFromTensor(inputName, input) };
    watch.Restart();
    using var a = int8Session.Run(feeds);
    int8Ms += watch.Elapsed.TotalMilliseconds;
    var la = a.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
    float[]? ta = tensorName is null ? null : a.First(r => r.Name == tensorName).AsEnumerable<float>().ToArray();
    int? label = classes.TryGetValue(Path.GetFileName(Path.GetDirectoryName(path)!), out var l) ? l : null;
    if (label is { } known)
    {
        labelled++;
        if (Stats.ArgMax(la) == known) int8Top1++;
        if (classIndices.MaxBy(c => la[c]) == known) int8Among++;
    }
    foreach (var (session, agreement) in new[] { (floatSession, pureFloat), (simulatedSession, simulation) })
    {
        watch.Restart();
        using var b = session.Run(feeds);
        agreement.Milliseconds += watch.Elapsed.TotalMilliseconds;
        var lb = b.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
        agreement.Add(la, lb, label, classIndices);
        if (tensorName is not null) agreement.AddTensor(ta!, b.First(r => r.Name == tensorName).AsTensor<float>());
    }

    // Reference: how much the int8 model (and the float one) move when every pixel moves by one grey level at most,
    // a change far below what JPEG decoders or resize filters already introduce.
    var nudged = Nudge(input, noise);
    var nudgedFeeds = new[] { NamedOnnxValue.CreateFromTensor(inputName, nudged) };
    using (var an = int8Session.Run(nudgedFeeds))
    using (var bn = floatSession.Run(nudgedFeeds))
    {
        var lan = an.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
        var lbn = bn.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
        reference.Add(la, lan, null, classIndices);
        if (Stats.ArgMax(pureFloat.LastLogits!) == Stats.ArgMax(lbn)) floatSelfAgree++;
    }
}

var n = images.Count;
Console.WriteLine($"images           {n} under {imageFolder}");
Console.WriteLine($"{"vs int8",-16} {"top-1 agree",-18} {"top-5 overlap",-14} {"logit Pearson (pooled / per-image mean / min)",-48} {"|Δ logit| mean",-15} {"|Δ logit| max",-14} ms/image");
foreach (var agreement in new[] { pureFloat, simulation, reference }) agreement.Print(n);
Console.WriteLine($"  (int8 logits span {pureFloat.Reference.Min():F2}..{pureFloat.Reference.Max():F2}; 'int8 nudged' is the int8 model on the input nudged by <= 1/255 per pixel; " +
    $"the pure float model keeps its own top-1 under that nudge on {100.0 * floatSelfAgree / n:F2}%)");
if (tensorName is not null)
    foreach (var agreement in new[] { pureFloat, simulation }) agreement.PrintTensor(tensorName);
if (labelled > 0)
{
    Console.WriteLine($"accuracy         {labelled} labelled images: int8 top-1 {100.0 * int8Top1 / labelled:F2}%, among listed classes {100.0 * int8Among / labelled:F2}%");
    foreach (var agreement in new[] { pureFloat, simulation })
        Console.WriteLine($"                 {agreement.Name}: top-1 {100.0 * agreement.Top1 / labelled:F2}%, among listed classes {100.0 * agreement.Among / labelled:F2}%");
}
Console.WriteLine($"time per image   int8 {int8Ms / n:F1} ms, pure float {pureFloat.Milliseconds / n:F1} ms, simulated {simulation.Milliseconds / n:F1} ms (ONNX Runtime, 2 threads, batch 1)");
return simulation.Agree * 100 >= 99 * n ? 0 : 1;

// Every re-quantized activation of the simulated graph (a DequantizeLinear output there) against the int8 graph's value
// of the same tensor, dequantized with the scale and zero point the int8 graph gives it.
static void CompareLayers(ModelProto quantized, ModelProto simulated, string inputName, DenseTensor<float> input, SessionOptions options)
{
    var pairs = new List<(string Int8, string Float, float Scale, long ZeroPoint)>();
    var constants = quantized.Graph.Initializer.ToDictionary(t => t.Name);
    var produced = simulated.Graph.Node.SelectMany(n => n.Output).ToHashSet();
    foreach (var node in quantized.Graph.Node)
    {
        var (scaleIndex, zeroPointIndex) = node.OpType switch
        {
            "QuantizeLinear" => (1, 2), "QLinearConv" or "QLinearMatMul" or "QLinearAdd" or "QLinearMul" => (6, 7),
            "QLinearGlobalAveragePool" or "QLinearAveragePool" or "QLinearLeakyRelu" or "QLinearSigmoid" => (3, 4),
            "QLinearConcat" => (0, 1), _ => (-1, -1),
        };
        if (scaleIndex < 0) continue;
        var output = node.Output[0];
        // The simulated graph holds each re-quantized activation on its integer grid (q − zero point) as "<float name>_on_grid".
        var floatName = new[] { output.EndsWith("_quantized") ? output[..^"_quantized".Length] : output, output + "_float" }
            .Select(name => name + "_on_grid").FirstOrDefault(produced.Contains);
        if (floatName is null) continue;
        pairs.Add((output, floatName, OnnxTensors.ToFloats(constants[node.Input[scaleIndex]])[0], OnnxTensors.ToInt64s(constants[node.Input[zeroPointIndex]])[0]));
    }
    var a = quantized.Clone();
    var b = simulated.Clone();
    var floatValue = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } };
    foreach (var (int8, fl, _, _) in pairs)
    {
        var zeroPoint = quantized.Graph.Node.First(n => n.Output.Contains(int8)) is var producer && producer.OpType == "QLinearConcat" ? producer.Input[1]
            : producer.Input[producer.OpType == "QuantizeLinear" ? 2 : producer.OpType.Contains("Pool") || producer.OpType is "QLinearLeakyRelu" or "QLinearSigmoid" ? 4 : 7];
        var type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = constants[zeroPoint].DataType } };
        a.Graph.Output.Add(new ValueInfoProto { Name = int8, Type = type });
        b.Graph.Output.Add(new ValueInfoProto { Name = fl, Type = floatValue });
    }
    using var sa = new InferenceSession(OnnxModelFile.ToBytes(a), options);
    using var sb = new InferenceSession(OnnxModelFile.ToBytes(b), options);
    var feeds = new[] { NamedOnnxValue.CreateFromTensor(inputName, input) };
    using var ra = sa.Run(feeds);
    using var rb = sb.Run(feeds);
    Console.WriteLine($"layers           {pairs.Count} re-quantized activations, first image; values differing / largest difference in steps:");
    foreach (var (int8, fl, scale, zp) in pairs)
    {
        var qa = ra.First(r => r.Name == int8);
        var ints = qa.ElementType == TensorElementType.Int8 ? qa.AsEnumerable<sbyte>().Select(v => (int)v).ToArray() : qa.AsEnumerable<byte>().Select(v => (int)v).ToArray();
        var floats = rb.First(r => r.Name == fl).AsEnumerable<float>().ToArray();
        int differing = 0; double worst = 0;
        for (var i = 0; i < ints.Length; i++)
        {
            var steps = Math.Abs(floats[i] + zp - ints[i]);
            if (steps > 0.5) differing++;
            worst = Math.Max(worst, steps);
        }
        Console.WriteLine($"  {int8,-40} {differing,7}/{ints.Length,-8} {worst,6:F1}");
    }
}
static DenseTensor<float> Preprocess(string path)
{
    float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
    using var original = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path}: not a decodable image");
    using var resized = original.Resize(new SKImageInfo(224, 224, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
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

/// <summary>How closely one model's logits follow the int8 model's, over all images.</summary>
sealed class Agreement(string name)
{
    public string Name { get; } = name;
    public int Agree, Top5Overlap, Top1, Among, Count;
    public double Milliseconds, MaxAbs, SumAbs;
    public long Values;
    public float[]? LastLogits;
    public readonly List<float> Reference = new(), Candidate = new();
    private readonly List<double> _perImage = new();
    private readonly List<float> _tensorReference = new(), _tensorCandidate = new();
    private readonly List<double> _embeddingCosine = new();

    public void Add(float[] reference, float[] candidate, int? label, int[] classIndices)
    {
        Count++;
        LastLogits = candidate;
        if (Stats.ArgMax(reference) == Stats.ArgMax(candidate)) Agree++;
        Top5Overlap += Stats.TopK(reference, 5).Intersect(Stats.TopK(candidate, 5)).Count();
        if (label is { } known)
        {
            if (Stats.ArgMax(candidate) == known) Top1++;
            if (classIndices.MaxBy(c => candidate[c]) == known) Among++;
        }
        _perImage.Add(Stats.Pearson(reference, candidate));
        Reference.AddRange(reference);
        Candidate.AddRange(candidate);
        for (var i = 0; i < reference.Length; i++)
        {
            var d = Math.Abs(reference[i] - candidate[i]);
            MaxAbs = Math.Max(MaxAbs, d);
            SumAbs += d;
        }
        Values += reference.Length;
    }

    public void AddTensor(float[] reference, Tensor<float> candidate)
    {
        _tensorReference.AddRange(reference);
        _tensorCandidate.AddRange(candidate);
        if (candidate.Rank == 4)
        {
            var shaped = new DenseTensor<float>(reference, candidate.Dimensions);
            _embeddingCosine.Add(Stats.Cosine(Stats.SpatialMean(shaped), Stats.SpatialMean(candidate)));
        }
    }

    public void Print(int n) => Console.WriteLine(
        $"{Name,-16} {$"{Agree}/{n} = {100.0 * Agree / n:F2}%",-18} {$"{100.0 * Top5Overlap / (5.0 * n):F2}%",-14} " +
        $"{$"{Stats.Pearson(Reference.ToArray(), Candidate.ToArray()):F5} / {_perImage.Average():F5} / {_perImage.Min():F5}",-48} " +
        $"{SumAbs / Values,-15:F4} {MaxAbs,-14:F4} {(Milliseconds > 0 ? $"{Milliseconds / n:F1}" : "")}");

    public void PrintTensor(string tensorName)
    {
        Console.WriteLine($"tensor '{tensorName}' {Name}: Pearson {Stats.Pearson(_tensorReference.ToArray(), _tensorCandidate.ToArray()):F5}; " +
            $"max |diff| {_tensorReference.Zip(_tensorCandidate, (x, y) => Math.Abs(x - y)).Max():F4}" +
            (_embeddingCosine.Count > 0 ? $"; spatial-mean cosine per image mean {_embeddingCosine.Average():F5}, min {_embeddingCosine.Min():F5}" : ""));
    }
}

/// <summary>Small statistics over logit vectors.</summary>
static class Stats
{
    public static int ArgMax(float[] v) => Array.IndexOf(v, v.Max());

    public static int[] TopK(float[] v, int k) => v.Select((x, i) => (x, i)).OrderByDescending(t => t.x).Take(k).Select(t => t.i).ToArray();

    public static double Pearson(float[] a, float[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            double da = a[i] - ma, db = b[i] - mb;
            sab += da * db; saa += da * da; sbb += db * db;
        }
        return sab / Math.Sqrt(saa * sbb);
    }

    public static double Cosine(float[] a, float[] b)
    {
        double ab = 0, aa = 0, bb = 0;
        for (var i = 0; i < a.Length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return ab / Math.Sqrt(aa * bb);
    }

    public static float[] SpatialMean(Tensor<float> t)
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
}
