using Microsoft.ML;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// <c>ml.MulticlassClassification.Trainers.ImageFineTuning(...)</c>: fine-tuning a pretrained network on TorchSharp as an ML.NET
/// multiclass trainer, shaped like ML.NET's own TorchSharp trainers (<c>Microsoft.ML.TorchSharp</c>'s <c>TorchSharpCatalog</c>):
/// an image path column and a key-typed label column in (<c>MapValueToKey</c> first), <c>Score</c> and a key-typed
/// <c>PredictedLabel</c> out, so <c>MapKeyToValue("PredictedLabel")</c> and <c>ml.MulticlassClassification.Evaluate</c> apply;
/// validation data through <see cref="FineTuneOptions.ValidationSet"/> or <see cref="FineTuningTrainer.Fit(IDataView, IDataView)"/>.
/// The fitted chain predicts in ONNX Runtime (see <see cref="FineTuningTrainer"/>) and saves with <c>ml.Model.Save</c>.
/// </summary>
/// <remarks>The trainer builds its ML.NET steps in an <see cref="MLContext"/> of its own, seeded with <see cref="FineTuneOptions.Seed"/>
/// (ML.NET keeps a catalog's context internal); the fitted chain saves and loads with any context.</remarks>
public static class ImageFineTuningCatalog
{
    /// <summary>Fine-tunes the top 30% of a pretrained network with a new head; the common options as arguments.</summary>
    /// <param name="catalog">The multiclass trainers catalog (<c>ml.MulticlassClassification.Trainers</c>).</param>
    /// <param name="labelColumnName">The label column; must be a key (<c>MapValueToKey</c>). Default <c>Label</c>.</param>
    /// <param name="scoreColumnName">Output: class probabilities. Default <c>Score</c>.</param>
    /// <param name="predictedLabelColumnName">Output: the predicted class, a key. Default <c>PredictedLabel</c>.</param>
    /// <param name="imagePathColumnName">The column of image file paths. Default <c>ImagePath</c>.</param>
    /// <param name="arch">The pretrained network: a catalog name, an .onnx path or a TF.js model.json. Default <c>mobilenet_v2</c>.</param>
    /// <param name="epoch">Most passes over the training images. Default 10.</param>
    /// <param name="batchSize">Images per step. Default 16.</param>
    /// <param name="validationSet">Validation data (same columns); null holds out <see cref="FineTuneOptions.ValidationSetFraction"/> of the training data.</param>
    public static FineTuningTrainer ImageFineTuning(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string scoreColumnName = "Score", string predictedLabelColumnName = "PredictedLabel",
        string imagePathColumnName = "ImagePath", string arch = "mobilenet_v2", int epoch = 10, int batchSize = 16, IDataView? validationSet = null)
        => catalog.ImageFineTuning(new FineTuneOptions
        {
            LabelColumnName = labelColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = predictedLabelColumnName,
            ImagePathColumnName = imagePathColumnName,
            Arch = arch,
            Epoch = epoch,
            BatchSize = batchSize,
            ValidationSet = validationSet,
        });

    /// <summary>Fine-tunes a pretrained network with every option (<see cref="FineTuneOptions"/>; its defaults fine-tune the top 30% of <c>mobilenet_v2</c>).</summary>
    public static FineTuningTrainer ImageFineTuning(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, FineTuneOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new FineTuningTrainer(new MLContext(options.Seed), options, predictedLabelAsKey: true);
    }
}
