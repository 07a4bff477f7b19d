using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// Fine-tuning as an ML.NET estimator: <c>Fit</c> takes rows of image paths and labels, retrains part or all of a pretrained
/// network with a new head on TorchSharp (<see cref="FineTuner"/>), writes the weights back into the ONNX graph and returns
/// the ML.NET chain <c>LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel</c> (the fine-tuned graph, up to the
/// embedding) <c>→</c> the trained head as ML.NET's multiclass predictor <c>→</c> key to class name. Prediction therefore
/// runs in ONNX Runtime and the saved zip has the shape of a feature-extractor zip: <c>ImagePath</c> in, <c>Score</c> and a
/// text <c>PredictedLabel</c> out, no Label column needed. Composes with <c>Append</c>.
/// </summary>
public sealed class FineTuningTrainer : IEstimator<ITransformer>
{
    /// <summary>Prefix of the nodes the preprocessing baker adds (input normalisation): never trained.</summary>
    private const string PreprocessingNodePrefix = "preprocess/";

    /// <summary>What ONNX Runtime's quantizer appends to a quantized activation's name.</summary>
    private const string QuantizedSuffix = Dequantizer.QuantizedSuffix;

    private readonly MLContext _ml;
    private readonly FineTuneOptions _options;
    private readonly ResolvedBackbone? _backbone;
    private readonly bool _predictedLabelAsKey;
    private PreparedBackbone? _prepared;

    /// <param name="ml">The context.</param>
    /// <param name="options">Training options; defaults fine-tune the top 30% of <c>mobilenet_v2</c>.</param>
    /// <param name="backbone">An already resolved backbone (graph + spec); null resolves <see cref="FineTuneOptions.Arch"/>.</param>
    public FineTuningTrainer(MLContext ml, FineTuneOptions? options = null, ResolvedBackbone? backbone = null)
    {
        _ml = ml ?? throw new ArgumentNullException(nameof(ml));
        _options = options ?? new FineTuneOptions();
        _backbone = backbone;
    }

    /// <summary>As ML.NET's trainers (<see cref="ImageFineTuningCatalog"/>): the label must be a key, and <c>PredictedLabel</c>
    /// stays a key (with the class names as key values) for <c>MapKeyToValue</c> and <c>ml.MulticlassClassification.Evaluate</c>.</summary>
    internal FineTuningTrainer(MLContext ml, FineTuneOptions options, bool predictedLabelAsKey) : this(ml, options)
        => _predictedLabelAsKey = predictedLabelAsKey;

    /// <summary>Trains and returns the prediction chain (see the class remarks).</summary>
    public ITransformer Fit(IDataView input)
    {
        using var result = Train(input);
        return result.Model;
    }

    /// <summary>Trains with <paramref name="validationSet"/> (same columns as <paramref name="input"/>) for early stopping and the
    /// best epoch, in place of <see cref="FineTuneOptions.ValidationSet"/> or a held-out fraction: ML.NET trainers' <c>Fit(train, validation)</c>.</summary>
    public ITransformer Fit(IDataView input, IDataView validationSet)
    {
        ArgumentNullException.ThrowIfNull(validationSet);
        using var result = Train(input, validationSet, null, default);
        return result.Model;
    }

    /// <summary>Trains from a data view with the image path and label columns; the validation set is
    /// <see cref="FineTuneOptions.ValidationSet"/> or a stratified <see cref="FineTuneOptions.ValidationSetFraction"/> of the input.</summary>
    public FineTuningResult Train(IDataView input, IProgress<FineTuneProgress>? progress = null, CancellationToken cancel = default)
        => Train(input, _options.ValidationSet, progress, cancel);

