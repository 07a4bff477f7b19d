using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MlNetTransfer.Backbones;
using MlNetTransfer.Export;
using MlNetTransfer.Featurization;
using MlNetTransfer.Heads;
using MlNetTransfer.Tests.FineTuning;
using MlNetTransfer.Tests.Importers;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Export;

/// <summary>Every kind of zip exported to ONNX scores in ONNX Runtime (.NET and node) what it scores in ML.NET.</summary>
public sealed class OnnxExportTests(SyntheticFixture fixture, FineTuneFixture tuneData) : IClassFixture<SyntheticFixture>, IClassFixture<FineTuneFixture>
{
    private const float Tolerance = 1e-4f;

    private string[] Images(string dataDir, int count = 9) =>
        Directory.GetFiles(dataDir, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Where((_, i) => i % 3 == 0).Take(count).ToArray();

    private string TrainHead(TempDirectory dir, HeadTrainer trainer, EmbeddingNormalization normalization)
    {
        var options = new TransferLearningOptions
        {
            DataPath = fixture.DataDir,
            Backbone = BackboneResolver.SyntheticName,
            Head = { Trainer = trainer, Normalization = normalization, CrossValidationFolds = 0 },
            Featurizer = { CacheDirectory = fixture.CacheDir },
        };
        var zip = dir.Combine($"{trainer}-{normalization}.zip");
        new MLContext(1).TransferLearning().Train(options).Save(zip);
        return zip;
    }

    [Theory]
    [InlineData(HeadTrainer.Sdca, EmbeddingNormalization.MeanVariance)]
    [InlineData(HeadTrainer.Lbfgs, EmbeddingNormalization.MeanVariance)]
    [InlineData(HeadTrainer.Svm, EmbeddingNormalization.MeanVariance)]
    [InlineData(HeadTrainer.Lbfgs, EmbeddingNormalization.L2)]
    [InlineData(HeadTrainer.Sdca, EmbeddingNormalization.None)]
    public void FeatureExtractorZipsExportToTheSameProbabilities(HeadTrainer trainer, EmbeddingNormalization normalization)
    {
        using var dir = new TempDirectory();
        var zip = TrainHead(dir, trainer, normalization);
        AssertRoundTrip(zip, Images(fixture.DataDir), dir, runNode: trainer == HeadTrainer.Svm);
    }

    [Theory]
    [InlineData(TransferLearningOptions.FineTuneStrategy)]
    [InlineData(TransferLearningOptions.ChainThawStrategy)]
    public void FineTunedZipsExportToTheSameProbabilitiesAndRunInNode(string strategy)
    {
        using var dir = new TempDirectory();
        var options = new TransferLearningOptions
        {
            DataPath = tuneData.DataDir,
            Backbone = tuneData.BackboneFile("cnn"),
            Strategy = strategy,
            Seed = 4,
            FineTune = FineTuneFixture.Options(epochs: 2),
            Featurizer = { CacheDirectory = null, DegreeOfParallelism = 2 },
        };
        options.FineTune.HeadWarmupEpochs = 1; // chain-thaw's first phase
        var zip = dir.Combine("tuned.zip");
        new MLContext(1).TransferLearning().Train(options).Save(zip);
        AssertRoundTrip(zip, Images(tuneData.DataDir), dir, runNode: true);
    }

    [Fact]
    public void PretrainedClassifierZipExportsItsOwnScores()
    {
        using var dir = new TempDirectory();
        var onnx = dir.Combine("net.onnx");
        File.Copy(fixture.BackbonePath, onnx);
        File.WriteAllLines(dir.Combine("labels.txt"), Enumerable.Range(0, 10).Select(i => $"class {i}"));
        File.WriteAllText(BackboneResolver.SidecarPath(onnx),
            """{ "name": "tiny", "inputWidth": 64, "inputHeight": 64, "classifierTensor": "logits", "labelsFile": "labels.txt" }""");
        var zip = dir.Combine("pretrained.zip");
        new MLContext().TransferLearning().Pretrained(onnx).Save(zip);
        AssertRoundTrip(zip, Images(fixture.DataDir), dir, runNode: false);
    }

    [Fact]
    public void AHeadItCannotWriteIsNamedAndNothingIsWritten()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var backbone = BackbonePreparer.Prepare(BackboneResolver.Synthetic().Model, BackboneResolver.Synthetic().Spec);
        var featurizer = ImageFeaturizer.Fit(ml, ImageFeaturizer.CreateEstimator(ml, backbone));
        var rows = Directory.GetFiles(fixture.DataDir, "*.png", SearchOption.AllDirectories)
            .Select(p => new LabelledPath { ImagePath = p, Label = Path.GetFileName(Path.GetDirectoryName(p))! }).ToArray();
        var embedded = ml.Data.Cache(featurizer.Transform(ml.Data.LoadFromEnumerable(rows)));
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(embedded).Transform(embedded);
        // Binning is a normaliser the export does not write.
        var head = ml.Transforms.NormalizeBinning(ImageFeaturizer.EmbeddingColumn)
            .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", ImageFeaturizer.EmbeddingColumn, maximumNumberOfIterations: 5))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")).Fit(keyed);
        var zip = dir.Combine("binned.zip");
        ModelZip.Save(ml, new TransformerChain<ITransformer>(featurizer, head), new ModelMetadata { Classes = MlNetTransfer.Data.SyntheticImageDataset.Classes }, zip);

        var output = dir.Combine("binned.onnx");
        var e = Assert.Throws<MlNetTransferException>(() => ModelExport.ExportOnnx(zip, output));
        Assert.Contains("binned.zip", e.Message);
        Assert.Contains("BinNormalizerModelParameters", e.Message);
        Assert.False(File.Exists(output));

        var cli = CliRunner.Run(dir.Path, "export", "--model", zip, "--onnx", output);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("cannot be exported to ONNX", cli.All.ReplaceLineEndings(" "));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void CommandLineExportsAZipAndDescribesTheInput()
    {
        using var dir = new TempDirectory();
        var zip = TrainHead(dir, HeadTrainer.Sdca, EmbeddingNormalization.MeanVariance);
        var onnx = dir.Combine("out", "classifier.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(onnx)!);
        var result = CliRunner.Run(dir.Path, "export", "--model", zip, "--onnx", onnx);
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains("float32 [N, 3, 64, 64]", result.StdOut.Replace("\n", " "));
        using var session = new InferenceSession(onnx);
        Assert.Equal(["pixels"], session.InputMetadata.Keys);
        Assert.Equal(MlNetTransfer.Data.SyntheticImageDataset.Classes, JsonSerializer.Deserialize<string[]>(session.ModelMetadata.CustomMetadataMap[ModelExport.ClassesKey]));
        Assert.Contains("R, G, B", session.ModelMetadata.Description);
    }

    /// <summary>Exports the zip, then compares ONNX Runtime's scores on the zip chain's own pixels with the zip's scores.</summary>
    private static void AssertRoundTrip(string zip, string[] images, TempDirectory dir, bool runNode)
    {
        var ml = new MLContext(3);
        using var classifier = ImageClassifier.Load(ml, zip);
        var expected = classifier.PredictBatch(images);
        var onnxPath = dir.Combine(Path.GetFileNameWithoutExtension(zip) + ".onnx");
        var summary = classifier.ExportOnnx(onnxPath);
        var pixels = ChainPixels(ml, classifier, images);

        using var session = new InferenceSession(onnxPath);
        Assert.Equal(JsonSerializer.Serialize(classifier.Classes), session.ModelMetadata.CustomMetadataMap[ModelExport.ClassesKey]);
        int per = 3 * summary.Height * summary.Width;
        Assert.Equal(per, pixels[0].Length);
        for (int i = 0; i < images.Length; i++)
        {
            using var input = OrtValue.CreateTensorValueFromMemory(pixels[i], [1, 3, summary.Height, summary.Width]);
            using var results = session.Run(new RunOptions(), [ModelExport.InputName], [input], [ModelExport.ScoreOutput, ModelExport.LabelOutput]);
            var scores = results[0].GetTensorDataAsSpan<float>().ToArray();
            var want = expected[i].Scores.Select(s => s.Value).ToArray();
            Assert.Equal(want.Length, scores.Length);
            var delta = want.Zip(scores, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(delta <= Tolerance, $"{zip}, {images[i]}: max |Δ| {delta} (zip [{string.Join(", ", want)}], onnx [{string.Join(", ", scores)}])");
            Assert.Equal(expected[i].Label, results[1].GetStringElement(0));
        }

        if (!runNode) return;
        var pixelFile = dir.Combine("pixels.f32");
        File.WriteAllBytes(pixelFile, pixels.SelectMany(p => MemoryMarshal.AsBytes(p.AsSpan()).ToArray()).ToArray());
        var node = RunNode(onnxPath, pixelFile, images.Length, summary.Height, summary.Width);
        var top1 = node.GetProperty("top1").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var labels = node.GetProperty("labels").EnumerateArray().Select(e => e.GetString()).ToArray();
        Assert.Equal(expected.Select(p => classifier.Classes.ToList().IndexOf(p.Label)), top1);
        Assert.Equal(expected.Select(p => p.Label), labels);
    }

    /// <summary>The pixels the zip's own chain feeds its ONNX step: its LoadImages → ResizeImages → ExtractPixels, run as saved.</summary>
    private static float[][] ChainPixels(MLContext ml, ImageClassifier classifier, string[] images)
    {
        static IEnumerable<ITransformer> Flatten(ITransformer t) => t is IEnumerable<ITransformer> c ? c.SelectMany(Flatten) : [t];
        var prefix = new TransformerChain<ITransformer>(Flatten(classifier.Model).Take(3).ToArray());
        var view = prefix.Transform(ml.Data.LoadFromEnumerable(images.Select(p => new ImageFeaturizer.ImagePathRow { ImagePath = p })));
        var column = view.Schema.Last(c => c.Type is VectorDataViewType);
        using var cursor = view.GetRowCursor([column]);
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        var result = new List<float[]>();
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            result.Add(buffer.DenseValues().ToArray());
        }
        return result.ToArray();
    }

    private static JsonElement RunNode(string onnx, string pixels, int count, int height, int width)
    {
        if (!Directory.Exists(Path.Combine(TfjsNode.NodeModules, "onnxruntime-node")))
            Assert.Fail($"{Path.Combine(TfjsNode.NodeModules, "onnxruntime-node")} is missing: run `npm ci --prefix tests/js` (scripts/setup.sh does).");
        var psi = new ProcessStartInfo("node") { WorkingDirectory = TfjsNode.JsDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(TfjsNode.JsDirectory, "onnx-export-check.cjs"), onnx, pixels, $"{count}", $"{height}", $"{width}" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "node did not finish in 2 minutes");
        Assert.True(p.ExitCode == 0, $"node failed: {stderr.Result}");
        return JsonDocument.Parse(stdout.Result).RootElement.Clone();
    }

    private sealed class LabelledPath
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }
}
