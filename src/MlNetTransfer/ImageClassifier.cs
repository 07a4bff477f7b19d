using System.Security.Cryptography;
using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Serving;

namespace MlNetTransfer;

/// <summary>
/// A saved model zip, loaded once, that labels images from a path, a stream, bytes or an <see cref="MLImage"/>.
/// Safe to call from many threads: ML.NET's <see cref="PredictionEngine{TSrc,TDst}"/> is not, so each call borrows one
/// from a pool (<see cref="Microsoft.Extensions.ObjectPool"/>), as <c>Microsoft.Extensions.ML</c>'s PredictionEnginePool does.
/// </summary>
/// <remarks>
/// The saved chain starts with <c>LoadImages(ImagePath)</c>. Prediction runs the chain after that step and feeds it an
/// <see cref="MLImage"/> decoded here (<see cref="ImageDecoder"/>), so every kind of input takes the same path, nothing
/// is written to disk, each image is decoded once, and the bytes that were checked are the bytes that are scored.
/// The pixels are the ones <c>LoadImages</c> would produce, so scores equal those of the whole chain on the same file.
/// </remarks>
public sealed class ImageClassifier : IImageClassifier, IDisposable
{
    private readonly DisposableObjectPool _engines;
    private readonly string[] _classes;
    private readonly long _maxPixels;
    private readonly bool _ownsModel;
    private readonly MLContext _ml;
    private int _disposed;
    private readonly Lock _heatMapGate = new();
    private Reporting.HeatMapper? _heatMapper;

    internal ImageClassifier(MLContext ml, ITransformer model, ModelMetadata metadata, ImageClassifierOptions? options = null,
        bool ownsModel = false, string modelPath = "", string sha256 = "")
    {
        options ??= new ImageClassifierOptions();
        options.Validate(modelPath == "" ? "image classifier" : modelPath);
        _ml = ml;
        Model = model;
        Metadata = metadata;
        ModelPath = modelPath;
        ModelSha256 = sha256;
        _maxPixels = options.MaxImagePixels;
        _ownsModel = ownsModel;

        var pathColumn = string.IsNullOrEmpty(metadata.ImagePathColumn) ? "ImagePath" : metadata.ImagePathColumn;
        var (afterLoader, imageColumn) = SplitAtLoader(ml, model, pathColumn, modelPath);
        var schema = SchemaDefinition.Create(typeof(ImageRow));
        schema[nameof(ImageRow.Image)].ColumnName = imageColumn;
        schema[nameof(ImageRow.ImagePath)].ColumnName = pathColumn;
        var gate = new object();
        _engines = new DisposableObjectPool(new DefaultObjectPoolProvider { MaximumRetained = options.MaximumRetainedEngines }.Create(
            new PredictionEnginePolicy<ImageRow, ScoreRow>(() =>
            {
                // OwnsTransformer = false: engines come and go (the pool drops extras); the shared model must not go with them.
                lock (gate)
                    return ml.Model.CreatePredictionEngine<ImageRow, ScoreRow>(afterLoader,
                        new PredictionEngineOptions { InputSchemaDefinition = schema, OwnsTransformer = false });
            })));
        // One engine now: a zip that loads but cannot score images fails here, not on the first request.
        PredictionEngine<ImageRow, ScoreRow> first;
        try
        {
            first = _engines.Pool.Get();
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            throw new MlNetTransferException($"{Describe(modelPath)}: not an image classifier (its chain cannot produce Score from an image: {e.Message}).", e);
        }
        _classes = metadata.Classes.Count > 0 ? metadata.Classes.ToArray() : SlotNames(first.OutputSchema);
        _engines.Pool.Return(first);
    }

    /// <summary>The whole ML.NET chain as loaded (image path → PredictedLabel + Score).</summary>
    public ITransformer Model { get; }

    public ModelMetadata Metadata { get; }

    public IReadOnlyList<string> Classes => _classes;

    /// <summary>The zip this was loaded from ("" when built in memory from a training result).</summary>
    public string ModelPath { get; }

    /// <summary>SHA-256 (lowercase hex) of the zip's bytes as loaded ("" when built in memory).</summary>
    public string ModelSha256 { get; }

    /// <summary>When this classifier was created (UTC).</summary>
    public DateTime LoadedUtc { get; } = DateTime.UtcNow;

