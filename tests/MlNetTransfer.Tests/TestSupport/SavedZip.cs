using Microsoft.ML;

namespace MlNetTransfer.Tests.TestSupport;

/// <summary>The round trip a trained model must survive: saved as a zip, loaded in a fresh context, it predicts every image of
/// the data set as the in-process model does.</summary>
internal static class SavedZip
{
    /// <summary>Saves <paramref name="result"/> into <paramref name="dir"/>, loads it, asserts the same label and confidence
    /// (5 decimals) as in process on every image under <paramref name="dataDir"/>, and returns the zip's predictions.</summary>
    public static IReadOnlyList<ImagePrediction> AssertPredictsAsTrained(TransferLearningResult result, string dataDir, TempDirectory dir)
    {
        var zip = dir.Combine("model.zip");
        result.Save(zip);
        using var loaded = ImageClassifier.Load(new MLContext(), zip);
        var images = Directory.GetFiles(dataDir, "*.*", SearchOption.AllDirectories).Order().ToArray();
        var fromZip = loaded.PredictBatch(images);
        var inProcess = result.ToClassifier().PredictBatch(images);
        for (int i = 0; i < images.Length; i++)
        {
            Assert.Equal(inProcess[i].Label, fromZip[i].Label);
            Assert.Equal(inProcess[i].Confidence, fromZip[i].Confidence, 5);
        }
        return fromZip;
    }
}
