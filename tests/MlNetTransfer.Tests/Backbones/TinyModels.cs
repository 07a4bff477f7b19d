using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.Backbones;

/// <summary>Small hand-specified graphs whose outputs the tests compute by hand, and those hand computations.</summary>
internal static class TinyModels
{
    public const int Features = 4;
    public const int Classes = 3;

    /// <summary>Known 1x1 convolution weights [4 out, 3 in] (distinct per channel, so channel mix-ups show) and bias.</summary>
    public static readonly float[] ConvWeights = [0.5f, -1.25f, 2f, 1.5f, 0.25f, -0.75f, -2f, 1f, 0.125f, 0.3f, 0.6f, -0.9f];
    public static readonly float[] ConvBias = [0.1f, -0.2f, 0.3f, -0.4f];

    /// <summary>
    /// input → (NHWC: Transpose to NCHW) → Conv 1x1 (known weights) <c>features</c> → either GlobalAveragePool
    /// <c>gap</c> → Flatten <c>flat</c>, or Flatten <c>flat_map</c> of the whole map → Gemm <c>fc</c> → <c>logits</c> → Softmax.
    /// </summary>
    public static ModelProto Pointwise(string layout, int height, int width, bool pooled)
    {
        var b = new OnnxModelBuilder(seed: 7, graphName: $"pointwise_{layout}");
        var x = layout == "NHWC"
            ? b.Transpose("to_nchw", b.Input("image", DataType.Float, -1, height, width, 3), [0, 3, 1, 2])
            : b.Input("image", DataType.Float, -1, 3, height, width);
        x = b.Conv("features", x, ConvWeights, [Features, 3, 1, 1], ConvBias);
        int flat = pooled ? Features : Features * height * width;
        x = pooled ? b.Flatten("flat", b.GlobalAveragePool("gap", x)) : b.Flatten("flat_map", x);
        x = b.Gemm("fc", x, flat, Classes, output: "logits");
        b.Softmax("softmax", x, output: "probabilities");
        return b.Output("probabilities", DataType.Float, -1, Classes).Build();
    }

    /// <summary>
    /// Keras-like: NHWC input → Transpose → Conv 1x1 → Transpose back to NHWC <c>features_nhwc</c> → ReduceMean over
    /// axes 1,2 <c>gap</c> → MatMul <c>dense</c> → Add <c>dense_bias</c> → Softmax → Reshape <c>predictions</c>.
    /// </summary>
    public static ModelProto KerasLike(int height, int width)
    {
        var b = new OnnxModelBuilder(seed: 3, graphName: "keras_like");
        var x = b.Transpose("to_nchw", b.Input("input_1", DataType.Float, -1, height, width, 3), [0, 3, 1, 2]);
        x = b.Conv("conv", x, ConvWeights, [Features, 3, 1, 1], ConvBias);
        x = b.Transpose("features_nhwc", x, [0, 2, 3, 1]);
        x = b.Node("ReduceMean", "gap", [x], Attr("axes", 1L, 2), Attr("keepdims", 0L));
        x = b.Node("MatMul", "dense", [x, b.Constant("dense/W", b.HeNormal("dense/W", Features * Classes, Features), Features, Classes)]);
        x = b.Node("Add", "dense_bias", [x, b.Constant("dense/B", [0.1f, 0f, -0.1f], Classes)]);
        x = b.Softmax("act_softmax", x);
        b.Node("Reshape", "predictions", [x, b.Constant(OnnxTensors.FromInt64s("shape", [-1, Classes], 2))]);
        return b.Output("predictions", DataType.Float, -1, Classes).Build();
    }

    /// <summary>Two image inputs added together, then pooled and classified.</summary>
    public static ModelProto TwoInputs()
    {
        var b = new OnnxModelBuilder(graphName: "two_inputs");
        var sum = b.Node("Add", "sum", [b.Input("left", DataType.Float, -1, 3, 8, 8), b.Input("right", DataType.Float, -1, 3, 8, 8)]);
        var x = b.Conv("conv", sum, 3, Features, kernel: 1);
        x = b.Flatten("flat", b.GlobalAveragePool("gap", x));
        b.Gemm("fc", x, Features, Classes, output: "logits");
        return b.Output("logits", DataType.Float, -1, Classes).Build();
    }

    // The quantized graph's constants, chosen so that quantizing the test inputs is exact (power-of-two input scale).
    public const float InputScale = 1f / 32;
    public const byte InputZeroPoint = 128;
    public static readonly sbyte[] QWeights = [3, -5, 2, 1, 4, -2, -3, 0, 5, 2, -1, -4];
    public const float WeightScale = 0.05f;
    public static readonly int[] QBias = [40, -80, 0, 120];
    public const float ConvScale = 0.07f;
    public const byte ConvZeroPoint = 120;
    public const float PoolScale = 0.09f;
    public const byte PoolZeroPoint = 110;

