using MlNetTransfer.Backbones.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// Builds small int8 models the way ONNX Runtime's static quantizer would, for tests and benchmarks of
/// <see cref="Dequantizer"/>: a float CNN (Conv/Relu ×2, 1×1 Conv, residual Add, GlobalAveragePool, Flatten, Gemm) with
/// seeded random weights, activation ranges calibrated by running it in ONNX Runtime on random inputs, uint8 asymmetric
/// activations (ReLU folded into a zero-point-0 range), int8 symmetric per-channel weights and int32 biases.
/// </summary>
internal static class QuantizedModelBuilder
{
    /// <summary>Name of the float input [N, 3, side, side] of every built model.</summary>
    public const string InputName = "input";

    /// <summary>Name of the float output [N, classes] of every built model.</summary>
    public const string OutputName = "logits";

    private const long Opset = 13;

    /// <summary>Builds the float model and its QOperator and QDQ int8 versions.</summary>
    public static QuantizedModels Build(QuantizedModelBuilderOptions? options = null)
    {
        options ??= new QuantizedModelBuilderOptions();
        var w = Weights.Create(options);
        var floatModel = FloatModel(options, w);
        var ranges = Calibrate(floatModel, options, w);
        var p = new Dictionary<string, (float Scale, long ZeroPoint)>();
        foreach (var (name, (min, max)) in ranges) p[name] = Uint8Params(min, max);
        return new QuantizedModels(floatModel, QOperatorModel(options, w, p), QdqModel(options, w, p), p["logits"].Scale);
    }

    /// <summary>Seeded random inputs in [−2, 2] (about the range of ImageNet-normalized pixels), shape [count, 3, side, side].</summary>
    public static DenseTensor<float> RandomInputs(QuantizedModelBuilderOptions options, int count, int seed)
    {
        var random = new Random(seed);
        var tensor = new DenseTensor<float>([count, 3, options.InputSize, options.InputSize]);
        for (var i = 0; i < tensor.Length; i++) tensor.SetValue(i, (float)(random.NextDouble() * 4 - 2));
        return tensor;
    }

