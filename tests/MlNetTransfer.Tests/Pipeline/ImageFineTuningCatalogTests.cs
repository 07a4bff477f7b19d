using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Tests.FineTuning;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Pipeline;

/// <summary><c>ml.MulticlassClassification.Trainers.ImageFineTuning</c> as an ML.NET trainer: key label in, Score and a key
/// PredictedLabel out, between MapValueToKey and MapKeyToValue; evaluated by ML.NET, saved with ml.Model.Save and reloaded.</summary>
public sealed class ImageFineTuningCatalogTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private static IDataView View(MLContext ml, IEnumerable<MlNetTransfer.Data.ImageExample> examples) =>
        ml.Data.LoadFromEnumerable(examples.Select(e => new LabelledImageRow { ImagePath = e.Path, Label = e.Label }).ToList());

    /// <summary>The fixture's fast settings on its CNN, given as a user would: an .onnx path with its spec beside it.</summary>
    private FineTuneOptions Options(int epochs)
    {
        var options = FineTuneFixture.Options(epochs);
        options.Arch = data.BackboneFile("catalog-pipeline");
        return options;
    }

    [Fact]
    public void TrainsBetweenMapValueToKeyAndMapKeyToValueEvaluatesSavesAndReloads()
    {
        var ml = new MLContext(1);
        var options = Options(epochs: 2);
        // Validation data may keep its text labels: they are matched to the training keys' class names.
        options.ValidationSet = View(ml, data.Validation);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.ImageFineTuning(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(View(ml, data.Train));

        // Before MapKeyToValue the trainer's PredictedLabel is a key, as ML.NET's evaluator wants it.
        var keyed = model.Take(2).Aggregate(View(ml, data.Validation), (view, step) => step.Transform(view));
        Assert.IsType<KeyDataViewType>(keyed.Schema["PredictedLabel"].Type);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(View(ml, data.Validation)));
        // Three colour-coded shapes, 12 validation images; chance is 1/3.
        Assert.True(metrics.MacroAccuracy > 0.6, $"macro accuracy {metrics.MacroAccuracy}");

        using var dir = new TempDirectory();
        var zip = dir.Combine("fine-tuned.zip");
        ml.Model.Save(model, View(ml, data.Train).Schema, zip);
        var fresh = new MLContext(2);
        var loaded = fresh.Model.Load(zip, out _);
        var before = ml.Data.CreateEnumerable<ClassPrediction>(model.Transform(View(ml, data.Validation)), reuseRowObject: false).ToList();
        var after = fresh.Data.CreateEnumerable<ClassPrediction>(loaded.Transform(View(fresh, data.Validation)), reuseRowObject: false).ToList();
        Assert.Equal(before.Select(p => p.PredictedLabel), after.Select(p => p.PredictedLabel));
        for (int i = 0; i < before.Count; i++)
            for (int c = 0; c < 3; c++) Assert.Equal(before[i].Score[c], after[i].Score[c], 5);
        Assert.All(after, p => Assert.Contains(p.PredictedLabel, data.Classes));
    }

    [Fact]
    public void TakesValidationDataThroughFitAndNamesKeyedOutputsInItsSchema()
    {
        var ml = new MLContext(1);
        var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(View(ml, data.Train));
        var trainer = ml.MulticlassClassification.Trainers.ImageFineTuning(Options(epochs: 1));

        var shape = trainer.GetOutputSchema(Schemas.ShapeOf(toKey.Transform(View(ml, data.Train)).Schema));
        var predicted = shape.Single(c => c.Name == "PredictedLabel");
        Assert.True(predicted.IsKey);
        Assert.Contains(shape, c => c.Name == "Score");

        var model = trainer.Fit(toKey.Transform(View(ml, data.Train)), toKey.Transform(View(ml, data.Validation)));
        var scored = model.Transform(toKey.Transform(View(ml, data.Validation)));
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.Equal(data.Validation.Count, metrics.ConfusionMatrix.Counts.Sum(r => r.Sum()));
        // Score slots carry the class names in key order.
        VBuffer<ReadOnlyMemory<char>> slots = default;
        scored.Schema["Score"].GetSlotNames(ref slots);
        VBuffer<ReadOnlyMemory<char>> keys = default;
        scored.Schema["Label"].GetKeyValues(ref keys);
        Assert.Equal(keys.DenseValues().Select(k => k.ToString()), slots.DenseValues().Select(s => s.ToString()));
    }

    [Fact]
    public void BadInputIsNamed()
    {
        var ml = new MLContext(1);
        var text = Assert.Throws<MlNetTransferException>(() => ml.MulticlassClassification.Trainers.ImageFineTuning(Options(epochs: 1)).Fit(View(ml, data.Train)));
        Assert.Contains("label column 'Label' is String", text.Message);
        Assert.Contains("MapValueToKey(\"Label\")", text.Message);

        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(View(ml, data.Train)).Transform(View(ml, data.Train));
        var noPaths = ml.Transforms.CopyColumns("Path", "ImagePath").Append(ml.Transforms.DropColumns("ImagePath")).Fit(keyed).Transform(keyed);
        var missing = Assert.Throws<MlNetTransferException>(() => ml.MulticlassClassification.Trainers.ImageFineTuning(Options(epochs: 1)).Fit(noPaths));
        Assert.Contains("no column 'ImagePath'", missing.Message);

        var options = Options(epochs: 1);
        options.Arch = "no-such-net";
        var unknown = Assert.Throws<MlNetTransferException>(() => ml.MulticlassClassification.Trainers.ImageFineTuning(options).Fit(keyed));
        Assert.Contains("Unknown backbone 'no-such-net'", unknown.Message);
    }
}
