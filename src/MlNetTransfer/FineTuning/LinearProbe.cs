using System.Collections.Immutable;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Transforms;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The new head's starting point for fine-tuning: a linear probe fitted to convergence by ML.NET's own trainer (the one the
/// feature extractor uses) on the frozen network's embeddings, then written as one linear layer (logits = W·x + b) with the
/// standardisation folded in. Starting from this instead of a head trained by a few epochs of SGD is linear probing then
/// fine-tuning (LP-FT, Kumar et al. 2022): the pretrained layers first receive the gradients of a head that already fits,
/// and the fine-tuned model begins exactly where the feature extractor ends.
/// </summary>
public static class LinearProbe
{
    /// <summary>The embedding column of <see cref="Fitted.Head"/>.</summary>
    public const string FeatureColumn = "Features";
    private const string ValueColumn = "ClassIndex";

    /// <summary>Checks that <paramref name="options"/> describes a probe that can become one linear layer.</summary>
    public static void Validate(HeadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Trainer is not (HeadTrainer.Sdca or HeadTrainer.Lbfgs))
            throw new MlNetTransferException($"The linear probe that starts fine-tuning must be a softmax model: trainer sdca or lbfgs, not {options.Trainer}.");
        if (options.Normalization == EmbeddingNormalization.L2)
            throw new MlNetTransferException("The linear probe that starts fine-tuning cannot use L2 normalisation (it scales each image differently, " +
                                             "so it does not fold into one linear layer): use meanvar or none.");
    }

    /// <summary>A fitted probe: ML.NET's head (<see cref="FeatureColumn"/> in, <c>Score</c> out) and the same model as one linear
    /// layer on the raw embeddings.</summary>
    /// <param name="Weights">W: one row per class, as wide as the embedding.</param>
    /// <param name="Bias">b: one value per class.</param>
    /// <param name="Head">The normaliser and trainer as ML.NET fitted them: softmax(W·x + b) is its <c>Score</c>.</param>
    public sealed record Fitted(float[][] Weights, float[] Bias, ITransformer Head)
    {
        /// <summary>How its regularisation was chosen, when cross-validation chose it (see <see cref="Fit"/>); else null.</summary>
        public HeadCrossValidationReport? CrossValidation { get; init; }
    }

    /// <summary>Fits the probe and folds it into W (<paramref name="classes"/> rows of the embedding's width) and b, in the space
    /// of the raw embeddings.</summary>
    /// <param name="embeddings">One row per training image.</param>
    /// <param name="labels">Class index (0-based) of each row.</param>
    /// <param name="classes">Number of classes (the head's outputs); a class with no training rows still gets its row
    /// (whatever the trainer makes of a class it never saw), so the layer has one output per class.</param>
    /// <param name="options">Trainer, regularisation, iterations and normalisation, as for the feature extractor's head: with
    /// <see cref="HeadOptions.CrossValidationFolds"/> on and no L2 or L1 given, the regularisation is chosen by the same
    /// stratified cross-validation (<see cref="HeadCrossValidation"/>), so the probe is the head the feature extractor would fit.</param>
    /// <param name="seed">Seed of the ML.NET context (SDCA shuffles).</param>
    public static Fitted Fit(IReadOnlyList<float[]> embeddings, IReadOnlyList<int> labels, int classes, HeadOptions options, int seed)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(labels);
        Validate(options);
        if (embeddings.Count == 0 || embeddings.Count != labels.Count) throw new ArgumentException("The probe needs one label per embedding, and at least one.");
        var width = embeddings[0].Length;
        if (embeddings.Any(e => e.Length != width)) throw new ArgumentException("Every embedding must have the same width.");
        if (labels.Any(l => l < 0 || l >= classes)) throw new ArgumentOutOfRangeException(nameof(labels), $"Labels must be class indices in [0, {classes}).");

        var ml = new MLContext(seed);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, width);
        var data = ml.Data.LoadFromEnumerable(embeddings.Zip(labels, (e, l) => new Row { Features = e, ClassIndex = (uint)l }), schema);
        // Keys in class-index order whether or not every class occurs in the training rows.
        var allClasses = ml.Data.LoadFromEnumerable(Enumerable.Range(0, classes).Select(c => new Row { Features = new float[width], ClassIndex = (uint)c }), schema);
        var keyData = ml.Transforms.SelectColumns(ValueColumn).Fit(allClasses).Transform(allClasses);
        var toKey = ml.Transforms.Conversion.MapValueToKey(HeadEstimator.LabelColumn, ValueColumn,
            keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue, keyData: keyData);
        var keyed = toKey.Fit(data).Transform(data);
        HeadCrossValidationReport? crossValidation = null;
        if (options.CrossValidatesRegularisation && HeadCrossValidation.Tune(ml, keyed, FeatureColumn, options, seed) is { } tuned)
            (options, crossValidation) = tuned;
        var fitted = HeadEstimator.Create(ml, FeatureColumn, options).Fit(keyed);
        var head = (IEnumerable<ITransformer>)fitted;

        var (scale, offset) = Affine(head.OfType<NormalizingTransformer>().SingleOrDefault(), width);
        var model = head.OfType<ISingleFeaturePredictionTransformer<object>>().Select(p => p.Model).OfType<LinearMulticlassModelParametersBase>().Single();
        VBuffer<float>[] rows = [];
        model.GetWeights(ref rows, out var count);
        var biases = model.GetBiases().ToArray();
        if (count != classes) throw new InvalidOperationException($"The probe has {count} classes; the head needs {classes}.");

        // Standardisation folded in: W·((x − offset)·scale) + b = (W·scale)·x + (b − (W·scale)·offset).
        var weights = new float[classes][];
        var bias = new float[classes];
        for (int c = 0; c < classes; c++)
        {
            var w = rows[c].DenseValues().ToArray();
            double shift = 0;
            for (int j = 0; j < width; j++)
            {
                w[j] *= scale[j];
                shift += (double)w[j] * offset[j];
            }
            weights[c] = w;
            bias[c] = (float)(biases[c] - shift);
        }
        return new Fitted(weights, bias, fitted) { CrossValidation = crossValidation };
    }

    /// <summary>The normaliser's per-dimension scale and offset (identity without one).</summary>
    private static (float[] Scale, float[] Offset) Affine(NormalizingTransformer? normalizer, int width)
    {
        var scale = Enumerable.Repeat(1f, width).ToArray();
        var offset = new float[width];
        if (normalizer is null) return (scale, offset);
        if (normalizer.GetNormalizerModelParameters(0) is not NormalizingTransformer.AffineNormalizerModelParameters<ImmutableArray<float>> affine)
            throw new InvalidOperationException("The probe's normaliser is not an affine per-dimension one.");
        // ML.NET leaves Offset empty when it is zero (fixZero: scaling only).
        if (affine.Scale.Length == width) affine.Scale.CopyTo(scale);
        if (affine.Offset.Length == width) affine.Offset.CopyTo(offset);
        return (scale, offset);
    }

    private sealed class Row
    {
        public float[] Features { get; set; } = [];
        public uint ClassIndex { get; set; }
    }
}
