using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using Microsoft.ML.OnnxRuntime.Tensors;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;
using MlNetTransfer.Tests.Backbones;

namespace MlNetTransfer.Tests.Dequantize;

/// <summary>One quantized op at a time: input → QuantizeLinear → op → DequantizeLinear → output, run in ONNX Runtime
/// as int8 and after dequantization.</summary>
public class QuantizedOpTests
{
    private const int C = 4, H = 6, W = 6;
    private const float InputScale = 0.02f;   // uint8 zero point 128: [-2.56, 2.54], inputs go to ±3 so some saturate
    private const long InputZeroPoint = 128;

    /// <summary>A test graph under construction.</summary>
    private sealed class Graph
    {
        public GraphProto G { get; } = new() { Name = "single_op" };
        public float OutputScale { get; private set; }

        public Graph(long[]? inputDims = null, DataType activationType = DataType.Uint8)
        {
            G.Input.Add(TensorValue("x", DataType.Float, inputDims ?? [1, C, H, W]));
            var zp = activationType == DataType.Uint8 ? InputZeroPoint : 0;
            Params("x", InputScale, zp, activationType);
            G.Node.Add(Node("QuantizeLinear", "quantize_x", ["x", "x_scale", "x_zero_point"], ["x_quantized"]));
        }

        public void Params(string name, float scale, long zeroPoint, DataType type = DataType.Uint8)
        {
            G.Initializer.Add(OnnxTensors.FromFloats(name + "_scale", [scale]));
            G.Initializer.Add(QuantizedTensors.FromIntegers(name + "_zero_point", type, [zeroPoint]));
        }

        public void Add(NodeProto node, string domain = "")
        {
            node.Domain = domain;
            G.Node.Add(node);
        }

        /// <summary>A random quantized constant with its own scale and zero point.</summary>
        public void Constant(string name, long[] dims, float scale, long zeroPoint, int seed, DataType type = DataType.Uint8)
        {
            var random = new Random(seed);
            var (min, max) = QuantizedTensors.Range(type);
            var count = (int)dims.Aggregate(1L, (a, d) => a * d);
            G.Initializer.Add(QuantizedTensors.FromIntegers(name + "_quantized", type, Enumerable.Range(0, count).Select(_ => (long)random.Next((int)min, (int)max + 1)).ToArray(), dims));
            Params(name, scale, zeroPoint, type);
        }

        public ModelProto Finish(string quantizedOutput, string paramsOf, long opset = 13)
        {
            OutputScale = OnnxTensors.ToFloats(G.Initializer.Single(t => t.Name == paramsOf + "_scale"))[0];
            G.Node.Add(Node("DequantizeLinear", "dequantize_y", [quantizedOutput, paramsOf + "_scale", paramsOf + "_zero_point"], ["y"]));
            G.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
            var model = new ModelProto { IrVersion = 8, Graph = G };
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
            return model;
        }
    }

