using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.Featurization;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Heads;

/// <summary>
/// Approach 1, the pretrained network as the classifier: its own head and label names, no training.
/// The graph gains an ArgMax output (the class index); ML.NET's <c>MapValue</c> turns it into the class name.
/// So the chain ends in the same <c>PredictedLabel</c> + <c>Score</c> columns as a trained model, with only
/// built-in transforms (a custom mapping could not be loaded from the zip without registering code).
/// One difference: <c>PredictedLabel</c> is a one-element text vector, as ML.NET reads no scalar ONNX outputs.
/// </summary>
public static class PretrainedClassifierHead
{
    private const string LabelOutput = "PredictedLabel";
    private const string IndexOutput = "class_index";

    public static IEstimator<ITransformer> CreateEstimator(MLContext ml, PreparedClassifier classifier, IReadOnlyList<string> labels,
        ImageFeaturizerOptions? options = null)
    {
        if (labels.Count != classifier.ClassCount)
            throw new MlNetTransferException($"Backbone '{classifier.Spec.Name}': its head has {classifier.ClassCount} classes but the labels file lists {labels.Count}.");
        var bytes = OnnxModelFile.ToBytes(WithClassIndex(classifier.ClassifierModel));
        var onnxOutputs = new[] { PreparedClassifier.OutputName, IndexOutput };
        var lookup = labels.Select((l, i) => new KeyValuePair<long, string>(i, l));
        options ??= new ImageFeaturizerOptions();
        return ImageFeaturizer.PixelChain(ml, classifier.Spec, options, PreparedClassifier.InputName)
            .Append(ml.Transforms.ApplyOnnxModel(onnxOutputs, [PreparedClassifier.InputName], new MemoryStream(bytes)))
            .Append(ml.Transforms.Conversion.MapValue(LabelOutput, lookup, IndexOutput))
            .Append(ml.Transforms.CopyColumns("Score", PreparedClassifier.OutputName))
            .Append(ml.Transforms.DropColumns(ImageFeaturizer.ImageColumn, PreparedClassifier.InputName, PreparedClassifier.OutputName, IndexOutput));
    }

    /// <summary>Reads a labels file: one class name per line, blank lines ignored.</summary>
    public static string[] ReadLabels(string path)
    {
        if (!File.Exists(path)) throw new MlNetTransferException($"{path}: labels file not found.");
        return File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
    }

    internal static ModelProto WithClassIndex(ModelProto model)
    {
        var m = model.Clone();
        var g = m.Graph;
        // ML.NET cannot read rank-0 ONNX outputs, so the index (and so PredictedLabel) is a vector of one element.
        g.Node.Add(OnnxNodes.Node("ArgMax", "label/argmax", [PreparedClassifier.OutputName], [IndexOutput], OnnxNodes.Attr("axis", 1L), OnnxNodes.Attr("keepdims", 0L)));
        g.Output.Add(OnnxNodes.TensorValue(IndexOutput, DataType.Int64, -1));
        return m;
    }
}
