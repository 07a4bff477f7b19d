using Microsoft.ML;
using MlNetTransfer.Featurization;
using MlNetTransfer.Reporting;

namespace MlNetTransfer;

/// <summary>A trained image classifier (the whole chain: image path → PredictedLabel + Score) and what was measured.</summary>
public sealed class TransferLearningResult
{
    private readonly MLContext _ml;

    internal TransferLearningResult(MLContext ml, ITransformer model, ModelMetadata metadata, TrainingReport report, HeldOutImages? held = null)
    {
        _ml = ml;
        Model = model;
        Metadata = metadata;
        Report = report;
        HeldOut = held;
    }

    /// <summary>The held-out images the mistakes section is drawn from (validation, else test); null when the run had no
    /// image files (trained from embedding shards) or held none out.</summary>
    internal HeldOutImages? HeldOut { get; }

    /// <summary>The ML.NET transformer chain; <c>Transform</c> it over a data view with an <c>ImagePath</c> column.</summary>
    public ITransformer Model { get; }

    public ModelMetadata Metadata { get; }

    public TrainingReport Report { get; }

    /// <summary>Saves one self-contained ML.NET zip (the ONNX bytes included) atomically: the file at
    /// <paramref name="path"/> is either the old one or the complete new one.</summary>
    public void Save(string path) => AtomicFile.Write(path, SaveTo);

    /// <summary>Saves model and JSON report together: both appear, or neither changes.</summary>
    public void Save(string modelPath, string reportPath) =>
        AtomicFile.WriteAll((modelPath, SaveTo), (reportPath, tmp => File.WriteAllText(tmp, Report.ToJson())));

    private void SaveTo(string file) => ModelZip.Write(_ml, Model, Metadata, file);

    /// <summary>The same model with another report (a search's, around its winner's).</summary>
    internal TransferLearningResult WithReport(TrainingReport report) => new(_ml, Model, Metadata, report, HeldOut);

    /// <summary>The report's mistakes section for this model: its validation images (the test images when there is no
    /// validation split) of highest loss with Grad-CAM heat maps, and a gallery of correct ones per class
    /// (<see cref="MistakesReport.Build(ImageClassifier, IReadOnlyList{Data.ImageExample}, string, MistakesOptions?, IProgress{TrainingProgress}?, CancellationToken)"/>). Null when the run held out no image files (e.g. trained from embedding shards).</summary>
    public MistakesReport? Mistakes(MistakesOptions? options = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        if (HeldOut is not { Images.Count: > 0 } held) return null;
        using var classifier = ToClassifier();
        // The evaluation's probabilities: the images need not be classified again.
        var predictions = held.Images.Select((e, i) => ImagePrediction.From(e.Path, held.Scores[i], Metadata.Classes)).ToList();
        return MistakesReport.Build(classifier, held.Images, held.Split, options, progress, cancel, FineTuning.FineTuningEngines.GradCam, predictions);
    }

    /// <summary>The saved model as a ready classifier, without a round trip through a file.</summary>
    public ImageClassifier ToClassifier() => new(_ml, Model, Metadata);
}

/// <summary>The held-out images a run evaluated on (validation, else test) and the class probabilities that evaluation
/// computed for each (in the images' order, the model's class order).</summary>
internal sealed record HeldOutImages(string Split, IReadOnlyList<Data.ImageExample> Images, IReadOnlyList<float[]> Scores);
