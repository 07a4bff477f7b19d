using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Export;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;
using SkiaSharp;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>Grad-CAM (<see cref="GradCam"/>, <see cref="ImageClassifier.Explain"/>): the map lies where the evidence is,
/// its channel weights are the spatially averaged gradients, and it runs on every kind of zip.</summary>
[Collection(ExactTrainingCollection.Name)]
public sealed class GradCamTests(FineTuneFixture tuneData) : IClassFixture<FineTuneFixture>
{
    private const int Size = 32;
    private const int Square = 8;

    /// <summary>A network whose only evidence is brightness: a 1×1 convolution makes a "bright" channel (mean RGB above
    /// one half) and a "dark" one, ReLU, global average pool. A bright square is all that separates the classes.</summary>
    private static string BrightnessBackbone(TempDirectory dir)
    {
        var b = new OnnxModelBuilder(graphName: "brightness");
        var x = b.Input("input", DataType.Float, -1, 3, Size, Size);
        const float third = 1f / 3;
        x = b.Conv("detect/conv", x, [third, third, third, -third, -third, -third], [2, 3, 1, 1], [-0.5f, 0.5f]);
        x = b.Relu("detect/relu", x);
        x = b.GlobalAveragePool("pool", x);
        b.Flatten("flatten", x, output: "embedding");
        var path = dir.Combine("backbone", "brightness.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        OnnxModelFile.Save(b.Output("embedding", DataType.Float, -1, 2).Build(), path);
        File.WriteAllText(BackboneResolver.SidecarPath(path),
            $$"""{ "name": "brightness", "inputWidth": {{Size}}, "inputHeight": {{Size}}, "mean": [0,0,0], "std": [1,1,1], "embeddingTensor": "embedding" }""");
        return path;
    }

    /// <summary>Dark noise, with a bright square at (<paramref name="left"/>, <paramref name="top"/>) when given.</summary>
    private static void WriteImage(string path, Random random, (int Left, int Top)? square)
    {
        using var bitmap = new SKBitmap(Size, Size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                var inside = square is var (l, t) && x >= l && x < l + Square && y >= t && y < t + Square;
                byte v() => (byte)(inside ? random.Next(215, 256) : random.Next(0, 60));
                bitmap.SetPixel(x, y, new SKColor(v(), v(), v()));
            }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    private static string SquareZip(TempDirectory dir, EmbeddingNormalization normalization = EmbeddingNormalization.MeanVariance)
    {
        var data = dir.Combine("squares");
        var random = new Random(11);
        for (int i = 0; i < 16; i++)
        {
            WriteImage(Path.Combine(data, "square", $"s{i:00}.png"), random, (random.Next(0, Size - Square), random.Next(0, Size - Square)));
            WriteImage(Path.Combine(data, "plain", $"p{i:00}.png"), random, null);
        }
        var options = new TransferLearningOptions
        {
            DataPath = data,
            Backbone = BrightnessBackbone(dir),
            Head = { Normalization = normalization, CrossValidationFolds = 0 },
            Featurizer = { CacheDirectory = null },
            Dataset = { MinImagesPerClass = 1 },
        };
        var zip = dir.Combine($"squares-{normalization}.zip");
        new MLContext(1).TransferLearning().Train(options).Save(zip);
        return zip;
    }

    /// <summary>The share of the map's mass inside the square (one grid cell of margin for the bilinear resize's edge).</summary>
    private static double MassInside(ClassActivationMap map, int left, int top)
    {
        Assert.Equal((Size, Size), (map.GridWidth, map.GridHeight)); // a 1×1 convolution keeps the grid at the input's size
        double inside = 0, total = 0;
        for (int y = 0; y < map.GridHeight; y++)
            for (int x = 0; x < map.GridWidth; x++)
            {
                var v = map.Values[y * map.GridWidth + x];
                total += v;
                if (x >= left - 1 && x <= left + Square && y >= top - 1 && y <= top + Square) inside += v;
            }
        return inside / total;
    }

    [Fact]
    public void The_heat_map_lies_on_the_square_that_decides_the_class()
    {
        using var dir = new TempDirectory("mlnt-gradcam");
        var zip = SquareZip(dir);
        using var classifier = ImageClassifier.Load(zip);
        var random = new Random(5);
        foreach (var (left, top) in new[] { (2, 2), (22, 21), (3, 20) })
        {
            var image = dir.Combine("probe", $"square-{left}-{top}.png");
            WriteImage(image, random, (left, top));
            var map = classifier.Explain(image);
            Assert.Equal("square", map.Prediction.Label);
            Assert.Equal("square", map.Class);
            Assert.NotEmpty(map.Layer);
            var mass = MassInside(map, left, top);
            Assert.True(mass > 0.95, $"only {mass:P1} of the map lies on the square at ({left}, {top})");
            Assert.Equal(1f, map.Values.Max());
        }
    }

    [Fact]
    public void The_channel_weights_are_the_spatially_averaged_gradients()
    {
        // An L2-normalised head makes the score a non-linear function of the activations.
        using var dir = new TempDirectory("mlnt-gradcam");
        var options = new TransferLearningOptions
        {
            DataPath = tuneData.DataDir,
            Backbone = tuneData.BackboneFile("cnn"),
            Head = { Normalization = EmbeddingNormalization.L2, CrossValidationFolds = 0 },
            Featurizer = { CacheDirectory = null },
        };
        var zip = dir.Combine("cnn-l2.zip");
        new MLContext(1).TransferLearning().Train(options).Save(zip);
        using var classifier = ImageClassifier.Load(zip);
        using var mapper = HeatMapper.Create(classifier, new TorchSharpFineTuningEngine());
        var chain = SavedChain.Read(classifier.Model, zip);
        using var cam = GradCam.Load(chain, classifier.Classes.Count, zip);

        foreach (var example in tuneData.Validation.Take(3))
        {
            var pixels = mapper.Pixels(example.Path);
            var zipScores = classifier.Predict(example.Path).Scores.Select(s => s.Value).ToArray();
            for (int target = 0; target < classifier.Classes.Count; target++)
            {
                var output = cam.Compute(pixels, target);
                Assert.Equal(target, output.TargetClass);
                Assert.True(zipScores.Zip(output.Scores).Max(p => Math.Abs(p.First - p.Second)) < 1e-4,
                    $"Grad-CAM's forward pass scores [{string.Join(", ", output.Scores)}], the zip [{string.Join(", ", zipScores)}]");
                int grid = output.GridHeight * output.GridWidth;
                Assert.True(output.Channels >= 8 && grid > 1);

                // αₖ · h · w = Σᵢⱼ ∂y/∂Aₖᵢⱼ = d y(A + ε·1ₖ)/dε, by central differences in double-checked float.
                const float eps = 1e-2f;
                for (int k = 0; k < output.Channels; k++)
                {
                    var plus = (float[])output.Activations.Clone();
                    var minus = (float[])output.Activations.Clone();
                    for (int i = 0; i < grid; i++) { plus[k * grid + i] += eps; minus[k * grid + i] -= eps; }
                    var numeric = (cam.ClassScores(plus)[target] - (double)cam.ClassScores(minus)[target]) / (2 * eps);
                    var analytic = output.Weights[k] * (double)grid;
                    Assert.True(Math.Abs(numeric - analytic) <= 1e-3 + 2e-2 * Math.Abs(analytic),
                        $"channel {k}, class {target}: finite difference {numeric}, Grad-CAM weight × grid {analytic}");
                }

                // The map is ReLU(Σₖ αₖ Aₖ), computed here independently from the returned activations and weights.
                for (int i = 0; i < grid; i++)
                {
                    double sum = 0;
                    for (int k = 0; k < output.Channels; k++) sum += output.Weights[k] * output.Activations[k * grid + i];
                    Assert.Equal(Math.Max(0, sum), output.Cam[i], 4);
                }
            }
        }
    }

    [Fact]
    public void Fine_tuned_and_int8_prefix_zips_are_explained_with_the_zips_own_scores()
    {
        using var dir = new TempDirectory("mlnt-gradcam");
        var ml = new MLContext(1);
        var views = new Func<IEnumerable<MlNetTransfer.Data.ImageExample>, IDataView>(examples =>
            ml.Data.LoadFromEnumerable(examples.Select(e => new LabelledPath { ImagePath = e.Path, Label = e.Label })));

        // A float fine-tuned network, and one fine-tuned behind the backbone's own int8 layers (a mixed int8/float graph).
        var float32 = FineTuneFixture.Options(epochs: 1);
        var int8 = FineTuneFixture.Options(epochs: 1);
        int8.FreezeFraction = 0.6;
        int8.FrozenPrefixEngine = FrozenPrefixEngine.OnnxRuntimeInt8;
        foreach (var (name, options, backbone, tolerance) in new[]
                 {
                     ("float", float32, FineTuneFixture.Backbone(), 1e-4),
                     // The float twin has the int8 graph's clipping but not its rounding to the 8-bit grid.
                     ("int8", int8, Int8PrefixTests.Int8Backbone(), 0.05),
                 })
        {
            options.ValidationSet = views(tuneData.Validation);
            using var result = new FineTuningTrainer(ml, options, backbone).Train(views(tuneData.Train));
            if (name == "int8") Assert.True(result.Run.KeepsInt8Prefix, result.Run.Int8PrefixFallback);
            var zip = dir.Combine($"{name}.zip");
            ModelZip.Save(ml, result.Model, new ModelMetadata { Classes = result.Classes.ToList() }, zip);

            using var classifier = ImageClassifier.Load(zip);
            foreach (var example in tuneData.Validation.Take(4))
            {
                var map = classifier.Explain(example.Path);
                var zipScores = map.Prediction.Scores.Select(s => s.Value).ToArray();
                using var mapper = HeatMapper.Create(classifier, new TorchSharpFineTuningEngine());
                var output = mapper.Compute(example.Path, null);
                var delta = zipScores.Zip(output.Scores).Max(p => Math.Abs(p.First - p.Second));
                Assert.True(delta <= tolerance, $"{name}: Grad-CAM's network scores [{string.Join(", ", output.Scores)}], the zip [{string.Join(", ", zipScores)}]");
                Assert.Equal(map.Prediction.Label, map.Class);
                Assert.Equal(map.GridWidth * map.GridHeight, map.Values.Count);
                Assert.All(map.Values, v => Assert.InRange(v, 0f, 1f));
            }
        }
    }

    [Fact]
    public void A_head_without_gradients_and_an_unknown_class_are_named()
    {
        using var dir = new TempDirectory("mlnt-gradcam");
        var zip = SquareZip(dir);
        using var classifier = ImageClassifier.Load(zip);
        var image = dir.Combine("probe.png");
        WriteImage(image, new Random(1), (4, 4));
        var e = Assert.Throws<MlNetTransferException>(() => classifier.Explain(image, "triangle"));
        Assert.Contains("has no class 'triangle'", e.Message);
        Assert.Contains("square", e.Message);
        var explained = classifier.Explain(image, "plain");
        Assert.Equal("plain", explained.Class);
        Assert.Equal("square", explained.Prediction.Label);

        var missing = Assert.Throws<MlNetTransferException>(() => HeatMapper.Create(classifier, engine: null));
        Assert.Contains(FineTuningEngines.PackageName, missing.Message);

        // Trees have no gradients: the zip is named, and why.
        var options = new TransferLearningOptions
        {
            DataPath = dir.Combine("squares"),
            Backbone = dir.Combine("backbone", "brightness.onnx"),
            Head = { Trainer = HeadTrainer.LightGbm, CrossValidationFolds = 0 },
            Featurizer = { CacheDirectory = null },
            Dataset = { MinImagesPerClass = 1 },
        };
        var trees = dir.Combine("trees.zip");
        new MLContext(1).TransferLearning().Train(options).Save(trees);
        using var forest = ImageClassifier.Load(trees);
        var noGradients = Assert.Throws<MlNetTransferException>(() => forest.Explain(image));
        Assert.Contains("trees.zip", noGradients.Message);
        Assert.Contains("has no heat maps", noGradients.Message);
    }

    private sealed class LabelledPath
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }
}