    private static (ModelProto Model, float OutputScale) Case(string name) => name switch
    {
        "QLinearAdd int8" => Build(new Graph(activationType: DataType.Int8), g =>
        {
            g.Constant("b", [1, C, 1, 1], 0.05f, 3, seed: 1, DataType.Int8);
            g.Params("y", 0.03f, -10, DataType.Int8);
            g.Add(Node("QLinearAdd", "add_quant", ["x_quantized", "x_scale", "x_zero_point", "b_quantized", "b_scale", "b_zero_point", "y_scale", "y_zero_point"], ["y_quantized"]), "com.microsoft");
        }),
        "QLinearMul" => Build(new Graph(), g =>
        {
            g.Constant("b", [1, C, 1, 1], 0.01f, 100, seed: 2);
            g.Params("y", 0.01f, 128);
            g.Add(Node("QLinearMul", "mul_quant", ["x_quantized", "x_scale", "x_zero_point", "b_quantized", "b_scale", "b_zero_point", "y_scale", "y_zero_point"], ["y_quantized"]), "com.microsoft");
        }),
        "QLinearConcat" => Build(new Graph(), g =>
        {
            g.Constant("b", [1, 2, H, W], 0.03f, 90, seed: 3);
            g.Params("y", 0.025f, 120);
            g.Add(Node("QLinearConcat", "concat_quant", ["y_scale", "y_zero_point", "x_quantized", "x_scale", "x_zero_point", "b_quantized", "b_scale", "b_zero_point"], ["y_quantized"],
                Attr("axis", 1L)), "com.microsoft");
        }),
        "QLinearLeakyRelu" => Build(new Graph(), g =>
        {
            g.Params("y", 0.012f, 40);
            g.Add(Node("QLinearLeakyRelu", "leaky_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"], Attr("alpha", 0.2f)), "com.microsoft");
        }),
        "QLinearSigmoid" => Build(new Graph(), g =>
        {
            g.Params("y", 1f / 256, 0);
            g.Add(Node("QLinearSigmoid", "sigmoid_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"]), "com.microsoft");
        }),
        "QLinearAveragePool" => Build(new Graph(), g =>
        {
            g.Params("y", 0.015f, 128);
            g.Add(Node("QLinearAveragePool", "pool_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"],
                Attr("kernel_shape", 3L, 3L), Attr("pads", 1L, 1L, 1L, 1L), Attr("strides", 2L, 2L), Attr("count_include_pad", 1L)), "com.microsoft");
        }),
        "QLinearAveragePool NHWC" => Build(new Graph([1, H, W, C]), g =>
        {
            g.Params("y", 0.015f, 128);
            g.Add(Node("QLinearAveragePool", "pool_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"],
                Attr("kernel_shape", 2L, 2L), Attr("strides", 2L, 2L), Attr("channels_last", 1L)), "com.microsoft");
        }),
        "QLinearGlobalAveragePool NHWC" => Build(new Graph([1, H, W, C]), g =>
        {
            g.G.ValueInfo.Add(TensorValue("x_quantized", DataType.Uint8, 1, H, W, C));
            g.Params("y", 0.004f, 128);
            g.Add(Node("QLinearGlobalAveragePool", "gap_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"],
                Attr("channels_last", 1L)), "com.microsoft");
        }),
        "QLinearConv uint8 weights" => Build(new Graph(), g =>
        {
            g.Constant("w", [3, C, 3, 3], 0.01f, 120, seed: 4);
            g.G.Initializer.Add(QuantizedTensors.FromIntegers("b_quantized", DataType.Int32, [500, -2000, 1500], 3));
            g.Params("y", 0.05f, 100);
            g.Add(Node("QLinearConv", "conv_quant",
                ["x_quantized", "x_scale", "x_zero_point", "w_quantized", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "b_quantized"], ["y_quantized"],
                Attr("kernel_shape", 3L, 3L), Attr("pads", 1L, 1L, 1L, 1L), Attr("strides", 2L, 2L)));
        }),
        "MaxPool, Reshape, Transpose, Pad on quantized values" => Build(new Graph(), g =>
        {
            g.G.Initializer.Add(OnnxTensors.FromInt64s("shape", [1, C, H * W / 4], 3));
            g.G.Initializer.Add(OnnxTensors.FromInt64s("pads", [0, 1, 0, 0, 1, 0], 6));
            g.Add(Node("MaxPool", "maxpool", ["x_quantized"], ["pooled_quantized"], Attr("kernel_shape", 2L, 2L), Attr("strides", 2L, 2L)));
            g.Add(Node("Reshape", "reshape", ["pooled_quantized", "shape"], ["flat_quantized"]));
            g.Add(Node("Transpose", "transpose", ["flat_quantized"], ["t_quantized"], Attr("perm", 0L, 2L, 1L)));
            g.Add(Node("Pad", "pad", ["t_quantized", "pads"], ["y_quantized"]));
        }, paramsOf: "x"),
        "Relu and Clip on int8 values" => Build(new Graph(activationType: DataType.Int8), g =>
        {
            g.G.Initializer.Add(QuantizedTensors.FromIntegers("clip_min", DataType.Int8, [-60]));
            g.G.Initializer.Add(QuantizedTensors.FromIntegers("clip_max", DataType.Int8, [90]));
            g.Params("y", 0.03f, -20, DataType.Int8);
            g.Add(Node("Clip", "clip", ["x_quantized", "clip_min", "clip_max"], ["clipped_quantized"]));
            // Re-quantize with an output whose zero point is not 0, so Relu on the integers is not a float ReLU.
            g.Add(Node("QLinearAdd", "shift_quant", ["clipped_quantized", "x_scale", "x_zero_point", "clipped_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"],
                ["shifted_quantized"]), "com.microsoft");
            g.Add(Node("Relu", "relu", ["shifted_quantized"], ["y_quantized"]));
        }, opset: 14),  // Relu takes int8 from opset 14
        "QDQ with a float weight quantized in the graph" => Build(new Graph(), g =>
        {
            var random = new Random(5);
            g.G.Initializer.Add(OnnxTensors.FromFloats("w", Enumerable.Range(0, 2 * C * 9).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray(), 2, C, 3, 3));
            g.G.Initializer.Add(OnnxTensors.FromFloats("w_scale", [0.004f, 0.0045f], 2));
            g.G.Initializer.Add(QuantizedTensors.FromIntegers("w_zero_point", DataType.Int8, [0, 0], 2));
            g.Params("y", 0.02f, 128);
            g.Add(Node("DequantizeLinear", "dq_x", ["x_quantized", "x_scale", "x_zero_point"], ["x_dequantized"]));
            g.Add(Node("QuantizeLinear", "q_w", ["w", "w_scale", "w_zero_point"], ["w_quantized"], Attr("axis", 0L)));
            g.Add(Node("DequantizeLinear", "dq_w", ["w_quantized", "w_scale", "w_zero_point"], ["w_dequantized"], Attr("axis", 0L)));
            g.Add(Node("Conv", "conv", ["x_dequantized", "w_dequantized"], ["conv_out"], Attr("kernel_shape", 3L, 3L)));
            g.Add(Node("QuantizeLinear", "q_y", ["conv_out", "y_scale", "y_zero_point"], ["y_quantized"]));
        }),
        _ => throw new ArgumentException(name),
    };

    private static (ModelProto, float) Build(Graph g, Action<Graph> body, string paramsOf = "y", long opset = 13)
    {
        body(g);
        var model = g.Finish("y_quantized", paramsOf, opset);
        return (model, g.OutputScale);
    }

    public static TheoryData<string> Cases => new()
    {
        "QLinearAdd int8", "QLinearMul", "QLinearConcat", "QLinearLeakyRelu", "QLinearSigmoid", "QLinearAveragePool",
        "QLinearAveragePool NHWC", "QLinearGlobalAveragePool NHWC", "QLinearConv uint8 weights",
        "MaxPool, Reshape, Transpose, Pad on quantized values", "Relu and Clip on int8 values", "QDQ with a float weight quantized in the graph",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dequantized_op_matches_ONNX_Runtime_int8_within_two_output_steps(string name)
    {
        var (model, outputScale) = Case(name);
        var dequantized = Dequantizer.Dequantize(model);
        Assert.False(Dequantizer.IsQuantized(dequantized));
        Assert.DoesNotContain(dequantized.Graph.Initializer, t => QuantizedTensors.IsQuantizedType((DataType)t.DataType) || (DataType)t.DataType == DataType.Int32);

        var dims = OnnxNodes.Dims(model.Graph.Input[0])!.Select(d => (int)d).ToArray();
        var random = new Random(42);
        var input = new DenseTensor<float>(dims);
        for (var i = 0; i < input.Length; i++) input.SetValue(i, (float)(random.NextDouble() * 6 - 3));

        var expected = OrtRunner.Output(model, "x", input, "y");
        var actual = OrtRunner.Output(dequantized, "x", input, "y");
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 2 * outputScale, $"{name}: largest difference {worst} is more than 2 output steps ({2 * outputScale}).");
    }

    [Fact]
    public void Unknown_quantized_op_is_refused_with_its_name_and_node()
    {
        var g = new Graph();
        g.Params("y", 1f / 256, 0);
        g.Add(Node("QLinearSoftmax", "softmax_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"], Attr("axis", 1L)), "com.microsoft");
        var model = g.Finish("y_quantized", "y");

        var e = Assert.Throws<MlNetTransferException>(() => Dequantizer.Dequantize(model));
        Assert.Contains("QLinearSoftmax", e.Message);
        Assert.Contains("softmax_quant", e.Message);
    }

    [Fact]
    public void Integer_arithmetic_on_quantized_tensors_is_refused_with_the_node()
    {
        var g = new Graph();
        g.Add(Node("Add", "raw_integer_add", ["x_quantized", "x_quantized"], ["y_quantized"]));
        var model = g.Finish("y_quantized", "x");

        var e = Assert.Throws<MlNetTransferException>(() => Dequantizer.Dequantize(model));
        Assert.Contains("raw_integer_add", e.Message);
        Assert.Contains("x_quantized", e.Message);
    }

    [Fact]
    public void Channels_last_global_pool_without_a_known_rank_asks_for_shape_inference()
    {
        var g = new Graph([1, H, W, C]);
        g.Params("y", 0.004f, 128);
        g.Add(Node("QLinearGlobalAveragePool", "gap_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"], Attr("channels_last", 1L)), "com.microsoft");
        var model = g.Finish("y_quantized", "y");

        var e = Assert.Throws<MlNetTransferException>(() => Dequantizer.Dequantize(model));
        Assert.Contains("gap_quant", e.Message);
        Assert.Contains("shape inference", e.Message);
    }

    [Fact]
    public void Quantized_graph_output_becomes_a_float_output_of_the_same_name()
    {
        var g = new Graph();
        g.Params("y", 0.012f, 40);
        g.Add(Node("QLinearLeakyRelu", "leaky_quant", ["x_quantized", "x_scale", "x_zero_point", "y_scale", "y_zero_point"], ["y_quantized"], Attr("alpha", 0.2f)), "com.microsoft");
        g.G.Output.Add(TensorValue("y_quantized", DataType.Uint8, 1, C, H, W));
        var model = g.Finish("y_quantized", "y");

        var dequantized = Dequantizer.Dequantize(model);

        var output = dequantized.Graph.Output.Single(o => o.Name == "y_quantized");
        Assert.Equal((int)DataType.Float, output.Type.TensorType.ElemType);
        Assert.Contains(dequantized.Graph.Node, n => n.Output.Contains("y_quantized"));
        Assert.Contains(dequantized.Graph.Node, n => n.Output.Contains("y"));
    }
}
