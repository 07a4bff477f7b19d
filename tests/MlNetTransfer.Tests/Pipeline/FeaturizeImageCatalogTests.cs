using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Backbones;
using MlNetTransfer.Featurization;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Pipeline;

/// <summary><c>ml.Transforms.FeaturizeImage</c> in a plain ML.NET pipeline: MapValueToKey → FeaturizeImage → SdcaMaximumEntropy
/// → MapKeyToValue, evaluated by ML.NET's evaluator, saved with ml.Model.Save and reloaded.</summary>
public sealed class FeaturizeImageCatalogTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    /// <summary>Every fourth image of each class is held out (18 of 72).</summary>
    private (IDataView Train, IDataView Test) Split(MLContext ml)
    {
        var rows = Directory.GetDirectories(fixture.DataDir).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Select((f, i) => (Row: new LabelledImageRow { ImagePath = f, Label = Path.GetFileName(d) }, Test: i % 4 == 0)))
            .ToList();
        return (ml.Data.LoadFromEnumerable(rows.Where(r => !r.Test).Select(r => r.Row).ToList()),
                ml.Data.LoadFromEnumerable(rows.Where(r => r.Test).Select(r => r.Row).ToList()));
    }

    [Fact]
    public void ComposesWithMlNetTrainersEvaluatesSavesAndReloads()
    {
        var ml = new MLContext(1);
        var (train, test) = Split(ml);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.FeaturizeImage(backbone: BackboneResolver.SyntheticName))
            // SDCA passes over the data many times: the cache keeps it from decoding and running the network each time.
            .AppendCacheCheckpoint(ml)
            .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(featureColumnName: "embedding"))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(train);

        var scored = model.Transform(test);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        // Three colour-coded shapes; chance is 1/3. Random conv features separate them well (the runner's heads reach 0.8+).
        Assert.True(metrics.MacroAccuracy > 0.7, $"macro accuracy {metrics.MacroAccuracy}");
        Assert.Equal(18, metrics.ConfusionMatrix.Counts.Sum(r => r.Sum()));

        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        ml.Model.Save(model, train.Schema, zip);
        var fresh = new MLContext(2);
        var loaded = fresh.Model.Load(zip, out _);
        var before = ml.Data.CreateEnumerable<ClassPrediction>(scored, reuseRowObject: false).ToList();
        var after = fresh.Data.CreateEnumerable<ClassPrediction>(loaded.Transform(test), reuseRowObject: false).ToList();
        Assert.Equal(before.Select(p => p.PredictedLabel), after.Select(p => p.PredictedLabel));
        for (int i = 0; i < before.Count; i++)
            for (int c = 0; c < 3; c++) Assert.Equal(before[i].Score[c], after[i].Score[c], 5);
        Assert.All(after, p => Assert.Contains(p.PredictedLabel, MlNetTransfer.Data.SyntheticImageDataset.Classes));
    }

    [Fact]
    public void EmitsWhatTheFeaturizerComputesUnderTheChosenColumnNames()
    {
        var ml = new MLContext(1);
        var (_, test) = Split(ml);
        var renamed = ml.Data.LoadFromEnumerable(ml.Data.CreateEnumerable<LabelledImageRow>(test, false).Select(r => new { File = r.ImagePath }));
        var prepared = BackbonePreparer.Prepare(BackboneResolver.Synthetic().Model, BackboneResolver.Synthetic().Spec);
        var estimator = ml.Transforms.FeaturizeImage(prepared, outputColumnName: "features", inputColumnName: "File");

        var shape = estimator.GetOutputSchema(Schemas.ShapeOf(renamed.Schema));
        Assert.Contains(shape, c => c.Name == "features");
        Assert.DoesNotContain(shape, c => c.Name == "embedding");

        var output = estimator.Fit(renamed).Transform(renamed);
        var features = output.GetColumn<float[]>("features").ToList();
        Assert.Equal(prepared.EmbeddingSize, features[0].Length);
        // The same numbers as the runner's featurizer on the same backbone.
        var reference = ImageFeaturizer.Fit(ml, ImageFeaturizer.CreateEstimator(ml, prepared)).Transform(test).GetColumn<float[]>("embedding").ToList();
        Assert.Equal(reference.Count, features.Count);
        for (int i = 0; i < features.Count; i++) Assert.Equal(reference[i], features[i]);
    }

    [Fact]
    public void BadInputIsNamed()
    {
        var ml = new MLContext(1);
        var (train, _) = Split(ml);
        var noPaths = ml.Data.LoadFromEnumerable(new[] { new { Picture = "a.png" } });
        var missing = Assert.Throws<MlNetTransferException>(() => ml.Transforms.FeaturizeImage(backbone: BackboneResolver.SyntheticName).Fit(noPaths));
        Assert.Contains("no column 'ImagePath'", missing.Message);

        var numbers = ml.Data.LoadFromEnumerable(new[] { new { ImagePath = 1f } });
        var notText = Assert.Throws<MlNetTransferException>(() => ml.Transforms.FeaturizeImage(backbone: BackboneResolver.SyntheticName).Fit(numbers));
        Assert.Contains("'ImagePath' is Single", notText.Message);
        Assert.Contains("must be text", notText.Message);

        var unknown = Assert.Throws<MlNetTransferException>(() => ml.Transforms.FeaturizeImage(backbone: "no-such-net").Fit(train));
        Assert.Contains("Unknown backbone 'no-such-net'", unknown.Message);
    }
}
