using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>
/// A small float CNN written with OnnxNodes, seeded random weights: Conv+BN+Relu twice with a residual Add, a strided
/// 1x1 Conv with ReLU6 (Clip with bound inputs), GlobalAveragePool, a reshape whose target shape is computed from a
/// weight's shape (a constant subgraph the converter folds), and a Gemm classifier.
/// </summary>
internal static class TestCnn
{
    public const string Input = "input";
    public const string Embedding = "pool";
    public const string Output = "logits";
    public const int Size = 16, Classes = 5, Width = 16;

    public static ModelProto Build(int seed = 1)
    {
        var rng = new Random(seed);
        var g = new GraphProto { Name = "test_cnn" };
        g.Input.Add(TensorValue(Input, DataType.Float, -1, 3, Size, Size));
        g.Output.Add(TensorValue(Output, DataType.Float, -1, Classes));

        void Weights(string name, float scale, params long[] dims)
        {
            var n = (int)dims.Aggregate(1L, (a, d) => a * d);
            g.Initializer.Add(OnnxTensors.FromFloats(name, Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray(), dims));
        }
        void BatchNorm(string prefix, int channels, string input, string output)
        {
            g.Initializer.Add(OnnxTensors.FromFloats(prefix + ".scale", Enumerable.Range(0, channels).Select(_ => 0.5f + (float)rng.NextDouble()).ToArray(), channels));
            Weights(prefix + ".bias", 0.2f, channels);
            Weights(prefix + ".mean", 0.3f, channels);
            g.Initializer.Add(OnnxTensors.FromFloats(prefix + ".var", Enumerable.Range(0, channels).Select(_ => 0.5f + (float)rng.NextDouble()).ToArray(), channels));
            g.Node.Add(Node("BatchNormalization", prefix, [input, prefix + ".scale", prefix + ".bias", prefix + ".mean", prefix + ".var"], [output],
                Attr("epsilon", 1e-5f), Attr("momentum", 0.9f)));
        }

        Weights("conv1.weight", 0.4f, 8, 3, 3, 3);
        Weights("conv1.bias", 0.1f, 8);
        g.Node.Add(Node("Conv", "conv1", [Input, "conv1.weight", "conv1.bias"], ["c1"], Attr("pads", 1L, 1L, 1L, 1L), Attr("kernel_shape", 3L, 3L)));
        BatchNorm("bn1", 8, "c1", "b1");
        g.Node.Add(Node("Relu", "relu1", ["b1"], ["r1"]));

        Weights("conv2.weight", 0.3f, 8, 8, 3, 3);
        g.Node.Add(Node("Conv", "conv2", ["r1", "conv2.weight"], ["c2"], Attr("pads", 1L, 1L, 1L, 1L)));
        BatchNorm("bn2", 8, "c2", "b2");
        g.Node.Add(Node("Relu", "relu2", ["b2"], ["r2"]));
        g.Node.Add(Node("Add", "residual", ["r1", "r2"], ["sum"]));

        Weights("conv3.weight", 0.4f, Width, 8, 1, 1);
        Weights("conv3.bias", 0.1f, Width);
        g.Node.Add(Node("Conv", "conv3", ["sum", "conv3.weight", "conv3.bias"], ["c3"], Attr("strides", 2L, 2L)));
        g.Initializer.Add(OnnxTensors.FromFloats("relu6.min", [0f]));
        g.Initializer.Add(OnnxTensors.FromFloats("relu6.max", [6f]));
        g.Node.Add(Node("Clip", "relu6", ["c3", "relu6.min", "relu6.max"], ["a3"]));
        g.Node.Add(Node("GlobalAveragePool", "gap", ["a3"], [Embedding]));

        // Reshape target [-1, fc.weight.shape[1]], computed in-graph from the classifier weight's shape.
        Weights("fc.weight", 0.5f, Classes, Width);
        Weights("fc.bias", 0.1f, Classes);
        g.Initializer.Add(OnnxTensors.FromInt64s("one", [1], 1));
        g.Initializer.Add(OnnxTensors.FromInt64s("minus_one", [-1], 1));
        g.Node.Add(Node("Shape", "fc_shape", ["fc.weight"], ["fc_dims"]));
        g.Node.Add(Node("Gather", "fc_width", ["fc_dims", "one"], ["width"], Attr("axis", 0L)));
        g.Node.Add(Node("Concat", "flat_shape", ["minus_one", "width"], ["target"], Attr("axis", 0L)));
        g.Node.Add(Node("Reshape", "flatten", [Embedding, "target"], ["flat"]));
        g.Node.Add(Node("Gemm", "fc", ["flat", "fc.weight", "fc.bias"], [Output], Attr("transB", 1L)));

        var model = new ModelProto { IrVersion = 8, ProducerName = "MlNetTransfer.Tests", Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    public static float[] RandomImages(int batch, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, batch * 3 * Size * Size).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }
}