    private FineTuningResult Train(IDataView input, IDataView? validationSet, IProgress<FineTuneProgress>? progress, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(input);
        _options.Validate();
        // The validation set may keep text labels: they are matched to the training keys' class names.
        if (_predictedLabelAsKey && input.Schema.GetColumnOrNull(_options.LabelColumnName) is { Type: not KeyDataViewType } label)
            throw new MlNetTransferException(NotAKey("training data", label.Name, label.Type));
        var (examples, keyClasses) = ReadExamples(input, "training data");
        IReadOnlyList<ImageExample> train = examples, validation = [];
        if (validationSet is not null)
        {
            (validation, var validationClasses) = ReadExamples(validationSet, "validation set");
            if (keyClasses is not null && validationClasses is not null && !keyClasses.SequenceEqual(validationClasses))
                throw new MlNetTransferException($"The validation set's label keys ({string.Join(", ", validationClasses)}) differ from the training data's ({string.Join(", ", keyClasses)}).");
        }
        else if (_options.ValidationSetFraction > 0)
        {
            var split = StratifiedSplitter.Split(examples, _options.ValidationSetFraction, 0, _options.Seed);
            (train, validation) = (split.Train, split.Validation);
        }
        var classes = keyClasses ?? train.Concat(validation).Select(e => e.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        return Train(train, validation, classes, progress, cancel);
    }

    /// <summary>Trains on labelled image files.</summary>
    /// <param name="train">Training images.</param>
    /// <param name="validation">Validation images (may be empty: no early stopping, last epoch kept).</param>
    /// <param name="classes">Class names in output order; null sorts the labels found (ordinal).</param>
    /// <param name="progress">Per-batch and per-epoch progress.</param>
    /// <param name="cancel">Stops training at the next batch and returns the best epoch so far (throws if none completed).</param>
    public FineTuningResult Train(IReadOnlyList<ImageExample> train, IReadOnlyList<ImageExample> validation, IReadOnlyList<string>? classes = null,
        IProgress<FineTuneProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        _options.Validate();
        classes ??= train.Concat(validation).Select(e => e.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        if (classes.Count < 2) throw new MlNetTransferException($"Fine-tuning needs at least 2 classes; the data has {classes.Count}.");

        var prepared = PrepareBackbone();
        var module = CreateModule(prepared, classes.Count, _options);
        try
        {
            var reader = new ImagePixelReader(prepared.ImageWidth, prepared.ImageHeight, _options.Resizing);
            var run = new FineTuner(_options).Train(module, reader, classes, train, validation, progress, cancel);
            return Package(module, prepared, classes, run);
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>A run that trains a few epochs at a time (successive halving's rungs) and is packaged like <see cref="Train(IReadOnlyList{ImageExample}, IReadOnlyList{ImageExample}, IReadOnlyList{string}?, IProgress{FineTuneProgress}?, CancellationToken)"/>'s
    /// result once it ends; arguments as there. A resumed run trains exactly as an uninterrupted one.</summary>
    internal ResumableFineTuning Start(IReadOnlyList<ImageExample> train, IReadOnlyList<ImageExample> validation, IReadOnlyList<string> classes)
    {
        _options.Validate();
        if (classes.Count < 2) throw new MlNetTransferException($"Fine-tuning needs at least 2 classes; the data has {classes.Count}.");
        var prepared = PrepareBackbone();
        var module = CreateModule(prepared, classes.Count, _options);
        try
        {
            var session = new FineTuner(_options).Start(module, new ImagePixelReader(prepared.ImageWidth, prepared.ImageHeight, _options.Resizing), classes, train, validation);
            return new ResumableFineTuning(session, module, run => Package(module, prepared, classes, run));
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>The trainable module fine-tuning starts from: the prepared backbone (<c>pixels</c> → embedding) with a new
    /// linear head of <paramref name="classes"/> outputs, its baked-in input normalisation kept constant.</summary>
    public static OnnxTorchModule CreateModule(PreparedBackbone backbone, int classes, FineTuneOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        options ??= new FineTuneOptions();
        var key = (backbone.Sha256, backbone.ImageHeight, backbone.ImageWidth, options.Device);
        if (ChannelsLastVerdicts.TryGetValue(key, out var known)) return CreateModule(backbone, classes, options, _ => known, known);
        return CreateModule(backbone, classes, options,
            m => ChannelsLastVerdicts.GetOrAdd(key, ChannelsLastCheck.Failure(m.forward, backbone.ImageHeight, backbone.ImageWidth, options.Seed)));
    }

    // The check's verdict belongs to the machine and the network, not to one run: measured once per process for each backbone,
    // input size and device, so a search that builds a module per candidate neither repeats it nor builds each one twice.
    private static readonly ConcurrentDictionary<(string Backbone, int Height, int Width, string Device), string?> ChannelsLastVerdicts = new();

    /// <summary><see cref="CreateModule(PreparedBackbone, int, FineTuneOptions?)"/> with the channels-last check given
    /// (<paramref name="channelsLastFailure"/>: why the module in eval mode cannot be trusted in channels-last order, or null);
    /// <paramref name="knownFailure"/>, a failure already measured, builds the module in NCHW order straight away.</summary>
    internal static OnnxTorchModule CreateModule(PreparedBackbone backbone, int classes, FineTuneOptions options, Func<OnnxTorchModule, string?> channelsLastFailure,
        string? knownFailure = null)
    {
        OnnxTorchModule Build(bool channelsLast) => OnnxTorchModule.FromOnnx(backbone.FeaturizerModel, new OnnxTorchModuleOptions
        {
            EmbeddingTensor = PreparedBackbone.OutputName,
            NumClasses = classes,
            Seed = options.Seed,
            Device = options.Device,
            ChannelsLast = channelsLast,
            ConstantNodes = backbone.FeaturizerModel.Graph.Node.Where(n => n.Name.StartsWith(PreprocessingNodePrefix, StringComparison.Ordinal))
                .Select(n => n.Name).ToHashSet(StringComparer.Ordinal),
        });
        var module = Build(options.ChannelsLast && knownFailure is null);
        if (options.ChannelsLast && knownFailure is not null) module.ChannelsLastFallback = knownFailure;
        else if (module.ChannelsLast)
        {
            module.eval();
            var failure = channelsLastFailure(module);
            module.train();
            if (failure is not null)
            {
                module.Dispose();
                module = Build(channelsLast: false);
                module.ChannelsLastFallback = failure;
            }
        }
        module.HeadDropout = options.HeadDropout;
        module.QuantizedFeaturizer = backbone.QuantizedFeaturizerModel;
        return module;
    }

    /// <summary>The input plus <c>embedding</c>, <see cref="FineTuneOptions.ScoreColumnName"/> and <see cref="FineTuneOptions.PredictedLabelColumnName"/>
    /// (worked out by ML.NET's own estimators for the featurizer and a multiclass head; resolves the backbone).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var path = inputSchema.FirstOrDefault(c => c.Name == _options.ImagePathColumnName);
        if (path.Name is null || path.Kind != SchemaShape.Column.VectorKind.Scalar || path.ItemType is not TextDataViewType)
            throw new ArgumentException($"The input needs a text column '{_options.ImagePathColumnName}' of image paths.", nameof(inputSchema));
        var label = inputSchema.FirstOrDefault(c => c.Name == _options.LabelColumnName);
        if (label.Name is null) throw new ArgumentException($"The input needs a label column '{_options.LabelColumnName}'.", nameof(inputSchema));
        if (_predictedLabelAsKey && !label.IsKey) throw new ArgumentException(NotAKey("input", label.Name, label.ItemType), nameof(inputSchema));

        var prepared = PrepareBackbone();
        var featurizerOptions = new ImageFeaturizerOptions { ImagePathColumn = _options.ImagePathColumnName, Resizing = _options.Resizing };
        IEstimator<ITransformer> shapeOf = ImageFeaturizer.CreateEstimator(_ml, prepared, featurizerOptions);
        if (!label.IsKey) shapeOf = shapeOf.Append(_ml.Transforms.Conversion.MapValueToKey(_options.LabelColumnName));
        shapeOf = shapeOf
            .Append(_ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(_options.LabelColumnName, ImageFeaturizer.EmbeddingColumn));
        if (!_predictedLabelAsKey) shapeOf = shapeOf.Append(_ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        if (_options.ScoreColumnName != "Score") shapeOf = shapeOf.Append(_ml.Transforms.CopyColumns(_options.ScoreColumnName, "Score"));
        if (_options.PredictedLabelColumnName != "PredictedLabel") shapeOf = shapeOf.Append(_ml.Transforms.CopyColumns(_options.PredictedLabelColumnName, "PredictedLabel"));
        var output = shapeOf.GetOutputSchema(inputSchema);
        var added = new HashSet<string>([ImageFeaturizer.EmbeddingColumn, _options.ScoreColumnName, _options.PredictedLabelColumnName], StringComparer.Ordinal);
        return new SchemaShape(inputSchema.Where(c => !added.Contains(c.Name)).Concat(output.Where(c => added.Contains(c.Name))));
    }

    private PreparedBackbone PrepareBackbone() => _prepared ??= PrepareBackbone(
        _backbone ?? BackboneResolver.Resolve(_options.Arch, new BackboneResolveOptions { Mirrors = _options.Mirrors, EmbeddingTensor = _options.EmbeddingTensor }),
        _options.EmbeddingTensor, keepInt8: _options.FrozenPrefixEngine == FrozenPrefixEngine.OnnxRuntimeInt8);

    /// <summary>The graph fine-tuning starts from: the backbone as a float featurizer taking raw <c>pixels</c>, cut at its
    /// embedding (an int8 graph is dequantized first). With <paramref name="keepInt8"/>, an int8 backbone's own featurizer is
    /// prepared too (<see cref="PreparedBackbone.QuantizedFeaturizerModel"/>), for <see cref="FrozenPrefixEngine.OnnxRuntimeInt8"/>.</summary>
    public static PreparedBackbone PrepareBackbone(ResolvedBackbone resolved, string? embeddingTensor = null, bool keepInt8 = false)
    {
        ArgumentNullException.ThrowIfNull(resolved);
        var spec = embeddingTensor is { } tensor ? resolved.Spec with { EmbeddingTensor = tensor } : resolved.Spec;
        var model = Dequantizer.IsQuantized(resolved.Model) ? Dequantizer.Dequantize(resolved.Model) : resolved.Model;
        // The dequantizer gives a quantized activation's float version the name without the quantizer's suffix; a graph that
        // was dequantized earlier (re-initialised weights for training from scratch) carries the same names.
        if (spec.EmbeddingTensor is { } quantized && quantized.EndsWith(QuantizedSuffix, StringComparison.Ordinal))
        {
            var index = new OnnxGraphIndex(model.Graph);
            if (!index.Exists(quantized) && index.Exists(quantized[..^QuantizedSuffix.Length]))
                spec = spec with { EmbeddingTensor = quantized[..^QuantizedSuffix.Length] };
        }
        var prepared = BackbonePreparer.Prepare(model, spec);
        if (!keepInt8 || ReferenceEquals(model, resolved.Model)) return prepared;
        // Cut at the int8 version of the tensor the float featurizer was cut at, so both end at the same embedding.
        var cutAt = prepared.Spec.EmbeddingTensor!;
        if (new OnnxGraphIndex(resolved.Model.Graph).Producer.ContainsKey(cutAt + QuantizedSuffix)) cutAt += QuantizedSuffix;
        var int8 = BackbonePreparer.Prepare(resolved.Model, spec with { EmbeddingTensor = cutAt });
        return prepared with { QuantizedFeaturizerModel = int8.FeaturizerModel };
    }

    private FineTuningResult Package(OnnxTorchModule module, PreparedBackbone prepared, IReadOnlyList<string> classes, FineTuneRun run)
    {
        var featurizerModel = module.ToOnnxEmbedding(PreparedBackbone.OutputName, run.Int8Prefix);
        var bytes = OnnxModelFile.ToBytes(featurizerModel);
        var featurizerOptions = new ImageFeaturizerOptions { ImagePathColumn = _options.ImagePathColumnName, Resizing = _options.Resizing };
        var featurizer = ImageFeaturizer.Fit(_ml,
            ImageFeaturizer.CreateEstimator(_ml, bytes, prepared.Spec, PreparedBackbone.InputName, PreparedBackbone.OutputName, featurizerOptions),
            _options.ImagePathColumnName);

        var head = module.Head!;
        var weight = head.weight!.detach().cpu();
        var width = (int)weight.shape[1];
        var all = weight.data<float>().ToArray();
        var rows = Enumerable.Range(0, classes.Count).Select(c => all.AsSpan(c * width, width).ToArray()).ToList();
        var bias = head.bias!.detach().cpu().data<float>().ToArray();
        var embeddingType = (VectorDataViewType)featurizer.GetOutputSchema(
            ImageFeaturizer.EmptyInput(_ml, _options.ImagePathColumnName).Schema)[ImageFeaturizer.EmbeddingColumn].Type;
        if (embeddingType.Size != width)
            throw new InvalidOperationException($"The fine-tuned featurizer emits {embeddingType.Size} values but the head reads {width}.");
        var headTransformer = LinearHeadTransformer.Create(_ml, rows, bias, classes, ImageFeaturizer.EmbeddingColumn, embeddingType,
            _options.ScoreColumnName, _options.PredictedLabelColumnName, predictedLabelAsKey: _predictedLabelAsKey);
        return new FineTuningResult(featurizer, headTransformer, run, classes, prepared, featurizerModel, OnnxModelFile.Sha256(bytes), module);
    }

    /// <summary>Reads (path, label) rows; for a key-typed label also its class names in key order.</summary>
    private (List<ImageExample> Examples, List<string>? KeyClasses) ReadExamples(IDataView data, string what)
    {
        var pathColumn = data.Schema.GetColumnOrNull(_options.ImagePathColumnName)
            ?? throw new MlNetTransferException($"The {what} has no column '{_options.ImagePathColumnName}' (ImagePathColumnName) of image paths.");
        if (pathColumn.Type is not TextDataViewType)
            throw new MlNetTransferException($"The {what}'s column '{pathColumn.Name}' is {pathColumn.Type}; it must be text (image file paths).");
        var labelColumn = data.Schema.GetColumnOrNull(_options.LabelColumnName)
            ?? throw new MlNetTransferException($"The {what} has no column '{_options.LabelColumnName}' (LabelColumnName).");
        var paths = data.GetColumn<ReadOnlyMemory<char>>(pathColumn).Select(p => p.ToString()).ToList();
        List<string> labels;
        List<string>? keyClasses = null;
        switch (labelColumn.Type)
        {
            case TextDataViewType:
                labels = data.GetColumn<ReadOnlyMemory<char>>(labelColumn).Select(l => l.ToString()).ToList();
                break;
            case KeyDataViewType key when labelColumn.HasKeyValues():
                VBuffer<ReadOnlyMemory<char>> names = default;
                labelColumn.GetKeyValues(ref names);
                keyClasses = names.DenseValues().Select(n => n.ToString()).ToList();
                var ks = keyClasses;
                labels = data.GetColumn<uint>(labelColumn).Select((k, row) => k >= 1 && k <= ks.Count ? ks[(int)k - 1]
                    : throw new MlNetTransferException($"The {what}'s row {row} has a missing label.")).ToList();
                break;
            default:
                throw new MlNetTransferException($"The {what}'s label column '{labelColumn.Name}' is {labelColumn.Type}; it must be text, or a key with class names (MapValueToKey).");
        }
        for (int i = 0; i < labels.Count; i++)
            if (string.IsNullOrWhiteSpace(labels[i])) throw new MlNetTransferException($"The {what}'s row {i} ({paths[i]}) has an empty label.");
        return (paths.Zip(labels, (p, l) => new ImageExample(Path.GetFullPath(p), l)).ToList(), keyClasses);
    }

    private static string NotAKey(string what, string column, DataViewType type) =>
        $"ImageFineTuning: the {what}'s label column '{column}' is {type}; ML.NET trainers take a key-typed label: " +
        $"put ml.Transforms.Conversion.MapValueToKey(\"{column}\") in front of the trainer.";
}
