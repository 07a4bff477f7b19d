using Microsoft.ML.OnnxRuntime;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Tests.Backbones;

/// <summary>A float tensor fed to or read from ONNX Runtime in tests.</summary>
public sealed record FloatTensor(float[] Values, long[] Dims);

/// <summary>Runs a model in ONNX Runtime on float inputs and returns every graph output (as float).</summary>
internal static class OrtRunner
{
    public static Dictionary<string, FloatTensor> Run(ModelProto model, params (string Name, FloatTensor Tensor)[] inputs)
    {
        using var session = new InferenceSession(OnnxModelFile.ToBytes(model));
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
}
