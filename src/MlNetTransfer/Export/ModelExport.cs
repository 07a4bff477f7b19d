using System.Text.Json;
using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Export;

/// <summary>
/// Writes a saved classifier as one standalone ONNX file: the zip's own ONNX graph (its baked normalisation and its backbone,
/// int8 or fine-tuned float, as the zip holds it) followed by the zip's head (its normaliser, linear weights and output
/// mapping) written as ONNX operators, so the file's <see cref="ScoreOutput"/> equals the zip's <c>Score</c> column.
/// Needs no TorchSharp: everything is read off the loaded ML.NET chain.
/// </summary>
/// <remarks>
/// The input is what the zip's <c>ExtractPixels</c> step hands its ONNX graph: <see cref="InputName"/>, float32
/// [N, 3, H, W] (NCHW), R, G, B planes of raw 0..255 values, the image already brought to W × H the way the zip's
/// <c>ResizeImages</c> does it (<see cref="OnnxExportSummary.Resizing"/>). Decoding and resizing stay with the caller because
/// ONNX has no image decoder and no resize that reproduces SkiaSharp's filter bit for bit.
/// </remarks>
public static class ModelExport
{
    /// <summary>The exported graph's input: float32 [N, 3, H, W], R, G, B, 0..255.</summary>
    public const string InputName = "pixels";

    /// <summary>Output: float32 [N, C], the zip's Score (class probabilities for every head this tool trains).</summary>
    public const string ScoreOutput = "Score";

    /// <summary>Output: string [N], the class name with the highest score (the zip's PredictedLabel).</summary>
    public const string LabelOutput = "PredictedLabel";

    /// <summary>Key of the model metadata entry holding the class names as a JSON array, in Score's order.</summary>
    public const string ClassesKey = "classes";

    /// <summary>Builds the ONNX model of a loaded classifier (see the class remarks; internal like every protobuf type, the public calls write the file). Throws <see cref="MlNetTransferException"/>
    /// naming the step when the zip's chain holds something this cannot write as ONNX.</summary>
    internal static ModelProto ToOnnx(ImageClassifier classifier, out OnnxExportSummary summary)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        var source = string.IsNullOrEmpty(classifier.ModelPath) ? "model" : classifier.ModelPath;
        var chain = SavedChain.Read(classifier.Model, source);
        var model = chain.OnnxModel;
        var graph = model.Graph;

        // Only the tensor the head reads is kept as an output; the input gets the documented name.
        graph.Output.Clear();
        graph.Output.Add(new ValueInfoProto { Name = chain.OnnxOutput });
        OnnxGraphEditing.Prune(graph);
        if (chain.OnnxInput != InputName)
        {
            OnnxGraphEditing.Reserve(graph, InputName);
            OnnxGraphEditing.RenameTensor(graph, chain.OnnxInput, InputName);
        }
        var input = graph.Input.Single(i => i.Name == InputName);
        CheckInput(input, chain, source);

        var classes = classifier.Classes;
        var writer = new OnnxHeadWriter(graph);
        var scores = writer.Write(chain.Head, chain.OnnxOutput, classes.Count, source);
        var labels = writer.ArgMaxLabel(scores, classes);
        writer.Rename(scores, ScoreOutput);
        writer.Rename(labels, LabelOutput);
        graph.Output.Clear();
        graph.Output.Add(OnnxNodes.TensorValue(ScoreOutput, DataType.Float, -1, classes.Count));
        graph.Output.Add(OnnxNodes.TensorValue(LabelOutput, DataType.String, -1));
        graph.ValueInfo.Clear(); // stale shapes of the cut graph's former outputs would mislead ONNX Runtime's checker
        graph.Name = "mlnet_transfer_classifier";

