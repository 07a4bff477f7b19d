// Calibrates the domain-similarity cut-offs: measures LogME, the k-NN probe gain over raw pixels, the top-layer gain
// (the probe on the embedding against the probe on a middle layer's pooled activations) and the ImageNet head's
// confidence with a real backbone (MobileNetV2 int8, ImageNet-1k) on data sets of known kind — natural photos
// (hymenoptera: ants and bees), the same photos degraded (grey, thumbnails, inverted, edges only), Fashion-MNIST
// product images, hand-drawn shapes (hds_shapes) and the generated synthetic shapes — and prints the combined score
// and the scenario each gets.
//
//   dotnet run -c Release --project bench/SimilarityCalibration -- [--model PATH] [--classes PATH] [--hymenoptera DIR]
//       [--hds DIR] [--fmnist100 DIR] [--fashion-source DIR] [--work DIR] [--depths 0.7,0.5,...]
//       [--backbone CATALOG-NAME [--mirror DIR]] [--only "data set name,..."]
//
// --depths: the middle layers tapped (default: DomainSimilarityOptions.MiddleLayerDepths); the similarity compares the
// embedding with the best of them, and every one's probe is printed.
//
// Defaults read the local mirror in /work/shared (see /work/shared/models/README.md); --work keeps the generated
// data sets and the embedding cache between runs.
using System.Diagnostics;
using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Strategy;
using SkiaSharp;