    private sealed record Weights(float[] W1, float[] B1, float[] W2, float[] B2, float[] W3, float[] B3, float[] Wfc, float[] Bfc)
    {
        public static Weights Create(QuantizedModelBuilderOptions o)
        {
            var random = new Random(o.Seed);
            int c = o.Channels, k = o.Classes;
            float[] He(int count, int fanIn) => Enumerable.Range(0, count).Select(_ => Gaussian(random) * MathF.Sqrt(2f / fanIn)).ToArray();
            float[] Small(int count) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 0.2 - 0.1)).ToArray();
            return new Weights(He(c * 3 * 9, 3 * 9), Small(c), He(c * c * 9, c * 9), Small(c), He(c * c, c), Small(c), He(k * c, c), Small(k));
        }

        private static float Gaussian(Random r) => (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));
    }

    private static ModelProto FloatModel(QuantizedModelBuilderOptions o, Weights w)
    {
        int c = o.Channels, k = o.Classes;
        var g = NewGraph("small_cnn", o);
        g.Initializer.Add(OnnxTensors.FromFloats("conv1.weight", w.W1, c, 3, 3, 3));
        g.Initializer.Add(OnnxTensors.FromFloats("conv1.bias", w.B1, c));
        g.Initializer.Add(OnnxTensors.FromFloats("conv2.weight", w.W2, c, c, 3, 3));
        g.Initializer.Add(OnnxTensors.FromFloats("conv2.bias", w.B2, c));
        g.Initializer.Add(OnnxTensors.FromFloats("conv3.weight", w.W3, c, c, 1, 1));
        g.Initializer.Add(OnnxTensors.FromFloats("conv3.bias", w.B3, c));
        g.Initializer.Add(OnnxTensors.FromFloats("fc.weight", w.Wfc, k, c));
        g.Initializer.Add(OnnxTensors.FromFloats("fc.bias", w.Bfc, k));
        g.Node.Add(Node("Conv", "conv1", [InputName, "conv1.weight", "conv1.bias"], ["c1"], Attr("kernel_shape", 3L, 3L), Attr("pads", 1L, 1L, 1L, 1L)));
        g.Node.Add(Node("Relu", "relu1", ["c1"], ["r1"]));
        g.Node.Add(Node("Conv", "conv2", ["r1", "conv2.weight", "conv2.bias"], ["c2"], Attr("kernel_shape", 3L, 3L), Attr("pads", 1L, 1L, 1L, 1L)));
        g.Node.Add(Node("Relu", "relu2", ["c2"], ["r2"]));
        g.Node.Add(Node("Conv", "conv3", ["r2", "conv3.weight", "conv3.bias"], ["c3"], Attr("kernel_shape", 1L, 1L)));
        g.Node.Add(Node("Add", "residual", ["r1", "c3"], ["s"]));
        g.Node.Add(Node("GlobalAveragePool", "pool", ["s"], ["p"]));
        g.Node.Add(Node("Flatten", "flatten", ["p"], ["f"]));
        g.Node.Add(Node("Gemm", "fc", ["f", "fc.weight", "fc.bias"], [OutputName], Attr("transB", 1L)));
        return NewModel(g, withMicrosoftDomain: false);
    }

    /// <summary>Min/max of every activation the int8 models quantize, over the calibration inputs (plus the FC product before its bias).</summary>
    private static Dictionary<string, (float Min, float Max)> Calibrate(ModelProto floatModel, QuantizedModelBuilderOptions o, Weights w)
    {
        var probe = floatModel.Clone();
        string[] tensors = ["r1", "r2", "c3", "s", "p"];
        foreach (var t in tensors)
            probe.Graph.Output.Add(new ValueInfoProto { Name = t, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        var inputs = RandomInputs(o, o.CalibrationSamples, o.Seed);
        using var session = new InferenceSession(OnnxModelFile.ToBytes(probe));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(InputName, inputs)]);
        float[] Values(string name) => results.First(r => r.Name == name).AsEnumerable<float>().ToArray();

        var ranges = new Dictionary<string, (float, float)> { ["input"] = (inputs.Min(), inputs.Max()) };
        foreach (var t in tensors.Append(OutputName)) ranges[t] = (Values(t).Min(), Values(t).Max());
        // The QOperator model multiplies before adding the bias, so that product needs a range of its own.
        var pooled = Values("p");
        var products = new List<float>();
        for (var n = 0; n < o.CalibrationSamples; n++)
            for (var k = 0; k < o.Classes; k++)
                products.Add(Enumerable.Range(0, o.Channels).Sum(ch => pooled[n * o.Channels + ch] * w.Wfc[k * o.Channels + ch]));
        ranges["mm"] = (products.Min(), products.Max());
        ranges["fc.bias"] = (w.Bfc.Min(), w.Bfc.Max());
        return ranges;
    }

    /// <summary>uint8 asymmetric parameters whose range covers [min, max] and 0 (so zero is exact and a ReLU range gets zero point 0).</summary>
    private static (float Scale, long ZeroPoint) Uint8Params(float min, float max)
    {
        min = Math.Min(min, 0);
        max = Math.Max(max, 0);
        var scale = (max - min) / 255f;
        if (scale <= 0) return (1f, 0);
        return (scale, (long)Math.Clamp(MathF.Round(-min / scale, MidpointRounding.ToEven), 0, 255));
    }

    private sealed record QuantizedWeight(TensorProto Values, TensorProto Scale, TensorProto ZeroPoint, float[] Scales);

    /// <summary>int8 symmetric per-channel along <paramref name="axis"/> of a [rows, cols...] tensor.</summary>
    private static QuantizedWeight Int8PerChannel(string name, float[] values, long[] dims, int axis)
    {
        var channels = (int)dims[axis];
        long inner = 1;
        for (var d = axis + 1; d < dims.Length; d++) inner *= dims[d];
        var maxAbs = new float[channels];
        for (var i = 0; i < values.Length; i++)
        {
            var ch = (int)(i / inner % channels);
            maxAbs[ch] = Math.Max(maxAbs[ch], Math.Abs(values[i]));
        }
        var scales = maxAbs.Select(m => m > 0 ? m / 127f : 1f).ToArray();
        var zeroPoints = new long[channels];
        return new QuantizedWeight(
            QuantizedTensors.Quantize(name + "_quantized", values, dims, scales, zeroPoints, DataType.Int8, axis),
            OnnxTensors.FromFloats(name + "_scale", scales, channels),
            QuantizedTensors.FromIntegers(name + "_zero_point", DataType.Int8, zeroPoints, channels),
            scales);
    }

    /// <summary>int32 bias with scale input_scale · weight_scale[channel] and zero point 0.</summary>
    private static TensorProto Int32Bias(string name, float[] bias, float inputScale, float[] weightScales) =>
        QuantizedTensors.FromIntegers(name, DataType.Int32,
            bias.Select((b, i) => (long)MathF.Round(b / (inputScale * weightScales[i]), MidpointRounding.ToEven)).ToArray(), bias.Length);

    private static ModelProto QOperatorModel(QuantizedModelBuilderOptions o, Weights w, Dictionary<string, (float Scale, long ZeroPoint)> p)
    {
        int c = o.Channels, k = o.Classes;
        var g = NewGraph("small_cnn_int8_qoperator", o);
        foreach (var name in new[] { "input", "r1", "r2", "c3", "s", "p", "mm", "logits" }) AddActivationParams(g, name, p[name]);

        string[] Conv(string name, float[] weights, float[] bias, long[] dims, string x, string y)
        {
            var qw = Int8PerChannel(name + ".weight", weights, dims, 0);
            g.Initializer.Add(qw.Values); g.Initializer.Add(qw.Scale); g.Initializer.Add(qw.ZeroPoint);
            g.Initializer.Add(Int32Bias(name + ".bias_quantized", bias, p[x].Scale, qw.Scales));
            return [x + "_quantized", x + "_scale", x + "_zero_point", qw.Values.Name, qw.Scale.Name, qw.ZeroPoint.Name,
                y + "_scale", y + "_zero_point", name + ".bias_quantized"];
        }
        var pads = Attr("pads", 1L, 1L, 1L, 1L);
        g.Node.Add(Node("QuantizeLinear", "input_quantize", [InputName, "input_scale", "input_zero_point"], ["input_quantized"]));
        g.Node.Add(Node("QLinearConv", "conv1_quant", Conv("conv1", w.W1, w.B1, [c, 3, 3, 3], "input", "r1"), ["r1_quantized"], Attr("kernel_shape", 3L, 3L), pads));
        g.Node.Add(Node("QLinearConv", "conv2_quant", Conv("conv2", w.W2, w.B2, [c, c, 3, 3], "r1", "r2"), ["r2_quantized"], Attr("kernel_shape", 3L, 3L), pads.Clone()));
        g.Node.Add(Node("QLinearConv", "conv3_quant", Conv("conv3", w.W3, w.B3, [c, c, 1, 1], "r2", "c3"), ["c3_quantized"], Attr("kernel_shape", 1L, 1L)));
        g.Node.Add(Microsoft(Node("QLinearAdd", "residual_quant",
            ["r1_quantized", "r1_scale", "r1_zero_point", "c3_quantized", "c3_scale", "c3_zero_point", "s_scale", "s_zero_point"], ["s_quantized"])));
        g.Node.Add(Microsoft(Node("QLinearGlobalAveragePool", "pool_quant", ["s_quantized", "s_scale", "s_zero_point", "p_scale", "p_zero_point"], ["p_quantized"],
            Attr("channels_last", 0L))));
        g.Node.Add(Node("Flatten", "flatten", ["p_quantized"], ["f_quantized"]));

        // Gemm(transB) becomes MatMul with the transposed weight, quantized per output column, then a quantized bias add.
        var transposed = new float[c * k];
        for (var row = 0; row < k; row++) for (var col = 0; col < c; col++) transposed[col * k + row] = w.Wfc[row * c + col];
        var fc = Int8PerChannel("fc.weight", transposed, [c, k], 1);
        g.Initializer.Add(fc.Values); g.Initializer.Add(fc.Scale); g.Initializer.Add(fc.ZeroPoint);
        g.Node.Add(Node("QLinearMatMul", "fc_matmul_quant",
            ["f_quantized", "p_scale", "p_zero_point", fc.Values.Name, fc.Scale.Name, fc.ZeroPoint.Name, "mm_scale", "mm_zero_point"], ["mm_quantized"]));
        var biasParams = Uint8Params(w.Bfc.Min(), w.Bfc.Max());
        g.Initializer.Add(QuantizedTensors.Quantize("fc.bias_quantized", w.Bfc, [k], [biasParams.Scale], [biasParams.ZeroPoint], DataType.Uint8));
        AddActivationParams(g, "fc.bias", biasParams);
        g.Node.Add(Microsoft(Node("QLinearAdd", "fc_bias_quant",
            ["mm_quantized", "mm_scale", "mm_zero_point", "fc.bias_quantized", "fc.bias_scale", "fc.bias_zero_point", "logits_scale", "logits_zero_point"], ["logits_quantized"])));
        g.Node.Add(Node("DequantizeLinear", "logits_dequantize", ["logits_quantized", "logits_scale", "logits_zero_point"], [OutputName]));
        return NewModel(g, withMicrosoftDomain: true);
    }

    private static ModelProto QdqModel(QuantizedModelBuilderOptions o, Weights w, Dictionary<string, (float Scale, long ZeroPoint)> p)
    {
        int c = o.Channels, k = o.Classes;
        var g = NewGraph("small_cnn_int8_qdq", o);
        foreach (var name in new[] { "input", "r1", "r2", "c3", "s", "p", "logits" }) AddActivationParams(g, name, p[name]);

        string QuantizeDequantize(string x, string paramsOf, string output)
        {
            g.Node.Add(Node("QuantizeLinear", x + "_QuantizeLinear", [x, paramsOf + "_scale", paramsOf + "_zero_point"], [x + "_quantized"]));
            g.Node.Add(Node("DequantizeLinear", x + "_DequantizeLinear", [x + "_quantized", paramsOf + "_scale", paramsOf + "_zero_point"], [output]));
            return output;
        }
        (string Weight, string Bias) DequantizedWeights(string name, float[] weights, float[] bias, long[] dims, float inputScale)
        {
            var qw = Int8PerChannel(name + ".weight", weights, dims, 0);
            g.Initializer.Add(qw.Values); g.Initializer.Add(qw.Scale); g.Initializer.Add(qw.ZeroPoint);
            g.Node.Add(Node("DequantizeLinear", name + ".weight_DequantizeLinear", [qw.Values.Name, qw.Scale.Name, qw.ZeroPoint.Name], [name + ".weight_dequantized"], Attr("axis", 0L)));
            g.Initializer.Add(Int32Bias(name + ".bias_quantized", bias, inputScale, qw.Scales));
            var biasScales = qw.Scales.Select(s => inputScale * s).ToArray();
            g.Initializer.Add(OnnxTensors.FromFloats(name + ".bias_scale", biasScales, biasScales.Length));
            g.Node.Add(Node("DequantizeLinear", name + ".bias_DequantizeLinear", [name + ".bias_quantized", name + ".bias_scale"], [name + ".bias_dequantized"], Attr("axis", 0L)));
            return (name + ".weight_dequantized", name + ".bias_dequantized");
        }

        var x = QuantizeDequantize(InputName, "input", "input_dequantized");
        var (w1, b1) = DequantizedWeights("conv1", w.W1, w.B1, [c, 3, 3, 3], p["input"].Scale);
        g.Node.Add(Node("Conv", "conv1", [x, w1, b1], ["c1"], Attr("kernel_shape", 3L, 3L), Attr("pads", 1L, 1L, 1L, 1L)));
        g.Node.Add(Node("Relu", "relu1", ["c1"], ["r1"]));
        var r1 = QuantizeDequantize("r1", "r1", "r1_dequantized");
        var (w2, b2) = DequantizedWeights("conv2", w.W2, w.B2, [c, c, 3, 3], p["r1"].Scale);
        g.Node.Add(Node("Conv", "conv2", [r1, w2, b2], ["c2"], Attr("kernel_shape", 3L, 3L), Attr("pads", 1L, 1L, 1L, 1L)));
        g.Node.Add(Node("Relu", "relu2", ["c2"], ["r2"]));
        var r2 = QuantizeDequantize("r2", "r2", "r2_dequantized");
        var (w3, b3) = DequantizedWeights("conv3", w.W3, w.B3, [c, c, 1, 1], p["r2"].Scale);
        g.Node.Add(Node("Conv", "conv3", [r2, w3, b3], ["c3"], Attr("kernel_shape", 1L, 1L)));
        var c3 = QuantizeDequantize("c3", "c3", "c3_dequantized");
        g.Node.Add(Node("Add", "residual", [r1, c3], ["s"]));
        var s = QuantizeDequantize("s", "s", "s_dequantized");
        g.Node.Add(Node("GlobalAveragePool", "pool", [s], ["p"]));
        var pooled = QuantizeDequantize("p", "p", "p_dequantized");
        g.Node.Add(Node("Flatten", "flatten", [pooled], ["f"]));
        var (wfc, bfc) = DequantizedWeights("fc", w.Wfc, w.Bfc, [k, c], p["p"].Scale);
        g.Node.Add(Node("Gemm", "fc", ["f", wfc, bfc], ["logits_float"], Attr("transB", 1L)));
        QuantizeDequantize("logits_float", "logits", OutputName);
        return NewModel(g, withMicrosoftDomain: false);
    }

    private static void AddActivationParams(GraphProto g, string name, (float Scale, long ZeroPoint) p)
    {
        g.Initializer.Add(OnnxTensors.FromFloats(name + "_scale", [p.Scale]));
        g.Initializer.Add(QuantizedTensors.FromIntegers(name + "_zero_point", DataType.Uint8, [p.ZeroPoint]));
    }

    private static NodeProto Microsoft(NodeProto node)
    {
        node.Domain = "com.microsoft";
        return node;
    }

    private static GraphProto NewGraph(string name, QuantizedModelBuilderOptions o)
    {
        var g = new GraphProto { Name = name };
        g.Input.Add(TensorValue(InputName, DataType.Float, -1, 3, o.InputSize, o.InputSize));
        g.Output.Add(TensorValue(OutputName, DataType.Float, -1, o.Classes));
        return g;
    }

    private static ModelProto NewModel(GraphProto g, bool withMicrosoftDomain)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "MlNetTransfer.QuantizedModelBuilder", Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        if (withMicrosoftDomain) model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return model;
    }
}