    /// <summary>Loads a model zip saved by this tool (or any ML.NET zip whose chain starts with LoadImages and ends
    /// in PredictedLabel and Score). The file is read once; the model and its metadata come from the same bytes.</summary>
    public static ImageClassifier Load(MLContext ml, string zipPath, ImageClassifierOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentException.ThrowIfNullOrWhiteSpace(zipPath);
        if (Directory.Exists(zipPath)) throw new MlNetTransferException($"{zipPath}: is a folder, not a model zip.");
        if (!File.Exists(zipPath)) throw new MlNetTransferException($"{zipPath}: model file not found.");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(zipPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlNetTransferException($"{zipPath}: cannot be read ({e.Message}).", e);
        }
        ITransformer model;
        ModelMetadata metadata;
        try
        {
            model = ml.Model.Load(new MemoryStream(bytes, writable: false), out _);
            metadata = ModelMetadata.Read(new MemoryStream(bytes, writable: false)) ?? new ModelMetadata();
        }
        catch (Exception e) when (e is not (OutOfMemoryException or MlNetTransferException))
        {
            // ML.NET reports a damaged or foreign zip with many exception types (zip, format, contract, protobuf).
            throw new MlNetTransferException($"{zipPath}: not a readable ML.NET model ({e.Message}).", e);
        }
        try
        {
            return new ImageClassifier(ml, model, metadata, options, ownsModel: true, Path.GetFullPath(zipPath), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
        catch
        {
            (model as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model zip with a fresh <see cref="MLContext"/>.</summary>
    public static ImageClassifier Load(string zipPath, ImageClassifierOptions? options = null) => Load(new MLContext(), zipPath, options);

    /// <summary>Labels one image file. A file that is missing, or not a decodable JPEG/PNG/BMP/WebP, is an error naming it.</summary>
    public ImagePrediction Predict(string imagePath)
    {
        ArgumentNullException.ThrowIfNull(imagePath);
        using var image = ImageDecoder.Decode(ReadFile(imagePath), _maxPixels, imagePath);
        return Score(image, imagePath);
    }

    public ImagePrediction Predict(Stream image, string? name = null)
    {
        var bytes = ImageDecoder.ReadAll(image);
        return Predict(bytes, name);
    }

    public ImagePrediction Predict(ReadOnlySpan<byte> image, string? name = null)
    {
        using var decoded = ImageDecoder.Decode(image, _maxPixels, name);
        return Score(decoded, name ?? "");
    }

    /// <summary>Labels an image already in memory. The caller keeps it: a copy goes through the chain, because ML.NET's
    /// resize step passes on an image that already has the input size and disposes it on a later prediction.</summary>
    public ImagePrediction Predict(MLImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var copy = MLImage.CreateFromPixels(image.Width, image.Height, image.PixelFormat, image.Pixels);
        return Score(copy, "");
    }

    /// <summary>Labels many image files, in order, with one borrowed engine. The first unusable file stops the batch
    /// with an error naming it. <see cref="ImagePrediction.ImagePath"/> holds the full path.</summary>
    public IReadOnlyList<ImagePrediction> PredictBatch(IEnumerable<string> imagePaths)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        var results = new List<ImagePrediction>();
        PredictionEngine<ImageRow, ScoreRow>? engine = Rent();
        try
        {
            foreach (var path in imagePaths.Select(Path.GetFullPath))
            {
                using var image = ImageDecoder.Decode(ReadFile(path), _maxPixels, path);
                results.Add(Score(ref engine, image, path));
            }
        }
        finally
        {
            if (engine is not null) _engines.Pool.Return(engine);
        }
        return results;
    }

    private ImagePrediction Score(MLImage image, string path)
    {
        PredictionEngine<ImageRow, ScoreRow>? engine = Rent();
        try
        {
            return Score(ref engine, image, path);
        }
        finally
        {
            if (engine is not null) _engines.Pool.Return(engine);
        }
    }

    /// <summary>Runs the engine; one that throws mid-prediction is not trusted again: it is disposed, not pooled.</summary>
    private ImagePrediction Score(ref PredictionEngine<ImageRow, ScoreRow>? engine, MLImage image, string path)
    {
        ScoreRow row;
        try
        {
            row = engine!.Predict(new ImageRow { ImagePath = path, Image = image });
        }
        catch
        {
            engine!.Dispose();
            engine = null;
            throw;
        }
        return ImagePrediction.From(path, row.Score, _classes);
    }

    private PredictionEngine<ImageRow, ScoreRow> Rent()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _engines.Pool.Get();
    }

    /// <summary>Releases the pooled engines and, when this loaded the zip itself, the model (its ONNX Runtime sessions).
    /// Callers must have finished predicting; <see cref="ReloadingImageClassifier"/> ensures that for swapped models.</summary>
    /// <summary>Saves this classifier as a model zip, atomically (e.g. a pretrained network used as a classifier).</summary>
    public void Save(string path) => ModelZip.Save(_ml, Model, Metadata, path);

    /// <summary>Writes this classifier as one standalone ONNX file (see <see cref="Export.ModelExport"/>: input, outputs, limits).</summary>
    public Export.OnnxExportSummary ExportOnnx(string path) => Export.ModelExport.ExportOnnx(this, path);

    /// <summary>
    /// Where in the image the evidence for a class lies (Grad-CAM; <see cref="Reporting.ClassActivationMap"/>): for the
    /// predicted class, or for <paramref name="className"/>. Works for every kind of zip this tool saves whose head is
    /// linear (not LightGBM); needs the <c>MlNetTransfer.FineTuning</c> package, which computes the gradients. A missing or
    /// unusable image, or an unknown class, is an error naming it. One image at a time per classifier.
    /// </summary>
    public Reporting.ClassActivationMap Explain(string imagePath, string? className = null)
    {
        ArgumentNullException.ThrowIfNull(imagePath);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        // The Grad-CAM network is built on first use and kept: building it costs more than one image.
        lock (_heatMapGate) return (_heatMapper ??= Reporting.HeatMapper.Create(this)).Explain(imagePath, className);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        lock (_heatMapGate) _heatMapper?.Dispose();
        _engines.Dispose();
        if (_ownsModel) (Model as IDisposable)?.Dispose();
    }

    private static byte[] ReadFile(string path)
    {
        try
        {
            if (Directory.Exists(path)) throw new MlNetTransferException($"{path}: is a folder, not an image file.");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new MlNetTransferException($"{path}: file not found.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlNetTransferException($"{path}: cannot be read ({e.Message}).", e);
        }
    }

    /// <summary>Flattens the (nested) chain and splits off its leading LoadImages step, finding the image column it
    /// makes (ML.NET keeps the loader's column pairs internal, so the column is read off its output schema).</summary>
    private static (ITransformer AfterLoader, string ImageColumn) SplitAtLoader(MLContext ml, ITransformer model, string pathColumn, string modelPath)
    {
        var steps = Flatten(model).ToArray();
        var notOurs = $"{Describe(modelPath)}: not an image classifier saved by this tool (its ML.NET chain must start with LoadImages({pathColumn}) and go on to a classifier)";
        if (steps.Length < 2 || steps[0] is not ImageLoadingTransformer loader) throw new MlNetTransferException(notOurs + ".");
        var input = Featurization.ImageFeaturizer.EmptyInput(ml, pathColumn).Schema;
        DataViewSchema loaded;
        try
        {
            loaded = loader.GetOutputSchema(input);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidOperationException)
        {
            throw new MlNetTransferException($"{notOurs}: {e.Message}", e);
        }
        var images = loaded.Where(c => c.Type is ImageDataViewType && input.GetColumnOrNull(c.Name) is null).ToArray();
        if (images.Length != 1) throw new MlNetTransferException(notOurs + ".");
        return (new TransformerChain<ITransformer>(steps[1..]), images[0].Name);
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];

    private static string Describe(string modelPath) => modelPath == "" ? "model" : modelPath;

    private static string[] SlotNames(DataViewSchema schema)
    {
        if (schema.GetColumnOrNull("Score") is not { } score || !score.HasSlotNames()) return [];
        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }

    /// <summary>The chain's input after LoadImages: the decoded image, and the path column in case a later step reads it.</summary>
    internal sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";

        /// <remarks>ML.NET only binds an MLImage member through a sized image type, and no size is right for every image;
        /// the step after LoadImages is ResizeImages, which accepts an image column of any declared size.</remarks>
        [ImageType(1, 1)]
        public MLImage? Image { get; set; }
    }

    /// <summary>Only Score is read (see <see cref="ImagePrediction"/>): it is the one output every kind of zip shares.</summary>
    internal sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }

    /// <summary>The pool as created by <see cref="DefaultObjectPoolProvider"/> (which disposes engines it drops and,
    /// when disposed itself, the ones it holds), with its disposal made explicit.</summary>
    private sealed class DisposableObjectPool(ObjectPool<PredictionEngine<ImageRow, ScoreRow>> pool) : IDisposable
    {
        public ObjectPool<PredictionEngine<ImageRow, ScoreRow>> Pool { get; } = pool;

        public void Dispose() => (Pool as IDisposable)?.Dispose();
    }
}
