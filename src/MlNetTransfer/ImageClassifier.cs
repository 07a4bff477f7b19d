using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;

namespace MlNetTransfer;

/// <summary>
/// A saved model, loaded once, that labels images. Safe to call from many threads: ML.NET's
/// <see cref="PredictionEngine{TSrc,TDst}"/> is not, so each call borrows one from a small pool.
/// </summary>
public sealed class ImageClassifier
{
    private readonly MLContext _ml;
    private readonly ConcurrentBag<PredictionEngine<ImageFeaturizer.ImagePathRow, ScoreRow>> _engines = new();
    private readonly string[] _classes;

    internal ImageClassifier(MLContext ml, ITransformer model, ModelMetadata metadata)
    {
        _ml = ml;
        Model = model;
        Metadata = metadata;
        _classes = metadata.Classes.Count > 0 ? metadata.Classes.ToArray() : SlotNames(ml, model, metadata.ImagePathColumn);
    }

    public ITransformer Model { get; }

    public ModelMetadata Metadata { get; }

    public IReadOnlyList<string> Classes => _classes;

    /// <summary>Loads a model zip saved by this tool (or any ML.NET zip of the same shape).</summary>
    public static ImageClassifier Load(MLContext ml, string zipPath)
    {
        if (!File.Exists(zipPath)) throw new MlNetTransferException($"{zipPath}: model file not found.");
        ITransformer model;
        try
        {
            model = ml.Model.Load(zipPath, out _);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidDataException or IOException)
        {
            throw new MlNetTransferException($"{zipPath}: not a readable ML.NET model ({e.Message}).", e);
        }
        var metadata = ModelMetadata.Read(zipPath) ?? new ModelMetadata();
        return new ImageClassifier(ml, model, metadata);
    }

    /// <summary>Labels one image file. A file that is not a decodable JPEG/PNG/BMP/WebP is an error naming it.</summary>
    public ImagePrediction Predict(string imagePath)
    {
        var check = ImageFileValidator.Validate(imagePath);
        if (!check.IsValid) throw new MlNetTransferException($"{imagePath}: {check.Reason}");
        if (!_engines.TryTake(out var engine))
            engine = _ml.Model.CreatePredictionEngine<ImageFeaturizer.ImagePathRow, ScoreRow>(Model,
                inputSchemaDefinition: ImageFeaturizer.SchemaFor(_ml, Metadata.ImagePathColumn));
        try
        {
            var row = engine.Predict(new ImageFeaturizer.ImagePathRow { ImagePath = Path.GetFullPath(imagePath) });
            return ImagePrediction.From(imagePath, row.Score, _classes);
        }
        finally
        {
            _engines.Add(engine);
        }
    }

    /// <summary>Labels many images, in order, through one streaming pass of the ML.NET pipeline.</summary>
    public IReadOnlyList<ImagePrediction> PredictBatch(IEnumerable<string> imagePaths)
    {
        var paths = imagePaths.Select(Path.GetFullPath).ToArray();
        foreach (var p in paths)
        {
            var check = ImageFileValidator.Validate(p);
            if (!check.IsValid) throw new MlNetTransferException($"{p}: {check.Reason}");
        }
        var data = _ml.Data.LoadFromEnumerable(paths.Select(p => new ImageFeaturizer.ImagePathRow { ImagePath = p }),
            ImageFeaturizer.SchemaFor(_ml, Metadata.ImagePathColumn));
        var rows = _ml.Data.CreateEnumerable<ScoreRow>(Model.Transform(data), reuseRowObject: false);
        return rows.Zip(paths, (r, p) => ImagePrediction.From(p, r.Score, _classes)).ToList();
    }

    private static string[] SlotNames(MLContext ml, ITransformer model, string pathColumn)
    {
        var schema = model.GetOutputSchema(ml.Data.LoadFromEnumerable(Array.Empty<ImageFeaturizer.ImagePathRow>(), ImageFeaturizer.SchemaFor(ml, pathColumn)).Schema);
        var score = schema["Score"];
        if (!score.HasSlotNames()) return [];
        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }

    /// <summary>Only Score is read: every kind of zip has it, and its arg-max is the predicted label
    /// (pretrained-classifier zips carry PredictedLabel as a one-element vector, trained ones as text).</summary>
    internal sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }

    /// <summary>Saves this classifier as a model zip, atomically.</summary>
    public void Save(string path) => ModelZip.Save(_ml, Model, Metadata, path);
}

/// <summary>One image's prediction: the label, its probability, and every class's probability.</summary>
public sealed record ImagePrediction
{
    public string ImagePath { get; init; } = "";
    public string Label { get; init; } = "";
    public float Confidence { get; init; }
    /// <summary>Per-class probability, in the model's class order.</summary>
    public IReadOnlyList<KeyValuePair<string, float>> Scores { get; init; } = [];

    public IReadOnlyList<KeyValuePair<string, float>> Top(int k) => Scores.OrderByDescending(s => s.Value).Take(k).ToList();

    internal static ImagePrediction From(string path, float[] score, string[] classes)
    {
        var scores = score.Select((v, i) => new KeyValuePair<string, float>(i < classes.Length ? classes[i] : $"class{i}", v)).ToList();
        var best = scores.Count == 0 ? default : scores.MaxBy(s => s.Value);
        return new ImagePrediction { ImagePath = path, Label = best.Key ?? "", Confidence = best.Value, Scores = scores };
    }
}
