using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MlNetTransfer.Tests.Dequantize;

/// <summary>Runs an in-memory model in ONNX Runtime and returns one float output.</summary>
internal static class OnnxRun
{
    public static float[] Output(ModelProto model, string inputName, DenseTensor<float> input, string outputName)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(OnnxModelFile.ToBytes(model), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(inputName, input)]);
        return results.First(r => r.Name == outputName).AsEnumerable<float>().ToArray();
    }

    public static int[] ArgMaxRows(float[] values, int columns) =>
        Enumerable.Range(0, values.Length / columns).Select(r =>
        {
            var row = values.AsSpan(r * columns, columns);
            var best = 0;
            for (var i = 1; i < columns; i++) if (row[i] > row[best]) best = i;
            return best;
        }).ToArray();
}
