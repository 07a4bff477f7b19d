using System.Collections.Immutable;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;
using Microsoft.ML.Transforms.Onnx;

namespace MlNetTransfer.Export;

/// <summary>One step of a head as ONNX will compute it.</summary>
internal abstract record HeadStep;

/// <summary>ML.NET's affine normaliser: y = (x − offset) · scale (offset empty when it fixed zero).</summary>
internal sealed record AffineStep(float[] Scale, float[] Offset) : HeadStep;

/// <summary>ML.NET's L2 normaliser: y = x / ‖x‖₂.</summary>
internal sealed record L2NormStep : HeadStep;

/// <summary>How a linear head's raw scores z = W·x + b become ML.NET's Score.</summary>
internal enum LinearOutput
{
    /// <summary>Score = z.</summary>
    Raw,

    /// <summary>Score = softmax(z) (maximum entropy heads, and one-versus-all with the softmax formula).</summary>
    Softmax,

    /// <summary>One-versus-all with Platt calibrators: p = 1 / (1 + exp(a·z + b)) per class, then p / Σp.</summary>
    PlattNormalized,
}

/// <summary>A linear head: W [C, D], b [C], and its output mapping (calibrator slopes a and offsets b for Platt).</summary>
internal sealed record LinearStep(float[][] Weights, float[] Bias, LinearOutput Output, float[]? PlattSlope = null, float[]? PlattOffset = null) : HeadStep;

/// <summary>The ONNX graph's output already is the Score (a pretrained network's own classifier).</summary>
internal sealed record IdentityStep : HeadStep;

internal sealed record SavedHead(IReadOnlyList<HeadStep> Steps, string Description);

/// <summary>
/// A saved model's chain read for export: the pixel steps' settings, the ONNX graph's bytes and its input and output, and the
/// head after it. Only chains this tool writes are understood; anything else is named in the error.
/// </summary>
internal sealed record SavedChain
{
    public required int Width { get; init; }
    public required int Height { get; init; }
    public required ImageResizingEstimator.ResizingKind Resizing { get; init; }
    public required Backbones.Onnx.Proto.ModelProto OnnxModel { get; init; }
    public required string OnnxInput { get; init; }
    public required string OnnxOutput { get; init; }
    public required SavedHead Head { get; init; }

    /// <summary>The chain's own LoadImages → ResizeImages → ExtractPixels steps, and the column of pixels they give the ONNX
    /// step: what a heat map feeds its network, so it sees the pixels prediction sees.</summary>
    public required ITransformer PixelSteps { get; init; }
    public required string PixelColumn { get; init; }

    private const string PretrainedScores = Backbones.PreparedClassifier.OutputName;

    /// <param name="model">The loaded chain.</param>
    /// <param name="source">The zip, named in errors.</param>
    /// <param name="refusal">What a chain this cannot read is refused for, in its errors.</param>
    public static SavedChain Read(ITransformer model, string source, string refusal = "cannot be exported to ONNX")
    {
        var steps = Flatten(model).ToList();
        string Unsupported(string what) => $"{source}: {refusal}: {what}.";
        int i = 0;
        T Next<T>(string expected) where T : class
        {
            while (i < steps.Count && steps[i] is ColumnSelectingTransformer) i++;
            if (i >= steps.Count || steps[i] is not T t)
                throw new MlNetTransferException(Unsupported($"step {i + 1} of its ML.NET chain is {(i < steps.Count ? steps[i].GetType().Name : "missing")}, where {expected} was expected"));
            i++;
            return t;
        }
        Next<ImageLoadingTransformer>("LoadImages");
        var resize = SingleColumn(Next<ImageResizingTransformer>("ResizeImages"));
        var (width, height) = (Field<int>(resize, "ImageWidth"), Field<int>(resize, "ImageHeight"));
        var resizing = Field<ImageResizingEstimator.ResizingKind>(resize, "Resizing");
        var anchor = Field<ImageResizingEstimator.Anchor>(resize, "Anchor");
        if (resizing != ImageResizingEstimator.ResizingKind.Fill && anchor != ImageResizingEstimator.Anchor.Center)
            throw new MlNetTransferException(Unsupported($"ResizeImages anchors at {anchor}; only Center is described"));
        var pixels = SingleColumn(Next<ImagePixelExtractingTransformer>("ExtractPixels"));
        var (colors, order) = (Field<ImagePixelExtractingEstimator.ColorBits>(pixels, "ColorsToExtract"), Field<ImagePixelExtractingEstimator.ColorsOrder>(pixels, "OrderOfExtraction"));
        var (interleave, offset, scale) = (Field<bool>(pixels, "InterleavePixelColors"), Field<float>(pixels, "OffsetImage"), Field<float>(pixels, "ScaleImage"));
        if (colors != ImagePixelExtractingEstimator.ColorBits.Rgb || order != ImagePixelExtractingEstimator.ColorsOrder.ARGB || interleave || offset != 0 || scale != 1
            || !Field<bool>(pixels, "OutputAsFloatArray"))
            throw new MlNetTransferException(Unsupported($"ExtractPixels has settings other than R, G, B planes of raw 0..255 floats " +
                $"(colors {colors}, order {order}, interleave {interleave}, offset {offset}, scale {scale})"));
        var pixelColumn = Field<string>(pixels, "Name");
        var pixelSteps = new TransformerChain<ITransformer>(steps.Take(i).ToArray());
        var onnx = Next<OnnxTransformer>("ApplyOnnxModel");
        var bytes = ReadOnnxBytes(onnx, source);
        var onnxModel = Backbones.Onnx.OnnxModelFile.Parse(bytes, source + " (its ONNX graph)");
        var graph = onnxModel.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = graph.Input.Select(v => v.Name).Where(n => !initializers.Contains(n)).ToArray();
        var outputs = graph.Output.Select(v => v.Name).ToArray();
        if (inputs.Length != 1 || inputs[0] != pixelColumn)
            throw new MlNetTransferException(Unsupported($"its ONNX step reads [{string.Join(", ", inputs)}], not only the pixels column '{pixelColumn}'"));

        var rest = steps.Skip(i).Where(s => s is not ColumnSelectingTransformer).ToList();
        SavedHead head;
        string output;
        if (rest.Count > 0 && rest.All(s => s is ValueMappingTransformer or ColumnCopyingTransformer) && outputs.Contains(PretrainedScores))
        {
            (head, output) = (new SavedHead([new IdentityStep()], "the pretrained network's own classifier output, as the zip's Score"), PretrainedScores);
        }
        else
        {
            if (outputs.Length != 1) throw new MlNetTransferException(Unsupported($"its ONNX step has outputs [{string.Join(", ", outputs)}] and no head this export knows"));
            output = outputs[0];
            head = ReadHead(rest, output, Unsupported);
        }
        return new SavedChain
        {
            Width = width,
            Height = height,
            Resizing = resizing,
            OnnxModel = onnxModel,
            OnnxInput = inputs[0],
            OnnxOutput = output,
            Head = head,
            PixelSteps = pixelSteps,
            PixelColumn = pixelColumn,
        };
    }

