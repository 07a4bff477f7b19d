using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Tests.Backbones;

/// <summary>A float tensor fed to or read from ONNX Runtime in tests.</summary>
public sealed record FloatTensor(float[] Values, long[] Dims);

/// <summary>Runs a model in ONNX Runtime on float inputs and returns every graph output (as float): the tests' one runner.
/// One thread, so a test's numbers do not depend on how many cores the machine has free.</summary>
internal static class OrtRunner
{
    public static Dictionary<string, FloatTensor> Run(ModelProto model, params (string Name, FloatTensor Tensor)[] inputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(OnnxModelFile.ToBytes(model), options);
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Tensor.Values, i.Tensor.Dims)).ToList();
        try
        {
            var outputs = session.OutputMetadata.Keys.ToList();
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputs.Select(i => i.Name).ToList(), values, outputs);
            return outputs.Select((name, k) => (name, value: results[k])).ToDictionary(
                p => p.name,
                p => new FloatTensor(p.value.GetTensorDataAsSpan<float>().ToArray(), p.value.GetTensorTypeAndShape().Shape));
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public static FloatTensor Run(ModelProto model, string output, string inputName, FloatTensor input) => Run(model, (inputName, input))[output];

    /// <summary>One output's values for an input given as ONNX Runtime's own tensor type.</summary>
    public static float[] Output(ModelProto model, string inputName, DenseTensor<float> input, string outputName) =>
        Run(model, outputName, inputName, new FloatTensor(input.ToArray(), input.Dimensions.ToArray().Select(d => (long)d).ToArray())).Values;

    /// <summary>The index of the largest value of each row of a [rows, columns] output.</summary>
    public static int[] ArgMaxRows(float[] values, int columns) =>
        Enumerable.Range(0, values.Length / columns).Select(r =>
        {
            var row = values.AsSpan(r * columns, columns);
            var best = 0;
            for (var i = 1; i < columns; i++) if (row[i] > row[best]) best = i;
            return best;
        }).ToArray();
}
