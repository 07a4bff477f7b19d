using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// Builds small ONNX models from scratch, with deterministic He-initialised weights drawn from a seed: the stand-in
/// backbones of tests and demos. Hand-written because no ONNX graph-building package exists on NuGet for .NET.
/// Layer methods take an input tensor name and return their output tensor name (by default the node's name), so
/// graphs are written as a chain of calls.
/// </summary>
internal sealed class OnnxModelBuilder
{
    private readonly GraphProto _graph;
    private readonly Dictionary<string, long> _opsets = new() { [""] = 13 };
    private readonly HashSet<string> _tensors = new(StringComparer.Ordinal);
    private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);

    /// <param name="seed">Seeds every weight; each weight tensor draws from its own stream keyed by its name, so adding a layer does not change the others.</param>
    /// <param name="opset">Default-domain operator set. Default 13.</param>
    /// <param name="irVersion">ONNX IR version. Default 8.</param>
    /// <param name="graphName">Graph name.</param>
    public OnnxModelBuilder(int seed = 0, long opset = 13, long irVersion = 8, string graphName = "model")
    {
        Seed = seed;
        IrVersion = irVersion;
        _opsets[""] = opset;
        _graph = new GraphProto { Name = graphName };
    }

    /// <summary>Seed of the weight initialisation.</summary>
    public int Seed { get; }

    /// <summary>ONNX IR version written into the model.</summary>
    public long IrVersion { get; }

    /// <summary>Imports an operator set (e.g. <c>com.microsoft</c> 1) or changes a version.</summary>
    public OnnxModelBuilder Opset(string domain, long version)
    {
        _opsets[domain is "ai.onnx" ? "" : domain] = version;
        return this;
    }

    /// <summary>Declares a graph input; a dimension below zero is the symbolic batch size <c>N</c>.</summary>
    public string Input(string name, DataType type, params long[] dims)
    {
        Claim(name);
        _graph.Input.Add(TensorValue(name, type, dims));
        return name;
    }

    /// <summary>Declares an existing tensor a graph output; a dimension below zero is symbolic.</summary>
    public OnnxModelBuilder Output(string name, DataType type, params long[] dims)
    {
        _graph.Output.Add(TensorValue(name, type, dims));
        return this;
    }

    /// <summary>Adds a float initializer.</summary>
    public string Constant(string name, float[] values, params long[] dims) => Constant(OnnxTensors.FromFloats(name, values, dims));

    /// <summary>Adds an initializer of any type.</summary>
    public string Constant(TensorProto tensor)
    {
        Claim(tensor.Name);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds a default-domain node with one output, named like the node.</summary>
    public string Node(string opType, string name, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Node(opType, name, inputs, output: null, domain: "", attributes);

    /// <summary>Adds a node with one output named <paramref name="output"/> (null: like the node) in a given domain (import the domain with <see cref="Opset"/>).</summary>
    public string Node(string opType, string name, IEnumerable<string> inputs, string? output, string domain, params AttributeProto[] attributes)
    {
        if (!_nodeNames.Add(name)) throw new InvalidOperationException($"Node name '{name}' is used twice.");
        var outName = output ?? name;
        Claim(outName);
        var node = OnnxNodes.Node(opType, name, inputs, [outName], attributes);
        node.Domain = domain;
        _graph.Node.Add(node);
        return outName;
    }

    /// <summary>
    /// Convolution with He-initialised weights [out, in/group, k, k] and zero bias; <paramref name="padding"/> is the zero
    /// padding on each side, null meaning "same" for odd kernels (k / 2).
    /// </summary>
    public string Conv(string name, string x, int inChannels, int outChannels, int kernel = 3, int stride = 1, int? padding = null,
        int group = 1, bool bias = true, string? output = null)
    {
        var fanIn = inChannels / group * kernel * kernel;
        var weights = HeNormal($"{name}/W", outChannels * fanIn, fanIn);
        return Conv(name, x, weights, [outChannels, inChannels / group, kernel, kernel], bias ? new float[outChannels] : null, stride, padding ?? kernel / 2, group, output);
    }

    /// <summary>Convolution with given weights (shape [out, in/group, kh, kw]) and bias.</summary>
    public string Conv(string name, string x, float[] weights, long[] weightDims, float[]? bias, int stride = 1, int padding = 0, int group = 1, string? output = null)
    {
        var inputs = new List<string> { x, Constant($"{name}/W", weights, weightDims) };
        if (bias is not null) inputs.Add(Constant($"{name}/B", bias, bias.Length));
        return Node("Conv", name, inputs, output, "",
            Attr("kernel_shape", weightDims[2], weightDims[3]), Attr("strides", (long)stride, stride),
            Attr("pads", (long)padding, padding, padding, padding), Attr("group", (long)group));
    }

    /// <summary>Inference-mode batch normalization with deterministic, non-trivial statistics and affine parameters.</summary>
    public string BatchNormalization(string name, string x, int channels, float epsilon = 1e-5f, string? output = null)
    {
        var noise = Normal($"{name}/params", 4 * channels);
        var scale = Enumerable.Range(0, channels).Select(c => 1f + 0.1f * noise[c]).ToArray();
        var shift = Enumerable.Range(0, channels).Select(c => 0.1f * noise[channels + c]).ToArray();
        var mean = Enumerable.Range(0, channels).Select(c => 0.1f * noise[2 * channels + c]).ToArray();
        var variance = Enumerable.Range(0, channels).Select(c => 1f + 0.2f * MathF.Abs(noise[3 * channels + c])).ToArray();
        return Node("BatchNormalization", name,
            [x, Constant($"{name}/scale", scale, channels), Constant($"{name}/bias", shift, channels),
             Constant($"{name}/mean", mean, channels), Constant($"{name}/var", variance, channels)],
            output, "", Attr("epsilon", epsilon));
    }

    public string Relu(string name, string x, string? output = null) => Node("Relu", name, [x], output, "");

    public string MaxPool(string name, string x, int kernel = 2, int stride = 2, string? output = null) =>
        Node("MaxPool", name, [x], output, "", Attr("kernel_shape", (long)kernel, kernel), Attr("strides", (long)stride, stride));

    public string GlobalAveragePool(string name, string x, string? output = null) => Node("GlobalAveragePool", name, [x], output, "");

    public string Flatten(string name, string x, int axis = 1, string? output = null) => Node("Flatten", name, [x], output, "", Attr("axis", (long)axis));

    public string Transpose(string name, string x, long[] perm, string? output = null) => Node("Transpose", name, [x], output, "", Attr("perm", perm));

    /// <summary>Softmax over the last axis (written as axis 1 before opset 13, where softmax works on 2-D slices).</summary>
    public string Softmax(string name, string x, string? output = null) =>
        Node("Softmax", name, [x], output, "", Attr("axis", _opsets[""] >= 13 ? -1L : 1L));

    /// <summary>Dense layer y = x W^T + b with He-initialised W [out, in] and zero b.</summary>
    public string Gemm(string name, string x, int inFeatures, int outFeatures, string? output = null) =>
        Gemm(name, x, HeNormal($"{name}/W", outFeatures * inFeatures, inFeatures), new float[outFeatures], output);

    /// <summary>Dense layer y = x W^T + b with given W (row-major [out, in]) and b [out].</summary>
    public string Gemm(string name, string x, float[] weights, float[] bias, string? output = null)
    {
        int outFeatures = bias.Length, inFeatures = weights.Length / Math.Max(1, outFeatures);
        return Node("Gemm", name, [x, Constant($"{name}/W", weights, outFeatures, inFeatures), Constant($"{name}/B", bias, outFeatures)],
            output, "", Attr("transB", 1L));
    }

    /// <summary>He (Kaiming) normal initialisation: N(0, 2 / fanIn), from this builder's seed and the tensor name.</summary>
    public float[] HeNormal(string tensorName, int count, int fanIn)
    {
        var std = MathF.Sqrt(2f / fanIn);
        var values = Normal(tensorName, count);
        for (int i = 0; i < values.Length; i++) values[i] *= std;
        return values;
    }

    /// <summary>Standard normal values from a stream keyed by the seed and a name (Box–Muller over System.Random, which is stable for a given seed).</summary>
    public float[] Normal(string streamName, int count)
    {
        var random = new Random(StreamSeed(streamName));
        var values = new float[count];
        for (int i = 0; i < count; i += 2)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            values[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < count) values[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return values;
    }

    /// <summary>Finishes the model, checking that every node input and graph output is defined.</summary>
    public ModelProto Build()
    {
        var defined = new HashSet<string>(_graph.Input.Select(i => i.Name).Concat(_graph.Initializer.Select(t => t.Name)), StringComparer.Ordinal);
        foreach (var node in _graph.Node)
        {
            foreach (var i in node.Input)
                if (i.Length > 0 && !defined.Contains(i)) throw new InvalidOperationException($"Node '{node.Name}' reads '{i}', which is not defined before it.");
            foreach (var o in node.Output) defined.Add(o);
        }
        foreach (var o in _graph.Output)
            if (!defined.Contains(o.Name)) throw new InvalidOperationException($"Graph output '{o.Name}' is not computed by any node.");
        if (_graph.Output.Count == 0) throw new InvalidOperationException("The graph has no outputs.");

        var model = new ModelProto { IrVersion = IrVersion, ProducerName = "MlNetTransfer.OnnxModelBuilder", ProducerVersion = "1", Graph = _graph.Clone() };
        foreach (var (domain, version) in _opsets) model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        return model;
    }

    /// <summary>
    /// A small image classifier: per block Conv 3x3 (same padding, no bias) → BatchNormalization → Relu, with a 2x2
    /// MaxPool after every block but the last; then GlobalAveragePool → Flatten → Gemm (<c>logits</c>) → Softmax
    /// (<c>probabilities</c>). Input <c>input</c> float [N, 3, S, S], or [N, S, S, 3] with a Transpose to NCHW first
    /// when <paramref name="layout"/> is NHWC (as Keras exports look). Nodes are named <c>block1/conv</c>, <c>head/fc</c>, ...
    /// </summary>
    /// <param name="inputSize">Image height and width S. Default 64.</param>
    /// <param name="channels">Output channels per block. Default {8, 16, 32}.</param>
    /// <param name="classes">Number of classes. Default 10.</param>
    /// <param name="seed">Weight seed. Default 0.</param>
    /// <param name="layout"><c>NCHW</c> or <c>NHWC</c>. Default NCHW.</param>
    public static ModelProto SmallCnn(int inputSize = 64, int[]? channels = null, int classes = 10, int seed = 0, string layout = "NCHW")
    {
        channels ??= [8, 16, 32];
        if (channels.Length == 0 || channels.Any(c => c <= 0)) throw new ArgumentException("Every block needs a positive channel count.", nameof(channels));
        if (inputSize >> (channels.Length - 1) < 1) throw new ArgumentException($"Input size {inputSize} is too small for {channels.Length} blocks.", nameof(inputSize));
        bool nhwc = string.Equals(layout, "NHWC", StringComparison.OrdinalIgnoreCase);
        if (!nhwc && !string.Equals(layout, "NCHW", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"Layout '{layout}' must be NCHW or NHWC.", nameof(layout));

        var b = new OnnxModelBuilder(seed, graphName: $"small_cnn_{layout.ToLowerInvariant()}");
        var x = nhwc
            ? b.Transpose("input/to_nchw", b.Input("input", DataType.Float, -1, inputSize, inputSize, 3), [0, 3, 1, 2])
            : b.Input("input", DataType.Float, -1, 3, inputSize, inputSize);
        int inChannels = 3;
        for (int i = 0; i < channels.Length; i++)
        {
            var block = $"block{i + 1}";
            x = b.Conv($"{block}/conv", x, inChannels, channels[i], kernel: 3, bias: false);
            x = b.BatchNormalization($"{block}/bn", x, channels[i]);
            x = b.Relu($"{block}/relu", x);
            if (i < channels.Length - 1) x = b.MaxPool($"{block}/pool", x);
            inChannels = channels[i];
        }
        x = b.GlobalAveragePool("head/gap", x);
        x = b.Flatten("head/flatten", x);
        x = b.Gemm("head/fc", x, inChannels, classes, output: "logits");
        b.Softmax("head/softmax", x, output: "probabilities");
        return b.Output("logits", DataType.Float, -1, classes).Output("probabilities", DataType.Float, -1, classes).Build();
    }

    private void Claim(string tensor)
    {
        if (!_tensors.Add(tensor)) throw new InvalidOperationException($"Tensor name '{tensor}' is defined twice.");
    }

    private int StreamSeed(string name)
    {
        // FNV-1a: a string hash that, unlike string.GetHashCode, is the same in every process.
        uint h = 2166136261;
        foreach (var ch in name) { h ^= ch; h *= 16777619; }
        h ^= (uint)Seed; h *= 16777619;
        return (int)(h & 0x7FFFFFFF);
    }
}