        var dims = OnnxNodes.Dims(input) ?? [];
        summary = new OnnxExportSummary
        {
            InputName = InputName,
            InputShape = dims,
            Width = chain.Width,
            Height = chain.Height,
            Resizing = chain.Resizing,
            Head = chain.Head.Description,
            Classes = classes.ToArray(),
            Kind = classifier.Metadata.Kind,
            Backbone = classifier.Metadata.Backbone,
        };
        model.DocString = summary.DocString();
        model.ProducerName = "mlnet-transfer";
        model.ProducerVersion = ProductVersion.Current;
        model.MetadataProps.Clear();
        void Meta(string key, string value) => model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        Meta(ClassesKey, JsonSerializer.Serialize(classes));
        Meta("input", summary.InputDescription());
        Meta("resizing", chain.Resizing.ToString());
        Meta("head", chain.Head.Description);
        Meta("kind", classifier.Metadata.Kind);
        Meta("backbone", classifier.Metadata.Backbone);
        if (classifier.ModelSha256.Length > 0) Meta("source_zip_sha256", classifier.ModelSha256);
        return model;
    }

    /// <summary>Writes the ONNX file atomically and returns what it holds.</summary>
    public static OnnxExportSummary ExportOnnx(ImageClassifier classifier, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var model = ToOnnx(classifier, out var summary);
        OnnxModelFile.Save(model, path);
        return summary with { Path = Path.GetFullPath(path), Bytes = new FileInfo(path).Length };
    }

    /// <summary>Exports the model zip at <paramref name="zipPath"/>.</summary>
    public static OnnxExportSummary ExportOnnx(string zipPath, string onnxPath)
    {
        using var classifier = ImageClassifier.Load(zipPath);
        return ExportOnnx(classifier, onnxPath);
    }

    private static void CheckInput(ValueInfoProto input, SavedChain chain, string source)
    {
        var type = (DataType)(input.Type?.TensorType?.ElemType ?? 0);
        var dims = OnnxNodes.Dims(input);
        if (type != DataType.Float || dims is not { Length: 4 } || dims[1] != 3 || dims[2] != chain.Height || dims[3] != chain.Width)
            throw new MlNetTransferException($"{source}: its ONNX graph's input '{chain.OnnxInput}' is {type} [{string.Join(", ", dims ?? [])}], " +
                $"not float [N, 3, {chain.Height}, {chain.Width}] as the pixel steps produce; this export supports only that layout.");
    }
}

/// <summary>What an exported ONNX file takes and gives (also written into the file's doc string and metadata).</summary>
public sealed record OnnxExportSummary
{
    public string Path { get; init; } = "";
    public long Bytes { get; init; }
    public string InputName { get; init; } = ModelExport.InputName;

    /// <summary>The input's dimensions as the graph declares them (-1 for a symbolic batch size).</summary>
    public IReadOnlyList<long> InputShape { get; init; } = [];
    public int Width { get; init; }
    public int Height { get; init; }
    public ImageResizingEstimator.ResizingKind Resizing { get; init; }
    public string Head { get; init; } = "";
    public IReadOnlyList<string> Classes { get; init; } = [];
    public string Kind { get; init; } = "";
    public string Backbone { get; init; } = "";

    /// <summary>How to prepare an image for the input, in one sentence.</summary>
    public string InputDescription()
    {
        var batch = InputShape.Count > 0 && InputShape[0] > 0 ? InputShape[0].ToString() : "N";
        var resize = Resizing switch
        {
            ImageResizingEstimator.ResizingKind.IsoCrop => "scaled keeping its aspect ratio until it covers the size, then centre-cropped (ML.NET ResizingKind.IsoCrop, cubic Mitchell filter)",
            ImageResizingEstimator.ResizingKind.IsoPad => "scaled keeping its aspect ratio to fit inside the size, the rest padded black (ML.NET ResizingKind.IsoPad)",
            _ => "stretched to the size (ML.NET ResizingKind.Fill, nearest neighbour)",
        };
        return $"'{InputName}': float32 [{batch}, 3, {Height}, {Width}], NCHW, channels R, G, B, values 0..255 (not scaled: the " +
               $"network's normalisation is inside the graph); each image {resize} to {Width}x{Height} by the caller, alpha dropped.";
    }

    internal string DocString() =>
        $"Image classifier exported by mlnet-transfer {ProductVersion.Current} from a {Kind} model zip (backbone {Backbone}). " +
        $"Input {InputDescription()} Outputs: '{ModelExport.ScoreOutput}' float32 [N, {Classes.Count}], the model's scores per class " +
        $"({Head}); '{ModelExport.LabelOutput}' string [N], the class with the highest score. Class names, in score order, are in " +
        $"the metadata entry '{ModelExport.ClassesKey}' (a JSON array): {string.Join(", ", Classes)}.";
}
