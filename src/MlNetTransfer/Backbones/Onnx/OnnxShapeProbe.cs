using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Shape, element type and (for float tensors, else null) values of one tensor as ONNX Runtime produced it.</summary>
internal sealed record ProbedTensor(string Name, long[] Dims, TensorElementType ElementType, float[]? Values);

/// <summary>
/// Learns the real shapes of intermediate tensors by running the model once in ONNX Runtime on an all-zero input
/// with those tensors exposed as extra graph outputs (models rarely carry complete shape information).
/// </summary>
internal static class OnnxShapeProbe
{
    /// <summary>Runs the model with batch size 1 and returns shape and type of each requested tensor.</summary>
    /// <param name="model">The model; it is not changed.</param>
    /// <param name="tensors">Tensor names to report (graph outputs or intermediate tensors).</param>
    /// <param name="spec">Fills symbolic image dimensions (height, width, channels); null means 224x224 RGB.</param>
    public static IReadOnlyDictionary<string, ProbedTensor> Probe(ModelProto model, IEnumerable<string> tensors, BackboneSpec? spec)
    {
        var wanted = tensors.Distinct().ToList();
        var probe = model.Clone();
        var existing = probe.Graph.Output.Select(o => o.Name).ToHashSet();
        // A value info with only a name is enough: ONNX Runtime infers the type of a graph output.
        foreach (var t in wanted) if (!existing.Contains(t)) probe.Graph.Output.Add(new ValueInfoProto { Name = t });

        return Run(probe, wanted, spec).ToDictionary(p => p.Name);
    }

    /// <summary>Runs a model on all-zero inputs (batch 1) and returns the requested outputs.</summary>
    public static IReadOnlyList<ProbedTensor> Run(ModelProto model, IReadOnlyList<string> outputs, BackboneSpec? spec)
    {
        var bytes = OnnxModelFile.ToBytes(model);
        var name = string.IsNullOrEmpty(model.Graph.Name) ? "ONNX model" : $"ONNX model '{model.Graph.Name}'";
        var inputValues = new List<OrtValue>();
        try
        {
            using var options = new SessionOptions
            {
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC,
            };
            using var session = new InferenceSession(bytes, options);
            var imageInput = spec?.InputName ?? session.InputMetadata.Keys.First();
            var inputNames = new List<string>();
            foreach (var (inputName, meta) in session.InputMetadata)
            {
                var dims = ZeroInputShape(meta.Dimensions, inputName == imageInput || session.InputMetadata.Count == 1, spec);
                inputNames.Add(inputName);
                inputValues.Add(Zeros(meta.ElementDataType, dims, inputName));
            }
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputNames, inputValues, outputs);
            return results.Select((r, i) =>
            {
                var info = r.GetTensorTypeAndShape();
                var values = info.ElementDataType == TensorElementType.Float ? r.GetTensorDataAsSpan<float>().ToArray() : null;
                return new ProbedTensor(outputs[i], info.Shape, info.ElementDataType, values);
            }).ToList();
        }
        catch (OnnxRuntimeException e)
        {
            throw new MlNetTransferException($"{name}: ONNX Runtime could not run it ({e.Message.Trim()}).", e);
        }
        finally
        {
            foreach (var v in inputValues) v.Dispose();
        }
    }

    /// <summary>Fills unknown dimensions: batch 1; for a 4-D image input channels 3 and the spec's height/width.</summary>
    private static long[] ZeroInputShape(int[] dims, bool isImage, BackboneSpec? spec)
    {
        var shape = dims.Select(d => (long)d).ToArray();
        if (shape.Length > 0 && shape[0] < 0) shape[0] = 1;
        if (isImage && shape.Length == 4)
        {
            long h = spec?.InputHeight ?? 224, w = spec?.InputWidth ?? 224;
            bool channelsLast = spec is not null ? spec.IsChannelsLast : shape[3] == 3 && shape[1] != 3;
            long[] fill = channelsLast ? [1, h, w, 3] : [1, 3, h, w];
            for (int i = 1; i < 4; i++) if (shape[i] < 0) shape[i] = fill[i];
        }
        for (int i = 0; i < shape.Length; i++) if (shape[i] < 0) shape[i] = 1;
        return shape;
    }

    private static OrtValue Zeros(TensorElementType type, long[] shape, string inputName)
    {
        var n = checked((int)shape.Aggregate(1L, (a, d) => a * d));
        return type switch
        {
            TensorElementType.Float => OrtValue.CreateTensorValueFromMemory(new float[n], shape),
            TensorElementType.Double => OrtValue.CreateTensorValueFromMemory(new double[n], shape),
            TensorElementType.Float16 => OrtValue.CreateTensorValueFromMemory(new Float16[n], shape),
            TensorElementType.UInt8 => OrtValue.CreateTensorValueFromMemory(new byte[n], shape),
            TensorElementType.Int8 => OrtValue.CreateTensorValueFromMemory(new sbyte[n], shape),
            TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(new int[n], shape),
            TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(new long[n], shape),
            TensorElementType.Bool => OrtValue.CreateTensorValueFromMemory(new bool[n], shape),
            _ => throw new MlNetTransferException($"Model input '{inputName}' has element type {type}, which cannot be fed with a test value."),
        };
    }
}
