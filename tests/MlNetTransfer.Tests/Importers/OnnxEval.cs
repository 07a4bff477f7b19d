using MlNetTransfer.Backbones.Importers;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.Tests.Backbones;

namespace MlNetTransfer.Tests.Importers;

/// <summary>Runs an imported model in ONNX Runtime (<see cref="OrtRunner"/>) and compares tensors with TensorFlow.js' in Keras layout.</summary>
internal static class OnnxEval
{
    /// <summary>Runs <paramref name="model"/> on <paramref name="input"/> and returns the named tensors (intermediate ones
    /// are exposed as extra graph outputs from their value_info) with their shapes.</summary>
    public static Dictionary<string, RefTensor> Run(ModelProto model, string inputName, RefTensor input, IEnumerable<string> tensors)
    {
        var m = model.Clone();
        var wanted = tensors.Distinct().ToList();
        foreach (var name in wanted.Where(n => m.Graph.Output.All(o => o.Name != n)))
        {
            var vi = m.Graph.ValueInfo.FirstOrDefault(v => v.Name == name) ?? throw new InvalidOperationException($"no value_info for '{name}'");
            m.Graph.ValueInfo.Remove(vi);
            m.Graph.Output.Add(vi);
        }
        var outputs = OrtRunner.Run(m, (inputName, new FloatTensor(input.Data, input.Shape.Select(d => (long)d).ToArray())));
        return wanted.ToDictionary(name => name, name => new RefTensor(outputs[name].Dims.Select(d => (int)d).ToArray(), outputs[name].Values));
    }

    /// <summary>NCHW → NHWC, to compare a channels-first feature map with Keras' layout.</summary>
    public static RefTensor ToNhwc(RefTensor t)
    {
        int n = t.Shape[0], c = t.Shape[1], h = t.Shape[2], w = t.Shape[3];
        var r = new float[t.Data.Length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        r[((b * h + y) * w + x) * c + ch] = t.Data[((b * c + ch) * h + y) * w + x];
        return new RefTensor([n, h, w, c], r);
    }

    /// <summary>The layer's tensor in Keras layout.</summary>
    public static RefTensor InKerasLayout(TfjsLayerTensor layer, RefTensor t) => layer.Layout == "NCHW" ? ToNhwc(t) : t;

    public static double MaxAbsDiff(RefTensor expected, RefTensor actual, string what)
    {
        Assert.True(expected.Shape.SequenceEqual(actual.Shape),
            $"{what}: shape [{string.Join(",", actual.Shape)}] differs from TensorFlow.js' [{string.Join(",", expected.Shape)}]");
        double max = 0;
        for (int i = 0; i < expected.Data.Length; i++)
        {
            var d = Math.Abs((double)expected.Data[i] - actual.Data[i]);
            if (double.IsNaN(d)) return double.NaN;
            max = Math.Max(max, d);
        }
        return max;
    }
}
