using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Tests.TestSupport;
using TorchSharp;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The ML.NET estimator: composes with Append, returns a chain that predicts through ONNX Runtime, saves to a zip
/// that predicts alone in a fresh MLContext exactly as the trained TorchSharp module does.</summary>
public sealed class FineTuningTrainerTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private IDataView View(MLContext ml, IEnumerable<MlNetTransfer.Data.ImageExample> examples) =>
        ml.Data.LoadFromEnumerable(examples.Select(e => new LabelledImageRow { ImagePath = e.Path, Label = e.Label }));

    [Fact]
    public void SavedZipPredictsAloneAndAgreesWithTheTrainedModule()
    {
        var ml = new MLContext(1);
        var options = FineTuneFixture.Options(epochs: 3);
        options.ValidationSet = View(ml, data.Validation);
        var trainer = new FineTuningTrainer(ml, options, FineTuneFixture.Backbone());
        using var result = trainer.Train(View(ml, data.Train));

        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        ml.Model.Save(result.Model, View(ml, []).Schema, zip);

        // A fresh context, only the zip: image path in, Score and a text PredictedLabel out, no Label column needed.
        var fresh = new MLContext(2);
        var loaded = fresh.Model.Load(zip, out _);
        var paths = data.Validation.Select(e => e.Path).ToList();
        var input = fresh.Data.LoadFromEnumerable(paths.Select(p => new Featurization.ImageFeaturizer.ImagePathRow { ImagePath = p }));
        var output = loaded.Transform(input);
        Assert.Equal(TextDataViewType.Instance, output.Schema["PredictedLabel"].Type);
        var predictions = fresh.Data.CreateEnumerable<ClassPrediction>(output, reuseRowObject: false).ToList();

        // The same images through the trained TorchSharp module: softmax of its logits.
        var reader = FineTuneFixture.Reader;
        var pixels = new float[paths.Count * reader.Length];
        var planes = new byte[reader.Length];
        for (int i = 0; i < paths.Count; i++)
        {
            reader.Read(paths[i], planes);
            for (int k = 0; k < planes.Length; k++) pixels[i * reader.Length + k] = planes[k];
        }
        float[] expected;
        result.Module.eval();
        using (torch.no_grad())
            expected = torch.nn.functional.softmax(result.Module.forward(torch.tensor(pixels, [paths.Count, 3, FineTuneFixture.ImageSize, FineTuneFixture.ImageSize])), 1)
                .data<float>().ToArray();

        for (int i = 0; i < paths.Count; i++)
        {
            var score = predictions[i].Score;
            Assert.Equal(3, score.Length);
            for (int c = 0; c < 3; c++)
                Assert.True(Math.Abs(score[c] - expected[i * 3 + c]) < 1e-4, $"image {i} class {c}: zip {score[c]}, TorchSharp {expected[i * 3 + c]}");
            var best = Enumerable.Range(0, 3).MaxBy(c => expected[i * 3 + c]);
            Assert.Equal(result.Classes[best], predictions[i].PredictedLabel);
        }
        // It learned something: most validation images are right.
        Assert.True(predictions.Zip(data.Validation).Count(p => p.First.PredictedLabel == p.Second.Label) >= data.Validation.Count * 0.7);
    }

    [Fact]
    public void TrainsOnTheSameCropThatTheSavedZipPredictsOn()
    {
        // A backbone with a baked-in centre crop takes images resized to size / 0.8 (40 px here) and cuts the middle 32 px:
        // training must feed the same 40 px images, or it learns one scale and the zip predicts at another.
        var ml = new MLContext(1);
        var backbone = FineTuneFixture.Backbone();
        backbone = backbone with { Spec = backbone.Spec with { CropFraction = 0.8f } };
        var options = FineTuneFixture.Options(epochs: 2);
        options.ValidationSet = View(ml, data.Validation);
        var trainer = new FineTuningTrainer(ml, options, backbone);
        using var result = trainer.Train(View(ml, data.Train));

        var output = result.Model.Transform(View(ml, data.Validation));
        var predictions = ml.Data.CreateEnumerable<ClassPrediction>(output, reuseRowObject: false).ToList();
        var classes = result.Classes.ToList();
        var zipLoss = predictions.Zip(data.Validation).Average(p => -Math.Log(Math.Max(p.First.Score[classes.IndexOf(p.Second.Label)], 1e-12)));
        var trainerLoss = result.Run.Epochs.Single(e => e.Epoch == result.Run.BestEpoch).ValidationLoss;
        Assert.True(Math.Abs(zipLoss - trainerLoss) < 1e-4, $"validation loss while training {trainerLoss}, through the saved chain {zipLoss}");
    }

    [Fact]
    public void PreparesAnInt8BackboneCutAtAQuantizedTensorAlsoAfterItsWeightsAreReinitialised()
    {
        // Catalog int8 entries name a quantized activation ('s_quantized' here, '627_quantized' for the zoo MobileNetV2);
        // from-scratch runs re-initialise, which dequantizes first, so both graphs must find its float version 's'.
        var int8 = MlNetTransfer.Backbones.Onnx.QuantizedModelBuilder.Build().QOperator;
        var spec = new MlNetTransfer.Backbones.BackboneSpec { Name = "int8-test", InputWidth = 16, InputHeight = 16, EmbeddingTensor = "s_quantized" };
        var pretrained = FineTuningTrainer.PrepareBackbone(new MlNetTransfer.Backbones.ResolvedBackbone(int8, spec, "generated"));
        var scratch = FineTuningTrainer.PrepareBackbone(new MlNetTransfer.Backbones.ResolvedBackbone(
            MlNetTransfer.Backbones.Onnx.WeightReinitializer.Reinitialize(int8, seed: 5), spec, "generated, re-initialised"));
        Assert.Equal("s", pretrained.Spec.EmbeddingTensor);
        Assert.Equal("s", scratch.Spec.EmbeddingTensor);
        Assert.Equal(pretrained.EmbeddingSize, scratch.EmbeddingSize);
        Assert.NotEqual(pretrained.Sha256, scratch.Sha256);
    }

    [Fact]
    public void ComposesWithAppendAndTakesKeyLabels()
    {
        var ml = new MLContext(1);
        var options = FineTuneFixture.Options(epochs: 1);
        options.ValidationSetFraction = 0.2f;
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(new FineTuningTrainer(ml, options, FineTuneFixture.Backbone()));
        var model = pipeline.Fit(View(ml, data.Train));
        var scored = model.Transform(View(ml, data.Validation));
        Assert.Equal(TextDataViewType.Instance, scored.Schema["PredictedLabel"].Type);
        var labels = ml.Data.CreateEnumerable<ClassPrediction>(scored, reuseRowObject: false).Select(p => p.PredictedLabel).ToList();
        Assert.Equal(data.Validation.Count, labels.Count);
        Assert.All(labels, l => Assert.Contains(l, data.Classes));

        // Score slots carry the class names, as in a feature-extractor model.
        VBuffer<ReadOnlyMemory<char>> slots = default;
        scored.Schema["Score"].GetSlotNames(ref slots);
        Assert.Equal(data.Classes, slots.DenseValues().Select(s => s.ToString()));
    }

    [Fact]
    public void OutputSchemaNamesTheNewColumns()
    {
        var ml = new MLContext(1);
        var trainer = new FineTuningTrainer(ml, FineTuneFixture.Options(), FineTuneFixture.Backbone());
        var input = SchemaShapeOf(ml);
        var output = trainer.GetOutputSchema(input);
        var names = output.Select(c => c.Name).ToList();
        Assert.Contains("ImagePath", names);
        Assert.Contains("Label", names);
        Assert.Contains("embedding", names);
        Assert.Contains("Score", names);
        var predicted = output.Single(c => c.Name == "PredictedLabel");
        Assert.Equal(TextDataViewType.Instance, predicted.ItemType);
        Assert.Equal(SchemaShape.Column.VectorKind.Scalar, predicted.Kind);
    }

    private SchemaShape SchemaShapeOf(MLContext ml) => Schemas.ShapeOf(View(ml, data.Train.Take(1)).Schema);

    [Fact]
    public void BadInputIsReportedClearly()
    {
        var ml = new MLContext(1);
        var trainer = new FineTuningTrainer(ml, FineTuneFixture.Options(), FineTuneFixture.Backbone());
        var noLabel = ml.Data.LoadFromEnumerable(data.Train.Select(e => new Featurization.ImageFeaturizer.ImagePathRow { ImagePath = e.Path }));
        Assert.Contains("'Label'", Assert.Throws<MlNetTransferException>(() => trainer.Fit(noLabel)).Message);

        var options = FineTuneFixture.Options();
        options.Epoch = 0;
        Assert.Contains("Epoch", Assert.Throws<MlNetTransferException>(() => new FineTuningTrainer(ml, options, FineTuneFixture.Backbone()).Fit(View(ml, data.Train))).Message);
    }
}
