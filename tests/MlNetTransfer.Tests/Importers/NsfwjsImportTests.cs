using MlNetTransfer.Backbones.Importers;
using Xunit.Abstractions;

namespace MlNetTransfer.Tests.Importers;

/// <summary>
/// The numerical proof on a real network: nsfwjs' MobileNetV2 (bundled .min.js form, uint8-quantized weights), as
/// installed by <c>npm ci --prefix tests/js</c>, run by TensorFlow.js in node and by ONNX Runtime after import.
/// </summary>
public sealed class NsfwjsImportTests(ITestOutputHelper log)
{
    [Fact]
    public void MobileNetV2_matches_tfjs_on_every_output_and_the_embedding()
    {
        TfjsNode.RequirePackages();
        var result = TfjsLayersImporter.Import(TfjsNode.NsfwjsModel("mobilenet_v2"));

        Assert.Equal(["input_1"], result.InputNames);
        Assert.Equal(["dense_3"], result.OutputNames);
        Assert.Equal("flatten_1", result.EmbeddingTensor); // AveragePooling2D 7×7 → Flatten: the 1280-d pooled features
        Assert.Equal((224, 224, "NHWC"), (result.Spec.InputWidth, result.Spec.InputHeight, result.Spec.Layout));
        Assert.True(result.Spec.ClassifierOutputsProbabilities);

        var refFile = Path.Combine(Path.GetTempPath(), $"mlnet-transfer-nsfwjs-{Guid.NewGuid():N}.json");
        try
        {
            TfjsNode.Run("nsfwjs", "MobileNetV2", refFile, "--count", "2", "--seed", "20261123", "--layers", result.EmbeddingTensor!);
            var reference = TfjsReference.Load(refFile);
            Assert.Equal([2, 224, 224, 3], reference.Input.Shape);
            Assert.Equal(["dense_3", "flatten_1"], reference.Outputs.Keys.Order());

            var actual = OnnxEval.Run(result.Model, "input_1", reference.Input, reference.Outputs.Keys);
            foreach (var (name, expected) in reference.Outputs)
            {
                var diff = OnnxEval.MaxAbsDiff(expected, actual[name], name);
                log.WriteLine($"{name} [{string.Join(",", expected.Shape)}]: max |Δ| ORT vs tfjs = {diff:G3}");
                Assert.True(diff <= 1e-3, $"{name} differs from TensorFlow.js by {diff:G4}");
            }
            // The comparison is not vacuous: the images give different, non-trivial class probabilities.
            var probs = reference.Outputs["dense_3"].Data;
            Assert.Contains(probs.Take(5).Zip(probs.Skip(5)), p => Math.Abs(p.First - p.Second) > 1e-3);
            Assert.True(reference.Outputs["flatten_1"].Data.Count(v => v > 0) > 100);
        }
        finally
        {
            File.Delete(refFile);
        }
    }
}
