using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Featurization;

namespace MlNetTransfer.Strategy;

/// <summary>Runs a backbone's original classifier (<see cref="BackbonePreparer.PrepareClassifier"/>) over images, for
/// <see cref="SourceHeadStatistics"/>.</summary>
public static class SourceHeadPredictions
{
    /// <summary>One probability row per image, in order. Uses the same image pipeline (and embedding cache, keyed by the
    /// classifier's hash) as featurization: the probabilities are the classifier's "embedding".</summary>
    public static float[][] Predict(MLContext ml, PreparedClassifier classifier, IReadOnlyList<string> imagePaths,
        ImageFeaturizerOptions? options = null, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        options ??= new ImageFeaturizerOptions();
        var estimator = ImageFeaturizer.CreateEstimator(ml, classifier.ClassifierBytes, classifier.Spec,
                PreparedClassifier.InputName, PreparedClassifier.OutputName, options)
            .Append(ml.Transforms.CopyColumns(ImageFeaturizer.EmbeddingColumn, PreparedClassifier.OutputName));
        var transformer = ImageFeaturizer.Fit(ml, estimator, options.ImagePathColumn);
        return new EmbeddingExtractor(ml, transformer, classifier.Sha256, options).Extract(imagePaths, progress, cancel);
    }
}
