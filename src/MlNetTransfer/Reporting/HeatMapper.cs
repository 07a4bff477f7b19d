using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Export;
using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Reporting;

/// <summary>
/// Grad-CAM for one loaded classifier: its chain read once (<see cref="SavedChain"/>), the pixels of an image computed by
/// the chain's own LoadImages → ResizeImages → ExtractPixels steps, and the network from the fine-tuning package
/// (<see cref="FineTuningEngines.GradCam"/>). Not thread-safe; <see cref="ImageClassifier.Explain"/> serialises calls.
/// </summary>
internal sealed class HeatMapper : IDisposable
{
    private readonly MLContext _ml = new();
    private readonly SavedChain _chain;
    private readonly IGradCamNetwork _network;
    private readonly ImageClassifier _classifier;
    private readonly SchemaDefinition _pathSchema;

    private HeatMapper(ImageClassifier classifier, SavedChain chain, IGradCamNetwork network)
    {
        (_classifier, _chain, _network) = (classifier, chain, network);
        _pathSchema = SchemaDefinition.Create(typeof(Featurization.ImageFeaturizer.ImagePathRow));
        var column = string.IsNullOrEmpty(classifier.Metadata.ImagePathColumn) ? "ImagePath" : classifier.Metadata.ImagePathColumn;
        _pathSchema[nameof(Featurization.ImageFeaturizer.ImagePathRow.ImagePath)].ColumnName = column;
    }

    /// <summary>What to tell a user whose app lacks the fine-tuning package.</summary>
    public static string MissingEngineMessage =>
        $"Heat maps (Grad-CAM) need the gradients of the network, which the {FineTuningEngines.PackageName} package computes with TorchSharp: " +
        $"add it with `dotnet add package {FineTuningEngines.PackageName}`.";

    /// <summary>Throws <see cref="MlNetTransferException"/> saying why when the classifier cannot be explained: no
    /// fine-tuning package, a chain this tool did not write, a head without gradients (LightGBM), no spatial layer.</summary>
    public static HeatMapper Create(ImageClassifier classifier) => Create(classifier, FineTuningEngines.GradCam);

    /// <summary><see cref="Create(ImageClassifier)"/> with the engine given (null: as if the package were missing).</summary>
    internal static HeatMapper Create(ImageClassifier classifier, IGradCamEngine? engine)
    {
        var source = string.IsNullOrEmpty(classifier.ModelPath) ? "model" : classifier.ModelPath;
        if (engine is null) throw new MlNetTransferException($"{source}: {MissingEngineMessage}");
        var chain = SavedChain.Read(classifier.Model, source, "has no heat maps (Grad-CAM needs a network and a linear head it can differentiate)");
        return new HeatMapper(classifier, chain, engine.Load(chain, classifier.Classes.Count, source));
    }

    public string Layer => _network.Layer;

    /// <summary>The classifier's chain as read: input size and resizing place a map on its image.</summary>
    public SavedChain Chain => _chain;

    /// <summary>The centre of the input the network sees: its graph crops the backbone's own input size (the zip's
    /// metadata) out of a larger resize; without a crop, the whole input.</summary>
    public (int Width, int Height) View => _classifier.Metadata is { InputWidth: > 0, InputHeight: > 0 } m && m.InputWidth <= _chain.Width && m.InputHeight <= _chain.Height
        ? (m.InputWidth, m.InputHeight) : (_chain.Width, _chain.Height);

    /// <summary>Grad-CAM of <paramref name="classIndex"/> (null: the top class) on an image file.</summary>
    public GradCamOutput Compute(string imagePath, int? classIndex) => _network.Compute(Pixels(imagePath), classIndex);

    /// <summary>The map for <see cref="ImageClassifier.Explain"/>: the zip's prediction and Grad-CAM, normalised to [0, 1].</summary>
    public ClassActivationMap Explain(string imagePath, string? className)
    {
        var prediction = _classifier.Predict(imagePath); // checks the file first, naming it when it is no usable image
        int? index = null;
        if (className is not null)
        {
            index = _classifier.Classes.ToList().IndexOf(className);
            if (index < 0)
                throw new MlNetTransferException($"{(_classifier.ModelPath is { Length: > 0 } p ? p : "model")}: has no class '{className}' (its classes: {string.Join(", ", _classifier.Classes)}).");
        }
        var predicted = _classifier.Classes.ToList().IndexOf(prediction.Label);
        var output = Compute(Path.GetFullPath(imagePath), index ?? (predicted >= 0 ? predicted : null));
        var explained = _classifier.Classes[output.TargetClass];
        return new ClassActivationMap
        {
            ImagePath = Path.GetFullPath(imagePath),
            Prediction = prediction,
            Class = explained,
            ClassProbability = prediction.Scores.FirstOrDefault(s => s.Key == explained).Value,
            Layer = Layer,
            GridWidth = output.GridWidth,
            GridHeight = output.GridHeight,
            Values = Normalise(output.Cam),
            InputWidth = _chain.Width,
            InputHeight = _chain.Height,
            Resizing = _chain.Resizing,
            ViewWidth = View.Width,
            ViewHeight = View.Height,
        };
    }

    /// <summary>Divided by the maximum, so 1 marks the strongest evidence; all zeros stay zeros.</summary>
    internal static float[] Normalise(float[] cam)
    {
        var max = cam.Length == 0 ? 0 : cam.Max();
        return max > 0 && float.IsFinite(max) ? cam.Select(v => v / max).ToArray() : new float[cam.Length];
    }

    /// <summary>The zip chain's own pixels for the image: [3, H, W], R, G, B, 0..255.</summary>
    internal float[] Pixels(string imagePath)
    {
        var row = new Featurization.ImageFeaturizer.ImagePathRow { ImagePath = imagePath };
        var view = _chain.PixelSteps.Transform(_ml.Data.LoadFromEnumerable([row], _pathSchema));
        var column = view.Schema[_chain.PixelColumn];
        using var cursor = view.GetRowCursor([column]);
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        VBuffer<float> buffer = default;
        if (!cursor.MoveNext()) throw new MlNetTransferException($"{imagePath}: the model's image steps produced no pixels.");
        getter(ref buffer);
        return buffer.DenseValues().ToArray();
    }

    public void Dispose() => _network.Dispose();
}