    private static SavedHead ReadHead(List<ITransformer> rest, string embedding, Func<string, string> unsupported)
    {
        var steps = new List<HeadStep>();
        var described = new List<string>();
        var column = embedding;
        foreach (var step in rest)
        {
            switch (step)
            {
                case NormalizingTransformer n when Field<string>(SingleColumn(n), "InputColumnName") == column:
                    if (n.GetNormalizerModelParameters(0) is not NormalizingTransformer.AffineNormalizerModelParameters<ImmutableArray<float>> affine)
                        throw new MlNetTransferException(unsupported($"its normaliser is {n.GetNormalizerModelParameters(0).GetType().Name}; only affine (mean-variance, min-max) ones are written"));
                    steps.Add(new AffineStep(affine.Scale.ToArray(), affine.Offset.IsDefault ? [] : affine.Offset.ToArray()));
                    described.Add("affine normaliser");
                    column = Field<string>(SingleColumn(n), "Name");
                    break;
                case LpNormNormalizingTransformer lp when Field<string>(SingleColumn(lp), "InputColumnName") == column:
                    var options = SingleColumn(lp);
                    var (norm, zeroMean, lpScale) = (Field<LpNormNormalizingEstimatorBase.NormFunction>(options, "Norm"), Field<bool>(options, "EnsureZeroMean"), Field<float>(options, "Scale"));
                    if (norm != LpNormNormalizingEstimatorBase.NormFunction.L2 || zeroMean || lpScale != 1)
                        throw new MlNetTransferException(unsupported($"its Lp normaliser uses {norm}, zero mean {zeroMean}, scale {lpScale}; only plain L2 is written"));
                    steps.Add(new L2NormStep());
                    described.Add("L2 normaliser");
                    column = Field<string>(options, "Name");
                    break;
                case ISingleFeaturePredictionTransformer<object> predictor when predictor.FeatureColumnName == column:
                    var linear = Linear(predictor.Model, unsupported);
                    steps.Add(linear);
                    described.Add($"linear head {predictor.Model.GetType().Name} ({linear.Output})");
                    return new SavedHead(steps, string.Join(" → ", described));
                default:
                    throw new MlNetTransferException(unsupported($"its head holds {step.GetType().Name}, which this export cannot write as ONNX"));
            }
        }
        throw new MlNetTransferException(unsupported("its chain has no classifier after the ONNX step"));
    }

