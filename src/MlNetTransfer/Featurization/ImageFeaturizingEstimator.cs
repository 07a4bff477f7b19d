using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Backbones;

namespace MlNetTransfer.Featurization;

/// <summary>
/// <c>ml.Transforms.FeaturizeImage(...)</c>: an image path column in, the pretrained backbone's embedding out, as an ML.NET
/// estimator that composes with <c>Append</c> (e.g. <c>MapValueToKey → FeaturizeImage → SdcaMaximumEntropy → MapKeyToValue</c>).
/// Fitting learns nothing: it resolves the backbone (a catalog name is installed on first use), prepares it as a featurizer
/// graph and returns <see cref="ImageFeaturizer"/>'s chain <c>LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel</c>,
/// whose ONNX bytes are embedded, so <c>ml.Model.Save</c> writes a zip that predicts without the backbone file.
/// </summary>
public sealed class ImageFeaturizingEstimator : IEstimator<ITransformer>
{
    /// <summary>Options of <see cref="ImageFeaturizingEstimator"/>; every property has a default.</summary>
    public sealed class Options
    {
        /// <summary>Input column of image file paths (text). Default <c>ImagePath</c>.</summary>
        public string InputColumnName { get; set; } = "ImagePath";

        /// <summary>Output column of the embedding (a float vector of the backbone's embedding size). Default <c>embedding</c>.</summary>
        public string OutputColumnName { get; set; } = ImageFeaturizer.EmbeddingColumn;

        /// <summary>The pretrained network, as <c>--backbone</c> takes it: a catalog name, a path to an .onnx file (with an
        /// optional <c>NAME.backbone.json</c> beside it), a TF.js <c>model.json</c>, or <c>synthetic-cnn</c>. Default <c>mobilenet_v2</c>.
        /// Ignored when the estimator is given a <see cref="PreparedBackbone"/>.</summary>
        public string Backbone { get; set; } = "mobilenet_v2";

        /// <summary>Tensor to cut the backbone at. Default null: the backbone's known embedding, else the best candidate found.</summary>
        public string? EmbeddingTensor { get; set; }

        /// <summary>Folders searched for catalog backbone files before any download (plus <c>MLNET_TRANSFER_MIRRORS</c>). Default none.</summary>
        public IList<string> Mirrors { get; set; } = new List<string>();

        /// <summary>Where catalog backbones are installed. Default null: <see cref="Backbones.Catalog.InstallOptions.DefaultCacheDirectory"/>.</summary>
        public string? BackboneCacheDirectory { get; set; }

        /// <summary>How images are brought to the backbone's input size. Default <see cref="ImageResizingEstimator.ResizingKind.IsoCrop"/>
        /// (keep the aspect ratio, crop the centre), the usual evaluation transform of ImageNet models.</summary>
        public ImageResizingEstimator.ResizingKind Resizing { get; set; } = ImageResizingEstimator.ResizingKind.IsoCrop;
    }

    private readonly MLContext _ml;
    private readonly Options _options;
    private PreparedBackbone? _backbone;

    /// <summary>Resolves and prepares <see cref="Options.Backbone"/> when first needed (fit, output schema or <see cref="Backbone"/>).</summary>
    public ImageFeaturizingEstimator(MLContext ml, Options? options = null)
    {
        _ml = ml ?? throw new ArgumentNullException(nameof(ml));
        _options = options ?? new Options();
    }

    /// <summary>With a backbone already prepared (<see cref="BackbonePreparer"/>); <see cref="Options.Backbone"/> is not read.</summary>
    public ImageFeaturizingEstimator(MLContext ml, PreparedBackbone backbone, Options? options = null) : this(ml, options)
        => _backbone = backbone ?? throw new ArgumentNullException(nameof(backbone));

    /// <summary>The featurizer graph the chain runs (its size, spec and SHA-256); resolves the backbone on first use.</summary>
    public PreparedBackbone Backbone => _backbone ??= Prepare();

    /// <summary>Checks the input has the image path column, then binds the chain to it.</summary>
    public ITransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = input.Schema.GetColumnOrNull(_options.InputColumnName);
        RequirePathColumn(column is { } c ? (c.Type, false) : null);
        return Chain().Fit(input);
    }

    /// <summary>The input plus the embedding column (worked out by ML.NET's own estimators; resolves the backbone).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var found = inputSchema.FirstOrDefault(c => c.Name == _options.InputColumnName);
        RequirePathColumn(found.Name is null ? null : (found.ItemType, found.Kind != SchemaShape.Column.VectorKind.Scalar));
        return Chain().GetOutputSchema(inputSchema);
    }

    private void RequirePathColumn((DataViewType Type, bool IsVector)? column)
    {
        if (column is null)
            throw new MlNetTransferException($"FeaturizeImage: the input has no column '{_options.InputColumnName}' of image paths (set InputColumnName to the column that holds them).");
        if (column.Value.Type is not TextDataViewType || column.Value.IsVector)
            throw new MlNetTransferException($"FeaturizeImage: the input column '{_options.InputColumnName}' is {column.Value.Type}{(column.Value.IsVector ? " vector" : "")}; it must be text (one image file path per row).");
    }

    private IEstimator<ITransformer> Chain()
    {
        var chain = ImageFeaturizer.CreateEstimator(_ml, Backbone, new ImageFeaturizerOptions { ImagePathColumn = _options.InputColumnName, Resizing = _options.Resizing });
        if (_options.OutputColumnName == ImageFeaturizer.EmbeddingColumn) return chain;
        // The ONNX output is named by the graph; another column name is a copy of it.
        return chain.Append(_ml.Transforms.CopyColumns(_options.OutputColumnName, ImageFeaturizer.EmbeddingColumn))
            .Append(_ml.Transforms.DropColumns(ImageFeaturizer.EmbeddingColumn));
    }

    private PreparedBackbone Prepare()
    {
        var resolved = BackboneResolver.Resolve(_options.Backbone, new BackboneResolveOptions
        {
            Mirrors = _options.Mirrors,
            EmbeddingTensor = _options.EmbeddingTensor,
            CacheDirectory = _options.BackboneCacheDirectory,
        });
        return BackbonePreparer.Prepare(resolved.Model, resolved.Spec);
    }
}
