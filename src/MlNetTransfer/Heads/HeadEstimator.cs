using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.LightGbm;

namespace MlNetTransfer.Heads;

/// <summary>Builds the head: (optional standardisation) → multiclass trainer → PredictedLabel back to class names.
/// It expects a key-typed label column; the value→key mapping is fitted separately and kept out of the saved
/// prediction chain, so predicting needs no Label column.</summary>
public static class HeadEstimator
{
    public const string LabelColumn = "Label";

    public static IEstimator<ITransformer> Create(MLContext ml, string featureColumn, HeadOptions? options = null) =>
        CreateScorer(ml, featureColumn, options).Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    /// <summary>The head without its last step: <c>PredictedLabel</c> stays key-typed, as ML.NET's evaluator wants it.</summary>
    internal static IEstimator<ITransformer> CreateScorer(MLContext ml, string featureColumn, HeadOptions? options = null)
    {
        options ??= new HeadOptions();
        var trainer = CreateTrainer(ml, featureColumn, options);
        // The checkpoint keeps the scaled embeddings in memory: without it the trainer re-runs the normaliser on every pass
        // over the data (measured on hds_shapes' 720 x 1280 embeddings: L-BFGS 11-17 s against 2 s, SDCA 4-7 s against 0.5-1 s).
        return CreateNormalizer(ml, featureColumn, options) is { } normalizer ? normalizer.AppendCacheCheckpoint(ml).Append(trainer) : trainer;
    }

    /// <summary>The scaling step of <see cref="HeadOptions.Normalization"/>, or null for none.</summary>
    internal static IEstimator<ITransformer>? CreateNormalizer(MLContext ml, string featureColumn, HeadOptions options) => options.Normalization switch
    {
        EmbeddingNormalization.MeanVariance => ml.Transforms.NormalizeMeanVariance(featureColumn),
        EmbeddingNormalization.L2 => ml.Transforms.NormalizeLpNorm(featureColumn),
        _ => null,
    };

    /// <summary>The multiclass trainer of <see cref="HeadOptions.Trainer"/> with its regularisation and iteration cap.</summary>
    internal static IEstimator<ITransformer> CreateTrainer(MLContext ml, string featureColumn, HeadOptions options)
    {
        var iterations = options.IterationsFor(options.Trainer);
        return options.Trainer switch
        {
            HeadTrainer.Sdca => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(new SdcaMaximumEntropyMulticlassTrainer.Options
            {
                LabelColumnName = LabelColumn,
                FeatureColumnName = featureColumn,
                MaximumNumberOfIterations = iterations,
                L2Regularization = options.L2Regularization,
                L1Regularization = options.L1Regularization,
                ExampleWeightColumnName = options.ExampleWeightColumnName,
                NumberOfThreads = 1, // deterministic for a seed; the data are small and cached
            }),
            HeadTrainer.Lbfgs => ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(new LbfgsMaximumEntropyMulticlassTrainer.Options
            {
                LabelColumnName = LabelColumn,
                FeatureColumnName = featureColumn,
                MaximumNumberOfIterations = iterations,
                L2Regularization = options.L2Regularization ?? HeadOptions.LbfgsDefaultL2,
                L1Regularization = options.L1Regularization ?? HeadOptions.LbfgsDefaultL1,
                ExampleWeightColumnName = options.ExampleWeightColumnName,
                NumberOfThreads = 1,
            }),
            HeadTrainer.Svm => ml.MulticlassClassification.Trainers.OneVersusAll(
                ml.BinaryClassification.Trainers.LinearSvm(new LinearSvmTrainer.Options
                {
                    FeatureColumnName = featureColumn,
                    NumberOfIterations = iterations,
                    Lambda = options.L2Regularization ?? HeadOptions.SvmDefaultLambda,
                    ExampleWeightColumnName = options.ExampleWeightColumnName,
                }), labelColumnName: LabelColumn),
            HeadTrainer.LightGbm => ml.MulticlassClassification.Trainers.LightGbm(LightGbmOptions(featureColumn, options, iterations)),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        };
    }

    /// <summary>
    /// LightGBM sized for a few hundred rows of ~1000-d dense embeddings rather than its defaults (31 leaves, 20 rows per
    /// leaf, made for large tables): 8 leaves and at least 10 rows per leaf, so a class of 20-40 training rows can still be
    /// split off without a leaf fitting a handful of images; every tree sees a random half of the dimensions (neighbouring
    /// embedding dimensions are correlated, and subsampling them both decorrelates the trees and halves their cost);
    /// learning rate 0.1 over 100 rounds, the usual pairing. L2 (and L1) act on the leaf values and are what
    /// <see cref="HeadCrossValidation"/> tunes. One thread and a seed: the same model for the same data, as the linear heads.
    /// </summary>
    internal static LightGbmMulticlassTrainer.Options LightGbmOptions(string featureColumn, HeadOptions options, int rounds) => new()
    {
        LabelColumnName = LabelColumn,
        FeatureColumnName = featureColumn,
        NumberOfIterations = rounds,
        NumberOfLeaves = 8,
        MinimumExampleCountPerLeaf = 10,
        LearningRate = 0.1,
        UseSoftmax = true,
        NumberOfThreads = 1,
        Seed = 1,
        Deterministic = true,
        Silent = true,
        Booster = new GradientBooster.Options
        {
            L2Regularization = options.L2Regularization ?? HeadOptions.LightGbmDefaultL2,
            L1Regularization = options.L1Regularization ?? HeadOptions.LightGbmDefaultL1,
            FeatureFraction = 0.5,
        },
    };

    /// <summary>Scores key-labelled rows with a fitted head, leaving <c>PredictedLabel</c> key-typed as ML.NET's
    /// evaluator wants it (the head's last step maps it back to class names).</summary>
    internal static IDataView ScoreKeyed(ITransformer head, IDataView keyed)
    {
        var steps = ((IEnumerable<ITransformer>)head).ToArray();
        return new TransformerChain<ITransformer>(steps[..^1]).Transform(keyed);
    }
}