    /// <summary>
    /// QuantizeLinear → QLinearConv 1x1 <c>conv_q</c> → com.microsoft QLinearGlobalAveragePool <c>gap_q</c> →
    /// DequantizeLinear <c>gap</c> → Flatten <c>flat</c> → Gemm → <c>logits</c>, like the ONNX zoo's int8 models.
    /// </summary>
    public static ModelProto Quantized(int height, int width)
    {
        var b = new OnnxModelBuilder(seed: 5, graphName: "tiny_int8").Opset("com.microsoft", 1);
        var xScale = b.Constant("x_scale", [InputScale]);
        var xZero = b.Constant(OnnxTensors.FromBytes("x_zero_point", DataType.Uint8, [InputZeroPoint]));
        var x = b.Node("QuantizeLinear", "quantize", [b.Input("image", DataType.Float, -1, 3, height, width), xScale, xZero], output: "image_q", domain: "");
        var yScale = b.Constant("conv_scale", [ConvScale]);
        var yZero = b.Constant(OnnxTensors.FromBytes("conv_zero_point", DataType.Uint8, [ConvZeroPoint]));
        x = b.Node("QLinearConv", "conv", [
                x, xScale, xZero,
                b.Constant(OnnxTensors.FromBytes("w_q", DataType.Int8, QWeights.Select(v => (byte)v).ToArray(), Features, 3, 1, 1)),
                b.Constant("w_scale", [WeightScale]),
                b.Constant(OnnxTensors.FromBytes("w_zero_point", DataType.Int8, [0])),
                yScale, yZero,
                b.Constant(OnnxTensors.FromInt32s("bias_q", QBias, Features)),
            ], output: "conv_q", domain: "", Attr("kernel_shape", 1L, 1));
        var pScale = b.Constant("gap_scale", [PoolScale]);
        var pZero = b.Constant(OnnxTensors.FromBytes("gap_zero_point", DataType.Uint8, [PoolZeroPoint]));
        x = b.Node("QLinearGlobalAveragePool", "gap_quant", [x, yScale, yZero, pScale, pZero], output: "gap_q", domain: "com.microsoft", Attr("channels_last", 0L));
        x = b.Node("DequantizeLinear", "dequantize", [x, pScale, pZero], output: "gap", domain: "");
        x = b.Flatten("flat", x);
        b.Gemm("fc", x, Features, Classes, output: "logits");
        return b.Output("logits", DataType.Float, -1, Classes).Build();
    }

    /// <summary>By hand: the dequantized QLinearConv map of <see cref="Quantized"/>, averaged over space in float: [N, 4].</summary>
    public static float[] QuantizedEmbedding(FloatTensor input)
    {
        int n = (int)input.Dims[0], h = (int)input.Dims[2], w = (int)input.Dims[3], hw = h * w;
        float xs = InputScale, ws = WeightScale, ys = ConvScale;
        float multiplier = xs * ws / ys; // in float, as ONNX Runtime computes its requantization scale
        var result = new float[n * Features];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < Features; o++)
            {
                double sum = 0;
                for (int p = 0; p < hw; p++)
                {
                    int acc = QBias[o];
                    for (int c = 0; c < 3; c++)
                    {
                        int q = Math.Clamp((int)MathF.Round(input.Values[(i * 3 + c) * hw + p] / InputScale, MidpointRounding.ToEven) + InputZeroPoint, 0, 255);
                        acc += (q - InputZeroPoint) * QWeights[o * 3 + c];
                    }
                    int y = Math.Clamp((int)MathF.Round(acc * multiplier, MidpointRounding.ToEven) + ConvZeroPoint, 0, 255);
                    sum += (y - ConvZeroPoint) * ConvScale;
                }
                result[i * Features + o] = (float)(sum / hw);
            }
        return result;
    }

    /// <summary>By hand: the spec's normalisation of raw R,G,B planes [N,3,H,W], in the network's channel order (still planar).</summary>
    public static float[] Normalize(FloatTensor pixels, BackboneSpec spec)
    {
        int n = (int)pixels.Dims[0], hw = (int)(pixels.Dims[2] * pixels.Dims[3]);
        bool bgr = spec.ChannelOrder == "BGR";
        var x = new float[pixels.Values.Length];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
            {
                int source = bgr ? 2 - c : c;
                for (int p = 0; p < hw; p++)
                    x[(i * 3 + c) * hw + p] = (pixels.Values[(i * 3 + source) * hw + p] * spec.PixelScale - spec.Mean[c]) / spec.Std[c];
            }
        return x;
    }

    /// <summary>By hand: the known 1x1 convolution of planar [N,3,H,W] values: [N,4,H,W].</summary>
    public static float[] PointwiseConv(float[] x, int n, int hw)
    {
        var y = new float[n * Features * hw];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < Features; o++)
                for (int p = 0; p < hw; p++)
                {
                    float v = ConvBias[o];
                    for (int c = 0; c < 3; c++) v += ConvWeights[o * 3 + c] * x[(i * 3 + c) * hw + p];
                    y[(i * Features + o) * hw + p] = v;
                }
        return y;
    }

    /// <summary>By hand: the mean over space of an [N,C,H,W] map: [N,C].</summary>
    public static float[] SpatialMean(float[] map, int n, int c, int hw)
    {
        var m = new float[n * c];
        for (int i = 0; i < n * c; i++)
        {
            double s = 0;
            for (int p = 0; p < hw; p++) s += map[i * hw + p];
            m[i] = (float)(s / hw);
        }
        return m;
    }

    /// <summary>Deterministic raw pixels: integers 0..255 as ExtractPixels emits them, [N,3,H,W].</summary>
    public static FloatTensor RandomPixels(int n, int height, int width, int seed)
    {
        var random = new Random(seed);
        var values = new float[n * 3 * height * width];
        for (int i = 0; i < values.Length; i++) values[i] = random.Next(256);
        return new FloatTensor(values, [n, 3, height, width]);
    }

    /// <summary>Planar [N,C,H,W] values rearranged to [N,H,W,C].</summary>
    public static FloatTensor ToNhwc(float[] planar, int n, int c, int h, int w)
    {
        var v = new float[planar.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        v[((i * h + y) * w + x) * c + ch] = planar[((i * c + ch) * h + y) * w + x];
        return new FloatTensor(v, [n, h, w, c]);
    }

    public static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1f, Math.Abs(expected[i])),
                $"element {i}: expected {expected[i]}, got {actual[i]}");
    }
}