var modelPath = args.Arg("--model", "/work/shared/models/mobilenetv2-12-int8.onnx");
var classesPath = args.Arg("--classes", "/work/shared/models/imagenet_classes.txt");
var hymenoptera = args.Arg("--hymenoptera", "/work/shared/data/hymenoptera");
var fashionSource = args.Arg("--fashion-source", "/usr/share/datasets/fashion-mnist");
var hds = args.Arg("--hds", "/work/shared/data/hds_shapes");
var fmnist100 = args.Arg("--fmnist100", "/work/fmnist100");
var work = Path.GetFullPath(args.Arg("--work", Path.Combine(Path.GetTempPath(), "similarity-calibration")));
var depths = args.Arg("--depths", string.Join(",", new DomainSimilarityOptions().MiddleLayerDepths.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture))))
    .Split(',').Select(d => double.Parse(d, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
Directory.CreateDirectory(work);

// --backbone NAME takes a catalog backbone from the mirror instead of the ONNX file (e.g. mobilenet_v1_075, imported from TensorFlow.js).
var catalogName = args.Arg("--backbone", "");
var resolved = catalogName.Length == 0 ? null
    : BackboneResolver.Resolve(catalogName, new BackboneResolveOptions { Mirrors = { args.Arg("--mirror", "/work/shared/models") } });
var spec = resolved?.Spec ?? new BackboneSpec { Name = "mobilenetv2-12-int8", ClassifierTensor = "output", SourceDomain = "ImageNet-1k natural photos" };
var model = resolved?.Model ?? OnnxModelFile.Load(modelPath);
var only = args.Arg("--only", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
var backbone = BackbonePreparer.Prepare(model, spec);
var classifier = BackbonePreparer.PrepareClassifier(model, spec);
var imagenetClasses = File.ReadAllLines(classesPath).Where(l => l.Length > 0).ToArray();
Console.WriteLine($"backbone {spec.Name}: embedding '{backbone.Spec.EmbeddingTensor}' ({backbone.EmbeddingSize}-d), head {classifier.ClassCount} classes");

var ml = new MLContext(0);
var featurizerOptions = new ImageFeaturizerOptions { CacheDirectory = Path.Combine(work, "cache") };
var tap = BackbonePreparer.TapMiddleLayers(backbone, depths) ?? throw new InvalidOperationException("no middle layer to tap");
var extractor = new EmbeddingExtractor(ml, ImageFeaturizer.FitForBulk(ml, backbone, featurizerOptions, tap), backbone.Sha256, featurizerOptions, tap);
foreach (var layer in tap.Layers)
    Console.WriteLine($"middle layer '{layer.Tensor}': {layer.LayersBefore} of {layer.Layers} weight layers before it (depth {layer.Depth:0.00}), {layer.Size} channels");

var datasets = new List<(string Name, string Kind, List<(string Path, string Label)> Images)>
{
    ("hymenoptera", "natural photos (ImageNet-like)", Folder(hymenoptera)),
    ("hymenoptera 20/class", "natural photos, few", PerClass(Folder(hymenoptera), 20)),
    ("hymenoptera 8/class", "natural photos, very few", PerClass(Folder(hymenoptera), 8)),
    ("hymenoptera grey", "the same photos in grey, full size", Degraded(Folder(hymenoptera), Path.Combine(work, "hymenoptera-grey"), size: null, grey: true)),
    ("hymenoptera 32px", "the same photos as 32×32 colour thumbnails", Degraded(Folder(hymenoptera), Path.Combine(work, "hymenoptera-32"), size: 32, grey: false)),
    ("hymenoptera grey 28px", "the same photos as 28×28 grey thumbnails", Degraded(Folder(hymenoptera), Path.Combine(work, "hymenoptera-grey28"), size: 28, grey: true)),
    ("fashion-mnist 10×40", "grey 28×28 product images", Fashion("fashion10x40", Enumerable.Range(0, 10).ToArray(), 40)),
    ("fashion-mnist 10×200", "grey 28×28 product images", Fashion("fashion10x200", Enumerable.Range(0, 10).ToArray(), 200)),
    ("fashion-mnist 10×8", "grey 28×28 product images, very few", PerClass(Fashion("fashion10x40", Enumerable.Range(0, 10).ToArray(), 40), 8)),
    ("fashion-mnist sandal/sneaker ×200", "grey 28×28 product images, 2 classes", Fashion("fashion-sandal-sneaker", [5, 7], 200)),
    ("fashion-mnist sandal/sneaker ×8", "grey 28×28 product images, 2 classes, very few", PerClass(Fashion("fashion-sandal-sneaker", [5, 7], 200), 8)),
    ("fashion-mnist pullover/coat ×200", "grey 28×28 product images, 2 classes", Fashion("fashion-pullover-coat", [2, 4], 200)),
    ("hymenoptera inverted", "the same photos, colours inverted", Degraded(Folder(hymenoptera), Path.Combine(work, "hymenoptera-inverted"), size: null, grey: false, Negative)),
    ("hymenoptera edges", "the same photos as dark edges on white (a sketch-like rendering)", Degraded(Folder(hymenoptera), Path.Combine(work, "hymenoptera-edges"), size: 224, grey: false, Edges)),
    ("hds_shapes train", "hand-drawn shapes (sketches), 4 classes", Folder(Path.Combine(hds, "train"))),
    ("fmnist100 train", "Fashion-MNIST 100/class, the repository's subset", Folder(Path.Combine(fmnist100, "train"))),
    ("synthetic shapes 3×100", "generated shapes on noise", Folder(SyntheticImageDataset.Write(Path.Combine(work, "synthetic"), imagesPerClass: 100, size: 128, seed: 7))),
};

if (only.Length > 0) datasets.RemoveAll(d => !only.Contains(d.Name));
var rows = new List<string>();
var depthRows = new List<string>();
foreach (var (name, kind, images) in datasets)
{
    var watch = Stopwatch.StartNew();
    var paths = images.Select(i => i.Path).ToList();
    var classNames = images.Select(i => i.Label).Distinct().Order().ToList();
    var labels = images.Select(i => classNames.IndexOf(i.Label)).ToArray();
    var (embeddings, middle) = extractor.ExtractWithMiddle(paths);
    var featurizeSeconds = watch.Elapsed.TotalSeconds;
    var pixels = PixelBaseline.Compute(paths);
    var probabilities = SourceHeadPredictions.Predict(ml, classifier, paths, featurizerOptions);
    watch.Restart();
    var similarity = DomainSimilarity.Measure(embeddings, labels, pixels, probabilities, imagenetClasses,
        middleLayers: tap.Split(middle!).Select((rows, k) => new MiddleLayerFeatures(tap.Layers[k].Tensor, tap.Layers[k].Depth, rows)).ToList());
    var size = DatasetSize.FromLabels(labels);
    var decision = ScenarioMatrix.Choose(size, similarity);
    var measureSeconds = watch.Elapsed.TotalSeconds;

    Console.WriteLine();
    Console.WriteLine($"== {name} — {kind}: {images.Count} images, {classNames.Count} classes (featurize {featurizeSeconds:0.0} s, measure {measureSeconds:0.0} s)");
    var l = similarity.LogMe!; var lb = similarity.BaselineLogMe!; var p = similarity.Probe!; var h = similarity.SourceHead!;
    Console.WriteLine($"   LogME embeddings {l.Score:0.000}   LogME pixels {lb.Score:0.000}");
    Console.WriteLine($"   k-NN balanced accuracy: embeddings {p.Embedding.BalancedAccuracy:0.000}, pixels {p.Baseline.BalancedAccuracy:0.000}, error reduction {p.ErrorReduction:0.000}");
    Console.WriteLine($"   ImageNet head: mean max-prob {h.MeanMaxProbability:0.000}, mean normalized entropy {h.MeanNormalizedEntropy:0.000}, distinct top-1 {h.DistinctTop1Classes}"
        + $" ({string.Join(", ", h.MostFrequentTop1.Take(3).Select(s => $"{s.Name} {s.Share:P0}"))})");
    var t = similarity.TopLayer!;
    Console.WriteLine($"   top layers: k-NN embeddings {t.Embedding.BalancedAccuracy:0.000}, best middle '{t.Tensor}' (depth {t.Depth:0.00}, {t.Middle.Dimension}-d) {t.Middle.BalancedAccuracy:0.000}, error reduction {t.ErrorReduction:0.000}");
    foreach (var layer in t.Layers)
        Console.WriteLine($"   middle layer '{layer.Tensor}' (depth {layer.Depth:0.00}, {layer.Probe.Dimension}-d): k-NN {layer.Probe.BalancedAccuracy:0.000}, embedding removes {ProbeComparison.ErrorReduction(t.Embedding.BalancedAccuracy, layer.Probe.BalancedAccuracy):0.000} of its errors");
    var perLayer = t.Layers.Select(l => $"{l.Probe.BalancedAccuracy:0.000} / {ProbeComparison.ErrorReduction(t.Embedding.BalancedAccuracy, l.Probe.BalancedAccuracy):0.00}");
    foreach (var c in similarity.Components) Console.WriteLine($"   component {c.Name,-22} value {c.Value,7:0.000} → score {c.Score:0.00} (different ≤ {c.DifferentAt}, similar ≥ {c.SimilarAt}, weight {c.Weight:0.00})");
    Console.WriteLine($"   similarity {similarity.Score:0.00} → {decision.Scenario}");
    string S(string component) => similarity.Components.Single(c => c.Name == component).Score.ToString("0.00");
    rows.Add($"| {name} | {images.Count} | {classNames.Count} | {l.Score:0.000} | {lb.Score:0.000} | {l.Score - lb.Score:0.000} → {S("logme-gain")} | {p.Embedding.BalancedAccuracy:0.000} | {p.Baseline.BalancedAccuracy:0.000} | {p.ErrorReduction:0.00} → {S("probe-error-reduction")} | {h.MeanMaxProbability:0.000} → {S("source-head-confidence")} | {h.MeanNormalizedEntropy:0.000} | {h.DistinctTop1Classes} | {t.Middle.BalancedAccuracy:0.000} | {t.ErrorReduction:0.00} → {S("top-layer-gain")} | **{similarity.Score:0.00}** | {decision.Scenario} |");
    depthRows.Add($"| {name} | {t.Embedding.BalancedAccuracy:0.000} | {string.Join(" | ", perLayer)} |");
}
Console.WriteLine();
Console.WriteLine("| data set | images | classes | LogME emb | LogME pix | LogME gain → score | k-NN emb | k-NN pix | error reduction → score | head max-prob → score | head entropy | distinct top-1 | k-NN middle | top-layer gain → score | similarity | scenario |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
foreach (var r in rows) Console.WriteLine(r);
Console.WriteLine();
Console.WriteLine($"| data set | k-NN emb | {string.Join(" | ", tap.Layers.Select(l => $"'{l.Tensor}' depth {l.Depth:0.00} ({l.Size}-d): k-NN / gain"))} |");
Console.WriteLine($"|---|---:|{string.Concat(tap.Layers.Select(_ => "---:|"))}");
foreach (var r in depthRows) Console.WriteLine(r);

static List<(string Path, string Label)> Folder(string root)
{
    // A folder of class folders, or of split folders (train/val/test) of class folders.
    var splits = new[] { "train", "val", "validation", "test" }.Select(s => Path.Combine(root, s)).Where(Directory.Exists).ToList();
    var parents = splits.Count > 0 ? splits : [root];
    return parents.SelectMany(parent => Directory.GetDirectories(parent).SelectMany(dir =>
            Directory.GetFiles(dir).Where(f => ImageFileValidator.Validate(f).IsValid).Select(f => (f, Path.GetFileName(dir)))))
        .OrderBy(i => i.Item1, StringComparer.Ordinal).ToList();
}

static List<(string Path, string Label)> PerClass(List<(string Path, string Label)> images, int n)
    => images.GroupBy(i => i.Label).SelectMany(g => g.OrderBy(i => Path.GetFileName(i.Path), StringComparer.Ordinal).Take(n)).ToList();

List<(string Path, string Label)> Fashion(string name, int[] classes, int perClass)
{
    var dir = Path.Combine(work, name);
    if (!Directory.Exists(dir))
        FashionMnistExporter.Export(dir, new FashionMnistExportOptions
        {
            SourceDirectory = fashionSource, Classes = classes, TrainPerClass = perClass, ValidationPerClass = 0, TestPerClass = 0,
        });
    return Folder(dir);
}

// Each photo's centre square, optionally shrunk to size×size and/or made grey, as PNG: the same content, stripped of
// colour and/or resolution, a graded step away from ImageNet photos.
static List<(string Path, string Label)> Degraded(List<(string Path, string Label)> images, string dir, int? size, bool grey, Action<SKBitmap>? transform = null)
{
    var list = new List<(string, string)>();
    foreach (var (path, label) in images)
    {
        var file = Path.Combine(dir, label, Path.GetFileNameWithoutExtension(path) + ".png");
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            using var source = SKBitmap.Decode(path);
            var side = Math.Min(source.Width, source.Height);
            var target = size ?? side;
            using var result = new SKBitmap(new SKImageInfo(target, target, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
            using (var canvas = new SKCanvas(result))
            using (var image = SKImage.FromBitmap(source))
            using (var paint = new SKPaint())
                canvas.DrawImage(image, SKRectI.Create((source.Width - side) / 2, (source.Height - side) / 2, side, side), SKRect.Create(target, target),
                    new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear), paint);   // SkiaSharp 2's High when shrinking
            transform?.Invoke(result);
            using var data = result.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(file, data.ToArray());
        }
        list.Add((file, label));
    }
    return list;
}

// The photo's colour negative: the same shapes and edges, every intensity flipped.
static void Negative(SKBitmap bitmap)
{
    var pixels = bitmap.Pixels;
    for (int i = 0; i < pixels.Length; i++)
        pixels[i] = new SKColor((byte)(255 - pixels[i].Red), (byte)(255 - pixels[i].Green), (byte)(255 - pixels[i].Blue), pixels[i].Alpha);
    bitmap.Pixels = pixels;
}

// Sobel edge magnitude of the grey photo, drawn dark on white: outlines without texture or shading, like a sketch.
static void Edges(SKBitmap bitmap)
{
    int w = bitmap.Width, h = bitmap.Height;
    var pixels = bitmap.Pixels;
    var grey = pixels.Select(p => (p.Red + p.Green + p.Blue) / 3.0).ToArray();
    var magnitude = new double[w * h];
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++)
        {
            double G(int dx, int dy) => grey[(y + dy) * w + x + dx];
            var gx = G(1, -1) + 2 * G(1, 0) + G(1, 1) - G(-1, -1) - 2 * G(-1, 0) - G(-1, 1);
            var gy = G(-1, 1) + 2 * G(0, 1) + G(1, 1) - G(-1, -1) - 2 * G(0, -1) - G(1, -1);
            magnitude[y * w + x] = Math.Sqrt(gx * gx + gy * gy);
        }
    // Strong edges black, the rest white: the 85th percentile of the magnitude is the line threshold.
    var threshold = magnitude.Order().ElementAt((int)(0.85 * magnitude.Length));
    for (int i = 0; i < pixels.Length; i++)
    {
        var v = magnitude[i] > threshold ? (byte)0 : (byte)255;
        pixels[i] = new SKColor(v, v, v);
    }
    bitmap.Pixels = pixels;
}
