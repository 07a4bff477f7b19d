using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;

namespace MlNetTransfer.Featurization;

/// <summary>
/// The featurizer: <c>LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel</c>, turning an image path column
/// into the backbone's embedding. The prepared ONNX graph already holds the backbone's normalisation, so
/// <c>ExtractPixels</c> emits raw 0..255 RGB planes (its one offset/scale cannot express per-channel mean/std).
/// </summary>
public static class ImageFeaturizer
{
    /// <summary>Name of the embedding column (the prepared graph's output).</summary>
    public const string EmbeddingColumn = "embedding";

    internal const string ImageColumn = "image";
    internal const string PixelsColumn = "pixels";

    /// <summary>Builds the estimator. The ONNX bytes are embedded in the model, so a saved zip needs no ONNX file beside it.</summary>
    public static IEstimator<ITransformer> CreateEstimator(MLContext ml, PreparedBackbone backbone, ImageFeaturizerOptions? options = null)
        => CreateEstimator(ml, backbone.FeaturizerBytes, backbone.Spec, PreparedBackbone.InputName, PreparedBackbone.OutputName, options);

    /// <summary>The same chain for any prepared graph taking <c>pixels</c> (e.g. a pretrained classifier with its own head).</summary>
    public static IEstimator<ITransformer> CreateEstimator(MLContext ml, byte[] onnxBytes, BackboneSpec spec, string onnxInput,
        string onnxOutput, ImageFeaturizerOptions? options = null)
    {
        options ??= new ImageFeaturizerOptions();
        return PixelChain(ml, spec, options, onnxInput)
            .Append(ml.Transforms.ApplyOnnxModel(onnxOutput, onnxInput, new MemoryStream(onnxBytes)))
            .Append(ml.Transforms.DropColumns(ImageColumn, onnxInput));
    }

    /// <summary><c>LoadImages → ResizeImages → ExtractPixels</c>: the path column to raw 0..255 R, G, B planes in
    /// <paramref name="pixelsColumn"/>, at the size the backbone's prepared graph takes. Every chain that feeds a prepared
    /// graph starts here, so training, featurizing and prediction see the same pixels.</summary>
    internal static EstimatorChain<ImagePixelExtractingTransformer> PixelChain(MLContext ml, BackboneSpec spec, ImageFeaturizerOptions options, string pixelsColumn) =>
        ml.Transforms.LoadImages(ImageColumn, imageFolder: null, inputColumnName: options.ImagePathColumn)
            .Append(ml.Transforms.ResizeImages(ImageColumn, spec.ResizeWidth, spec.ResizeHeight, ImageColumn, options.Resizing))
            .Append(ml.Transforms.ExtractPixels(pixelsColumn, ImageColumn));

    /// <summary>The same chain for bulk featurization with ONNX Runtime limited to the options' thread count per cursor.
    /// ML.NET takes thread settings only with a model file, so the bytes go to a temporary file, deleted once loaded.
    /// With <paramref name="middle"/>, the chain runs the tap's graph and also emits its <see cref="MiddleLayerTap.OutputName"/> column.</summary>
    public static ITransformer FitForBulk(MLContext ml, PreparedBackbone backbone, ImageFeaturizerOptions options, MiddleLayerTap? middle = null)
    {
        if (options.OnnxThreadsPerCursor is null && middle is null)
            return Fit(ml, CreateEstimator(ml, backbone, options), options.ImagePathColumn);
        var threads = options.OnnxThreadsPerCursor;
        var file = Path.Combine(Path.GetTempPath(), $"mlnet-transfer-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(file, middle?.FeaturizerBytes ?? backbone.FeaturizerBytes);
        try
        {
            var estimator = PixelChain(ml, backbone.Spec, options, PreparedBackbone.InputName)
                .Append(ml.Transforms.ApplyOnnxModel(new Microsoft.ML.Transforms.Onnx.OnnxOptions
                {
                    ModelFile = file,
                    InputColumns = [PreparedBackbone.InputName],
                    OutputColumns = middle is null ? [PreparedBackbone.OutputName] : [PreparedBackbone.OutputName, MiddleLayerTap.OutputName],
                    IntraOpNumThreads = threads,
                    InterOpNumThreads = threads is null ? null : 1,
                }))
                .Append(ml.Transforms.DropColumns(ImageColumn, PreparedBackbone.InputName));
            return Fit(ml, estimator, options.ImagePathColumn);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Fits the featurizer (it learns nothing; fitting binds the schema).</summary>
    public static ITransformer Fit(MLContext ml, IEstimator<ITransformer> estimator, string imagePathColumn = "ImagePath")
        => estimator.Fit(EmptyInput(ml, imagePathColumn));

    /// <summary>No rows, one text column of image paths: what fitting a chain that learns nothing, reading a transformer's
    /// output schema and saving a model (its input schema) need.</summary>
    internal static IDataView EmptyInput(MLContext ml, string imagePathColumn)
        => ml.Data.LoadFromEnumerable(Array.Empty<ImagePathRow>(), SchemaFor(ml, imagePathColumn));

    internal static SchemaDefinition SchemaFor(MLContext ml, string imagePathColumn)
    {
        var schema = SchemaDefinition.Create(typeof(ImagePathRow));
        schema[nameof(ImagePathRow.ImagePath)].ColumnName = imagePathColumn;
        return schema;
    }

    /// <summary>One row of input: an image file path.</summary>
    public sealed class ImagePathRow
    {
        public string ImagePath { get; set; } = "";
    }
}