    private static LinearStep Linear(object model, Func<string, string> unsupported)
    {
        switch (model)
        {
            case MaximumEntropyModelParameters maxEnt:
            {
                var (w, b) = Weights(maxEnt);
                return new LinearStep(w, b, LinearOutput.Softmax);
            }
            case LinearMulticlassModelParameters raw:
            {
                var (w, b) = Weights(raw);
                return new LinearStep(w, b, LinearOutput.Raw);
            }
            case OneVersusAllModelParameters ova:
            {
                var subs = Member<ImmutableArray<object>>(ova, "SubModelParameters");
                var formula = typeof(OneVersusAllModelParameters).GetField("_impl", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(ova)?.GetType().Name;
                var w = new float[subs.Length][];
                var b = new float[subs.Length];
                float[]? slope = null, offset = null;
                for (int c = 0; c < subs.Length; c++)
                {
                    LinearBinaryModelParameters linear;
                    if (PlattCalibrated(subs[c]) is var (sub, platt))
                    {
                        (slope ??= new float[subs.Length])[c] = (float)platt.Slope;
                        (offset ??= new float[subs.Length])[c] = (float)platt.Offset;
                        linear = sub;
                    }
                    else if (subs[c] is LinearBinaryModelParameters plain) linear = plain;
                    else throw new MlNetTransferException(unsupported($"its one-versus-all class {c} model is {subs[c].GetType().Name}; only linear ones (optionally Platt-calibrated) are written"));
                    w[c] = linear.Weights.ToArray();
                    b[c] = linear.Bias;
                }
                var output = formula switch
                {
                    "ImplDist" when slope is not null && offset is not null && slope.Length == subs.Length => LinearOutput.PlattNormalized,
                    "ImplRaw" when slope is null => LinearOutput.Raw,
                    "ImplSoftmax" when slope is null => LinearOutput.Softmax,
                    _ => throw new MlNetTransferException(unsupported($"its one-versus-all head combines its classes with '{formula ?? "an unknown formula"}' over {(slope is null ? "uncalibrated" : "calibrated")} models")),
                };
                return new LinearStep(w, b, output, slope, offset);
            }
            default:
                throw new MlNetTransferException(unsupported($"its head's model is {model.GetType().Name}; the export writes maximum-entropy, linear multiclass and one-versus-all linear heads"));
        }
    }

    /// <summary>A Platt-calibrated linear model: as loaded from a zip its type names both (CalibratedModelParametersBase of
    /// LinearBinaryModelParameters and PlattCalibrator); fresh from training it is a ParameterMixingCalibratedModelParameters
    /// over the interfaces, so the two parts are read off the base class and checked.</summary>
    private static (LinearBinaryModelParameters Sub, PlattCalibrator Platt)? PlattCalibrated(object model)
    {
        // Declared on the base itself: derived classes hide them with 'new' members of their own types.
        const BindingFlags Declared = BindingFlags.Instance | BindingFlags.Public | BindingFlags.DeclaredOnly;
        for (var type = model.GetType(); type is not null; type = type.BaseType)
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(CalibratedModelParametersBase<,>))
                return type.GetProperty("SubModel", Declared)?.GetValue(model) is LinearBinaryModelParameters sub
                       && type.GetProperty("Calibrator", Declared)?.GetValue(model) is PlattCalibrator platt
                    ? (sub, platt) : null;
        return null;
    }

    private static (float[][] W, float[] B) Weights(LinearMulticlassModelParametersBase model)
    {
        VBuffer<float>[] rows = [];
        model.GetWeights(ref rows, out int classes);
        var w = rows.Take(classes).Select(r => r.DenseValues().ToArray()).ToArray();
        return (w, model.GetBiases().ToArray());
    }

    /// <summary>The ONNX graph ML.NET holds for the step. ML.NET keeps it in a temporary file behind an internal stream
    /// (no public accessor), read here by reflection; a version without it fails loudly, naming what is missing.</summary>
    private static byte[] ReadOnnxBytes(OnnxTransformer onnx, string source)
    {
        var model = typeof(OnnxTransformer).GetField("Model", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(onnx);
        var stream = model?.GetType().GetProperty("ModelStream", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.GetValue(model) as Stream;
        if (stream is null)
            throw new MlNetTransferException($"{source}: this ML.NET version ({typeof(MLContext).Assembly.GetName().Version}) does not expose the ONNX graph of a loaded ApplyOnnxModel step the way the export reads it (OnnxTransformer.Model.ModelStream).");
        lock (stream)
        {
            var copy = new MemoryStream();
            stream.Position = 0;
            stream.CopyTo(copy);
            return copy.ToArray();
        }
    }

    /// <summary>ML.NET keeps the settings of its fitted image, normaliser and one-versus-all steps internal; they are read by
    /// reflection. A version whose members differ fails here with the member's name (the tests pin the version in use).</summary>
    private static T Member<T>(object owner, string name)
    {
        const BindingFlags any = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var type = owner.GetType();
        object? value = type.GetProperty(name, any) is { } p ? p.GetValue(owner) : type.GetField(name, any) is { } f ? f.GetValue(owner) : null;
        return value is T t ? t : throw new MlNetTransferException(
            $"This ML.NET version ({typeof(MLContext).Assembly.GetName().Version}) has no {type.Name}.{name} of type {typeof(T).Name}, which the ONNX export reads.");
    }

    private static T Field<T>(object owner, string name) => Member<T>(owner, name);

    /// <summary>The one column a fitted step works on (the chains this tool saves transform one column per step).</summary>
    private static object SingleColumn(ITransformer step)
    {
        var columns = Member<System.Collections.IEnumerable>(step, "Columns").Cast<object>().ToList();
        return columns.Count == 1 ? columns[0] : throw new MlNetTransferException($"{step.GetType().Name} transforms {columns.Count} columns; the export expects one.");
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];
}
