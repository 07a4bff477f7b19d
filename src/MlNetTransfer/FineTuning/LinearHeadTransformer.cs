using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Turns a trained linear head (logits = W·x + b, probabilities = softmax) into ML.NET's own multiclass prediction
/// transformer, the very type <c>LbfgsMaximumEntropy</c> produces: Score = softmax(W·x + b), PredictedLabel = its argmax as a
/// key, turned back into the class name. So a fine-tuned zip ends like a feature-extractor zip (a scalar text
/// PredictedLabel), loads in any MLContext without registering code, and scores exactly what the trained head computes.
/// </summary>
/// <remarks>ML.NET offers no public way to build a predictor from given weights: the constructors of
/// <see cref="MaximumEntropyModelParameters"/> and <see cref="MulticlassPredictionTransformer{TModel}"/> are internal, so they are
/// called by reflection (checked against the pinned ML.NET version by the tests; a mismatch fails loudly, naming it).</remarks>
public static class LinearHeadTransformer
{
    private static readonly Type[] ParametersSignature =
        [typeof(IHostEnvironment), typeof(VBuffer<float>[]), typeof(float[]), typeof(int), typeof(int), typeof(string[]), typeof(ModelStatisticsBase)];

    private static readonly Type[] TransformerSignature =
        [typeof(IHostEnvironment), typeof(MaximumEntropyModelParameters), typeof(DataViewSchema), typeof(string), typeof(string), typeof(string), typeof(string)];

    /// <summary>The prediction transformer followed by key → class name on <paramref name="predictedLabelColumn"/> (or, with
    /// <paramref name="predictedLabelAsKey"/>, the prediction transformer alone, as ML.NET trainers leave it).</summary>
    /// <param name="ml">The context.</param>
    /// <param name="weights">W, one row per class, as long as the feature vector.</param>
    /// <param name="bias">b, one value per class.</param>
    /// <param name="classes">Class names in output order.</param>
    /// <param name="featureColumn">The embedding column the head reads.</param>
    /// <param name="featureType">The embedding column's type as the featurizer emits it (ML.NET binds a predictor to the exact
    /// vector shape it was "trained" on, e.g. [1, D] from an ONNX output [N, D]).</param>
    /// <param name="scoreColumn">Output: class probabilities.</param>
    /// <param name="predictedLabelColumn">Output: the class name.</param>
    /// <param name="predictedLabelAsKey">Leave <paramref name="predictedLabelColumn"/> a key (its key values are the class names).</param>
    public static ITransformer Create(MLContext ml, IReadOnlyList<float[]> weights, IReadOnlyList<float> bias, IReadOnlyList<string> classes,
        string featureColumn, VectorDataViewType featureType, string scoreColumn = "Score", string predictedLabelColumn = "PredictedLabel",
        bool predictedLabelAsKey = false)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentNullException.ThrowIfNull(featureType);
        int c = classes.Count, featureSize = featureType.Size;
        if (c < 1 || weights.Count != c || bias.Count != c || weights.Any(w => w.Length != featureSize))
            throw new ArgumentException($"A head for {c} classes needs {c} weight rows of {featureSize} values and {c} biases.");
        const string labelColumn = "Label";
        var env = (IHostEnvironment)ml;

        var parametersCtor = typeof(MaximumEntropyModelParameters).GetConstructor(BindingFlags.Instance | BindingFlags.NonPublic, ParametersSignature)
            ?? throw Mismatch(nameof(MaximumEntropyModelParameters));
        var transformerType = typeof(MulticlassPredictionTransformer<MaximumEntropyModelParameters>);
        var transformerCtor = transformerType.GetConstructor(BindingFlags.Instance | BindingFlags.NonPublic, TransformerSignature)
            ?? throw Mismatch(transformerType.Name);

        var rows = weights.Select(w => new VBuffer<float>(featureSize, w.ToArray())).ToArray();
        var parameters = (MaximumEntropyModelParameters)Invoke(parametersCtor, [env, rows, bias.ToArray(), c, featureSize, classes.ToArray(), null]);

        // The schema the head "was trained on": the embedding and a key label whose key values are the class names, from
        // which ML.NET names the Score slots and the PredictedLabel keys.
        var keyValues = new DataViewSchema.Annotations.Builder();
        var names = classes.Select(n => n.AsMemory()).ToArray();
        keyValues.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, c),
            (ref VBuffer<ReadOnlyMemory<char>> v) => v = new VBuffer<ReadOnlyMemory<char>>(c, names));
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(featureColumn, featureType);
        schema.AddColumn(labelColumn, new KeyDataViewType(typeof(uint), c), keyValues.ToAnnotations());
        var trainSchema = schema.ToSchema();

        var predictor = (ITransformer)Invoke(transformerCtor, [env, parameters, trainSchema, featureColumn, labelColumn, scoreColumn, predictedLabelColumn]);
        if (predictedLabelAsKey) return predictor;
        var toName = ml.Transforms.Conversion.MapKeyToValue(predictedLabelColumn).Fit(predictor.Transform(new EmptyDataView(trainSchema)));
        return new TransformerChain<ITransformer>(predictor, toName);
    }

    private static object Invoke(ConstructorInfo ctor, object?[] args)
    {
        try
        {
            return ctor.Invoke(args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private static MlNetTransferException Mismatch(string type) =>
        new($"This ML.NET version ({typeof(MLContext).Assembly.GetName().Version}) has no {type} constructor of the expected shape; " +
            "the fine-tuned head cannot be written as an ML.NET predictor. MlNetTransfer is built against Microsoft.ML 5.0.1.");

    /// <summary>A data view of no rows with a given schema (enough to fit transforms that only read the schema).</summary>
    private sealed class EmptyDataView(DataViewSchema schema) : IDataView
    {
        public DataViewSchema Schema { get; } = schema;
        public bool CanShuffle => true;
        public long? GetRowCount() => 0;
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(Schema);
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(Schema)];

        private sealed class Cursor(DataViewSchema schema) : DataViewRowCursor
        {
            public override DataViewSchema Schema { get; } = schema;
            public override long Position => -1;
            public override long Batch => 0;
            public override bool MoveNext() => false;
            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => throw new InvalidOperationException("The view has no rows.");
            public override ValueGetter<DataViewRowId> GetIdGetter() => throw new InvalidOperationException("The view has no rows.");
            public override bool IsColumnActive(DataViewSchema.Column column) => true;
        }
    }
}
