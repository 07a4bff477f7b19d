using System.Globalization;
using System.Text.Json.Nodes;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Importers;

/// <summary>
/// Writes a Keras model (from a TensorFlow.js layers model) as an ONNX opset-13 graph with Keras' channels-last
/// semantics kept exactly: the graph input is NHWC like the original; 4-D feature maps are transposed once to NCHW
/// for Conv/pooling and stay so through element-wise layers; they go back to NHWC only where the element order
/// matters (Flatten, Reshape, Dense on 4-D, graph outputs). 'same' padding is written as explicit (possibly
/// asymmetric: TensorFlow pads the extra pixel at the bottom/right) pads computed from the fixed input size.
/// Every layer's output tensor is named by the layer.
/// </summary>
internal sealed class KerasToOnnxConverter
{
    /// <summary>A Keras tensor in the graph. <see cref="Shape"/> is always in Keras (channels-last) order with batch -1;
    /// <see cref="Nchw"/> says the 4-D tensor named <see cref="Name"/> is actually stored channels-first.</summary>
    private sealed record Tensor(string Name, long[] Shape, bool Nchw, string? Activation)
    {
        public int Rank => Shape.Length;
        public long[] GraphShape => Nchw ? [Shape[0], Shape[3], Shape[1], Shape[2]] : Shape;
    }

    private const int Opset = 13;
    private static readonly HashSet<string> IdentityLayers =
        ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"];

    private readonly TfjsModelArtifacts _artifacts;
    private readonly TfjsImportOptions _options;
    private readonly GraphProto _graph = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reservedOutputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> _produced = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _nchwOf = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _kerasOf = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TfjsWeight> _weights = new(StringComparer.Ordinal);
    private readonly List<TfjsLayerTensor> _layers = [];
    private readonly List<string> _inputNames = [];
    private string? _globalPoolEmbedding;
    private string? _firstVectorEmbedding;
    private readonly string _source;

    public KerasToOnnxConverter(TfjsModelArtifacts artifacts, TfjsImportOptions options)
    {
        _artifacts = artifacts;
        _options = options;
        _source = artifacts.SourcePath;
        foreach (var (name, w) in artifacts.Weights)
            _weights[name.EndsWith(":0", StringComparison.Ordinal) ? name[..^2] : name] = w;
    }

    public TfjsImportResult Convert()
    {
        var top = KerasModelGraph.Parse(_artifacts.ModelConfig, _source);
        foreach (var o in top.Outputs) _reservedOutputs.Add(o.Layer);
        var outputs = Expand(top, scope: "", provided: null, topLevel: true);

        var outputNames = new List<string>();
        Tensor? classifier = null;
        foreach (var t in outputs)
        {
            var name = AsKeras(t);
            outputNames.Add(name);
            _graph.Output.Add(TensorValue(name, DataType.Float, t.Shape));
            classifier ??= t;
        }
        var outputSet = outputNames.ToHashSet(StringComparer.Ordinal);
        foreach (var l in _layers.Where(l => !outputSet.Contains(l.TensorName) && !_inputNames.Contains(l.TensorName)))
            _graph.ValueInfo.Add(TensorValue(l.TensorName, DataType.Float, l.Shape));

        var modelName = _options.ModelName ?? top.Name;
        _graph.Name = modelName;
        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = "MlNetTransfer",
            ProducerVersion = typeof(KerasToOnnxConverter).Assembly.GetName().Version?.ToString() ?? "",
            DocString = $"Imported from the TensorFlow.js layers model {Path.GetFileName(_source)}; input NHWC float32.",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });

        var input = _graph.Input[0];
        var inDims = Dims(input)!;
        string? embedding = _globalPoolEmbedding ?? _firstVectorEmbedding;
        var spec = new BackboneSpec
        {
            Name = modelName,
            InputHeight = inDims.Length == 4 ? (int)inDims[1] : 224,
            InputWidth = inDims.Length == 4 ? (int)inDims[2] : 224,
            Layout = "NHWC",
            ChannelOrder = "RGB",
            PixelScale = 1f / 255f,
            Mean = [0f, 0f, 0f],
            Std = [1f, 1f, 1f],
            InputName = input.Name,
            EmbeddingTensor = embedding,
            ClassifierTensor = outputNames[0],
            ClassifierOutputsProbabilities = classifier!.Activation is "softmax" or "sigmoid",
        };
        return new TfjsImportResult
        {
            Model = model,
            Spec = spec,
            InputNames = _inputNames.ToArray(),
            OutputNames = outputNames,
            EmbeddingTensor = embedding,
            ClassifierTensor = outputNames[0],
            Layers = _layers.ToArray(),
        };
    }

    // ---------------------------------------------------------------- graph walking

    /// <summary>Converts a (possibly nested) model; returns its output tensors.</summary>
    private List<Tensor> Expand(KerasModelGraph g, string scope, IReadOnlyList<Tensor>? provided, bool topLevel)
    {
        var byName = new Dictionary<string, KerasLayer>(StringComparer.Ordinal);
        foreach (var l in g.Layers)
            if (!byName.TryAdd(l.Name, l)) throw new MlNetTransferException($"{_source}: model '{g.Name}' has two layers named '{l.Name}'.");

        if (provided is not null && provided.Count != g.Inputs.Count)
            throw new MlNetTransferException($"{_source}: nested model '{g.Name}' takes {g.Inputs.Count} inputs but is called with {provided.Count}.");
        for (int i = 0; i < g.Inputs.Count; i++)
        {
            var r = g.Inputs[i];
            if (!byName.TryGetValue(r.Layer, out var inputLayer))
                throw new MlNetTransferException($"{_source}: model '{g.Name}' names input layer '{r.Layer}', which it does not have.");
            _produced[Key(scope, r)] = provided is null ? GraphInput(inputLayer, i) : provided[i];
        }

        // A layer's calls are numbered from its first call, but a serialized model may omit early calls that are not
        // part of it: tfjs numbers a nested model's call in the outer model 1 (its own construction was call 0)
        // yet lists only that one call. Listed calls are the last ones, so offset them by the number omitted.
        var offsets = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var r in g.Layers.SelectMany(l => l.InboundNodes.SelectMany(n => n)).Concat(g.Outputs))
            if (byName.TryGetValue(r.Layer, out var src) && src.InboundNodes.Count > 0)
                offsets[r.Layer] = Math.Max(offsets.GetValueOrDefault(r.Layer), r.Node + 1 - src.InboundNodes.Count);

        var pending = new List<(KerasLayer Layer, int Node)>();
        foreach (var l in g.Layers)
            for (int n = 0; n < l.InboundNodes.Count; n++) pending.Add((l, n));
        var topOutputs = topLevel ? g.Outputs.Select(o => (o.Layer, o.Node)).ToHashSet() : [];

        while (pending.Count > 0)
        {
            bool progress = false;
            for (int i = 0; i < pending.Count; i++)
            {
                var (layer, node) = pending[i];
                var refs = layer.InboundNodes[node];
                if (!refs.All(r => _produced.ContainsKey(Key(scope, r)))) continue;
                var inputs = refs.Select(r => _produced[Key(scope, r)]).ToList();
                int callIndex = node + offsets.GetValueOrDefault(layer.Name);
                var outs = EmitCall(layer, node, inputs, scope, topOutputs.Contains((layer.Name, callIndex)));
                for (int t = 0; t < outs.Count; t++) _produced[Key(scope, new KerasTensorRef(layer.Name, callIndex, t))] = outs[t];
                pending.RemoveAt(i--);
                progress = true;
            }
            if (!progress)
            {
                var (layer, node) = pending[0];
                var missing = layer.InboundNodes[node].First(r => !_produced.ContainsKey(Key(scope, r)));
                throw new MlNetTransferException($"{_source}: {layer.Describe()} takes output {missing.Tensor} of call {missing.Node} of layer '{missing.Layer}', which the model never produces.");
            }
        }

        return g.Outputs.Select(r => _produced.TryGetValue(Key(scope, r), out var t) ? t
            : throw new MlNetTransferException($"{_source}: model '{g.Name}' lists output layer '{r.Layer}' (call {r.Node}, tensor {r.Tensor}), which is never produced.")).ToList();
    }

    private static string Key(string scope, KerasTensorRef r) => $"{scope}\u0001{r.Layer}\u0001{r.Node}\u0001{r.Tensor}";

    private Tensor GraphInput(KerasLayer layer, int index)
    {
        if (layer.ClassName != "InputLayer")
            throw new MlNetTransferException($"{_source}: the model input '{layer.Name}' is a {layer.ClassName}, not an InputLayer.");
        long[] shape;
        try
        {
            shape = (layer.Config.Get("batch_input_shape") ?? layer.Config.Get("batch_shape")).AsDims()
                ?? throw new MlNetTransferException($"{_source}: input layer '{layer.Name}' has no batch_input_shape.");
        }
        catch (FormatException e)
        {
            throw new MlNetTransferException($"{_source}: input layer '{layer.Name}': bad batch_input_shape ({e.Message}).", e);
        }
        shape = (long[])shape.Clone();
        shape[0] = -1;
        if (shape.Length == 4)
        {
            if (_options.InputHeight is { } h) shape[1] = h;
            if (_options.InputWidth is { } w) shape[2] = w;
            if (shape[1] <= 0 || shape[2] <= 0)
                throw new MlNetTransferException($"{_source}: input layer '{layer.Name}' has no fixed height/width ([{string.Join(",", shape.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture)))}]); set TfjsImportOptions.InputHeight and InputWidth.");
            if (shape[3] <= 0) throw new MlNetTransferException($"{_source}: input layer '{layer.Name}' has no fixed channel count.");
        }
        var dtype = layer.Config.Get("dtype").AsString() ?? "float32";
        if (dtype != "float32")
            throw new MlNetTransferException($"{_source}: input layer '{layer.Name}' has dtype {dtype}; only float32 inputs are supported.");
        var name = index == 0 && _options.InputName is { Length: > 0 } custom ? custom : layer.Name;
        if (!_names.Add(name)) throw new MlNetTransferException($"{_source}: input name '{name}' is used twice.");
        _graph.Input.Add(TensorValue(name, DataType.Float, shape));
        _inputNames.Add(name);
        var t = new Tensor(name, shape, false, null);
        Record(layer, t);
        return t;
    }

    private string OutputName(KerasLayer layer, int node, string scope, bool isGraphOutput)
    {
        if (isGraphOutput && node == 0 && _names.Add(layer.Name)) return layer.Name;
        var baseName = node == 0 ? layer.Name : $"{layer.Name}/call{node}";
        if (!Taken(baseName)) return Claim(baseName);
        if (scope.Length > 0 && !Taken(scope + baseName)) return Claim(scope + baseName);
        return Unique(baseName);
    }

    private bool Taken(string n) => _names.Contains(n) || _reservedOutputs.Contains(n);

    private string Claim(string n)
    {
        _names.Add(n);
        return n;
    }

    private string Unique(string preferred)
    {
        if (!Taken(preferred)) return Claim(preferred);
        for (int k = 2; ; k++)
            if (!Taken($"{preferred}_{k}")) return Claim($"{preferred}_{k}");
    }

    private void Record(KerasLayer layer, Tensor t) =>
        _layers.Add(new TfjsLayerTensor(layer.Name, layer.ClassName, t.Name, t.GraphShape, t.Rank != 4 ? "" : t.Nchw ? "NCHW" : "NHWC"));

    // ---------------------------------------------------------------- layers

    private List<Tensor> EmitCall(KerasLayer layer, int node, List<Tensor> inputs, string scope, bool isGraphOutput)
    {
        if (KerasModelGraph.IsModelClass(layer.ClassName))
            return EmitNestedModel(layer, node, inputs, scope, isGraphOutput);

        var ctx = new LayerContext(layer, scope);
        var output = OutputName(layer, node, scope, isGraphOutput);
        Tensor result;
        try
        {
            result = EmitLayer(ctx, inputs, output);
        }
        catch (FormatException e)
        {
            throw Error(ctx, $"malformed config ({e.Message})");
        }
        Record(layer, result);

        if (layer.ClassName is "GlobalAveragePooling2D" or "GlobalMaxPooling2D" && result.Rank == 2)
            _globalPoolEmbedding = result.Name;
        else if (_firstVectorEmbedding is null && inputs.Count == 1 && inputs[0].Rank == 4 && result.Rank == 2)
            _firstVectorEmbedding = result.Name;

        if (isGraphOutput && result.Nchw)
        {
            // Graph outputs carry the layer name in Keras layout: rename the NCHW tensor, transpose into the name.
            var nchwName = Unique(result.Name + "/nchw");
            foreach (var n in _graph.Node)
                for (int i = 0; i < n.Output.Count; i++)
                    if (n.Output[i] == result.Name) { n.Output[i] = nchwName; n.Name = nchwName; }
            Node("Transpose", [nchwName], result.Name, Attr("perm", 0L, 2L, 3L, 1L));
            _layers[^1] = _layers[^1] with { Shape = result.Shape, Layout = "NHWC" };
            _kerasOf[nchwName] = result.Name;
            result = result with { Name = nchwName };
        }
        return [result];
    }

    private List<Tensor> EmitNestedModel(KerasLayer layer, int node, List<Tensor> inputs, string scope, bool isGraphOutput)
    {
        var inner = KerasModelGraph.Parse(layer.Entry, _source);
        var innerScope = $"{scope}{layer.Name}{(node > 0 ? $"/call{node}" : "")}/";
        var outs = Expand(inner, innerScope, inputs, topLevel: false);
        var named = new List<Tensor>();
        for (int i = 0; i < outs.Count; i++)
        {
            var name = outs.Count == 1 ? OutputName(layer, node, scope, isGraphOutput) : Unique($"{layer.Name}/output{i}");
            if (isGraphOutput && outs.Count == 1 && outs[0].Nchw)
            {
                Node("Transpose", [outs[0].Name], name, Attr("perm", 0L, 2L, 3L, 1L));
                named.Add(outs[0] with { Name = name, Nchw = false });
            }
            else
            {
                Node("Identity", [outs[i].Name], name);
                named.Add(outs[i] with { Name = name });
            }
            Record(layer, named[^1]);
        }
        return named;
    }

    private sealed record LayerContext(KerasLayer Layer, string Scope)
    {
        public JsonObject C => Layer.Config;
        public string Name => Layer.Name;
    }

    private MlNetTransferException Error(LayerContext ctx, string problem) => new($"{_source}: {ctx.Layer.Describe()}: {problem}.");

    private Tensor EmitLayer(LayerContext ctx, List<Tensor> inputs, string output)
    {
        var cls = ctx.Layer.ClassName;
        Tensor One()
        {
            if (inputs.Count != 1) throw Error(ctx, $"expects one input, got {inputs.Count}");
            return inputs[0];
        }
        switch (cls)
        {
            case "InputLayer":
                // An input layer reached as a call (a nested model's input): pass through.
                return Pass(One(), output);
            case "Conv2D":
            case "DepthwiseConv2D":
            case "SeparableConv2D":
                return ConvLike(ctx, One(), output);
            case "Dense":
                return Dense(ctx, One(), output);
            case "BatchNormalization":
                return BatchNorm(ctx, One(), output);
            case "Activation":
            {
                var x = One();
                var act = ActivationName(ctx.C.Get("activation"));
                return x with { Name = ApplyActivation(ctx, act, x.Name, output, x), Activation = act is "linear" ? x.Activation : act };
            }
            case "ReLU":
                return Relu(ctx, One(), output);
            case "LeakyReLU":
            {
                var x = One();
                var alpha = ctx.C.Get("alpha").AsDouble() ?? ctx.C.Get("negative_slope").AsDouble() ?? 0.3;
                Node("LeakyRelu", [x.Name], output, Attr("alpha", (float)alpha));
                return x with { Name = output, Activation = "leakyrelu" };
            }
            case "ELU":
            {
                var x = One();
                Node("Elu", [x.Name], output, Attr("alpha", (float)(ctx.C.Get("alpha").AsDouble() ?? 1.0)));
                return x with { Name = output, Activation = "elu" };
            }
            case "Softmax":
            {
                var x = One();
                var axis = ctx.C.Get("axis") is JsonArray arr ? (arr.Count == 1 ? arr[0].AsLong() : throw Error(ctx, "softmax over several axes is not supported")) : ctx.C.Get("axis").AsLong();
                Node("Softmax", [x.Name], output, Attr("axis", GraphAxis(ctx, x, axis ?? -1)));
                return x with { Name = output, Activation = "softmax" };
            }
            case "Add":
            case "Subtract":
            case "Multiply":
            case "Average":
            case "Maximum":
            case "Minimum":
                return Merge(ctx, inputs, output);
            case "Concatenate":
                return Concatenate(ctx, inputs, output);
            case "MaxPooling2D":
            case "AveragePooling2D":
                return Pool(ctx, One(), output);
            case "GlobalAveragePooling2D":
            case "GlobalMaxPooling2D":
                return GlobalPool(ctx, One(), output);
            case "Flatten":
            {
                var x = One();
                if (x.Rank == 2) return Pass(x, output);
                Node("Flatten", [AsKeras(x)], output, Attr("axis", 1L));
                return new Tensor(output, [-1, Product(x.Shape.Skip(1), ctx)], false, x.Activation);
            }
            case "Reshape":
                return Reshape(ctx, One(), output);
            case "ZeroPadding2D":
                return ZeroPadding(ctx, One(), output);
            case "Cropping2D":
                return Cropping(ctx, One(), output);
            case "UpSampling2D":
                return UpSampling(ctx, One(), output);
            case "Rescaling":
                return Rescaling(ctx, One(), output);
            default:
                if (IdentityLayers.Contains(cls)) return Pass(One(), output);
                throw Error(ctx, $"the Keras layer class '{cls}' is not supported by the TensorFlow.js importer");
        }
    }

    private Tensor Pass(Tensor x, string output)
    {
        Node("Identity", [x.Name], output);
        return x with { Name = output };
    }

    private Tensor ConvLike(LayerContext ctx, Tensor x, string output)
    {
        var cls = ctx.Layer.ClassName;
        Require4D(ctx, x);
        RequireChannelsLast(ctx);
        var (kh, kw) = Pair(ctx, "kernel_size", null);
        var (sh, sw) = Pair(ctx, "strides", 1);
        var (dh, dw) = Pair(ctx, "dilation_rate", 1);
        var padding = ctx.C.Get("padding").AsString() ?? "valid";
        long h = x.Shape[1], w = x.Shape[2], c = x.Shape[3];
        var (oh, top, bottom) = Window(ctx, h, kh, sh, dh, padding);
        var (ow, left, right) = Window(ctx, w, kw, sw, dw, padding);
        bool useBias = ctx.C.Get("use_bias").AsBool() ?? true;
        var act = ActivationName(ctx.C.Get("activation"));
        var input = AsNchw(x);
        var convAttrs = new List<AttributeProto>
        {
            Attr("kernel_shape", kh, kw), Attr("strides", sh, sw), Attr("dilations", dh, dw), Attr("pads", top, left, bottom, right),
        };
        string preAct = act == "linear" ? output : Unique(output + "/preact");
        long outChannels;
        switch (cls)
        {
            case "Conv2D":
            {
                long filters = ctx.C.Get("filters").AsLong() ?? throw Error(ctx, "no 'filters'");
                long groups = ctx.C.Get("groups").AsLong() ?? 1;
                if (groups < 1 || c % groups != 0 || filters % groups != 0) throw Error(ctx, $"groups={groups} does not divide {c} input channels and {filters} filters");
                var kernel = Weight(ctx, "kernel", [kh, kw, c / groups, filters]);
                var inputs = new List<string> { input, Init(ctx.Name + "/kernel", HwioToOihw(kernel, kh, kw, c / groups, filters), [filters, c / groups, kh, kw]) };
                if (useBias) inputs.Add(Init(ctx.Name + "/bias", Weight(ctx, "bias", [filters]), [filters]));
                Node("Conv", inputs, preAct, [.. convAttrs, Attr("group", groups)]);
                outChannels = filters;
                break;
            }
            case "DepthwiseConv2D":
            {
                long m = ctx.C.Get("depth_multiplier").AsLong() ?? 1;
                var kernel = Weight(ctx, "depthwise_kernel", [kh, kw, c, m]);
                var inputs = new List<string> { input, Init(ctx.Name + "/depthwise_kernel", DepthwiseToOihw(kernel, kh, kw, c, m), [c * m, 1, kh, kw]) };
                if (useBias) inputs.Add(Init(ctx.Name + "/bias", Weight(ctx, "bias", [c * m]), [c * m]));
                Node("Conv", inputs, preAct, [.. convAttrs, Attr("group", c)]);
                outChannels = c * m;
                break;
            }
            default: // SeparableConv2D: depthwise (carrying strides, padding, dilation), then a 1×1 pointwise conv with the bias.
            {
                long m = ctx.C.Get("depth_multiplier").AsLong() ?? 1;
                long filters = ctx.C.Get("filters").AsLong() ?? throw Error(ctx, "no 'filters'");
                var dk = Weight(ctx, "depthwise_kernel", [kh, kw, c, m]);
                var pk = Weight(ctx, "pointwise_kernel", [1, 1, c * m, filters]);
                var mid = Unique(output + "/depthwise");
                Node("Conv", [input, Init(ctx.Name + "/depthwise_kernel", DepthwiseToOihw(dk, kh, kw, c, m), [c * m, 1, kh, kw])], mid, [.. convAttrs, Attr("group", c)]);
                var inputs = new List<string> { mid, Init(ctx.Name + "/pointwise_kernel", HwioToOihw(pk, 1, 1, c * m, filters), [filters, c * m, 1, 1]) };
                if (useBias) inputs.Add(Init(ctx.Name + "/bias", Weight(ctx, "bias", [filters]), [filters]));
                Node("Conv", inputs, preAct, Attr("kernel_shape", 1L, 1L));
                outChannels = filters;
                break;
            }
        }
        var result = new Tensor(output, [-1, oh, ow, outChannels], true, act);
        if (act != "linear") ApplyActivation(ctx, act, preAct, output, result);
        return result;
    }

    private Tensor Dense(LayerContext ctx, Tensor x, string output)
    {
        long units = ctx.C.Get("units").AsLong() ?? throw Error(ctx, "no 'units'");
        long inFeatures = x.Shape[^1];
        if (inFeatures <= 0) throw Error(ctx, "the input's last dimension is unknown");
        bool useBias = ctx.C.Get("use_bias").AsBool() ?? true;
        var act = ActivationName(ctx.C.Get("activation"));
        string preAct = act == "linear" ? output : Unique(output + "/preact");
        var kernel = Init(ctx.Name + "/kernel", Weight(ctx, "kernel", [inFeatures, units]), [inFeatures, units]);
        string? bias = useBias ? Init(ctx.Name + "/bias", Weight(ctx, "bias", [units]), [units]) : null;
        if (x.Rank == 2)
        {
            Node("Gemm", bias is null ? [x.Name, kernel] : [x.Name, kernel, bias], preAct);
        }
        else if (bias is null)
        {
            Node("MatMul", [AsKeras(x), kernel], preAct);
        }
        else
        {
            var mm = Unique(output + "/matmul");
            Node("MatMul", [AsKeras(x), kernel], mm);
            Node("Add", [mm, bias], preAct);
        }
        var result = new Tensor(output, [.. x.Shape[..^1], units], false, act);
        if (act != "linear") ApplyActivation(ctx, act, preAct, output, result);
        return result;
    }

    private Tensor BatchNorm(LayerContext ctx, Tensor x, string output)
    {
        var axisNode = ctx.C.Get("axis");
        long axis = axisNode is JsonArray arr ? (arr.Count == 1 ? arr[0].AsLong() ?? -1 : throw Error(ctx, "normalising over several axes is not supported")) : axisNode.AsLong() ?? -1;
        if (axis < 0) axis += x.Rank;
        if (axis != x.Rank - 1) throw Error(ctx, $"axis {axis} is not the channel (last) axis; only channels-last batch normalisation is supported");
        long c = x.Shape[^1];
        float eps = (float)(ctx.C.Get("epsilon").AsDouble() ?? 1e-3);
        bool scale = ctx.C.Get("scale").AsBool() ?? true, center = ctx.C.Get("center").AsBool() ?? true;
        var gamma = scale ? Weight(ctx, "gamma", [c]) : Enumerable.Repeat(1f, (int)c).ToArray();
        var beta = center ? Weight(ctx, "beta", [c]) : new float[c];
        var mean = Weight(ctx, "moving_mean", [c]);
        var variance = Weight(ctx, "moving_variance", [c]);
        if (x.Rank == 4)
        {
            Node("BatchNormalization",
                [AsNchw(x), Init(ctx.Name + "/gamma", gamma, [c]), Init(ctx.Name + "/beta", beta, [c]),
                 Init(ctx.Name + "/moving_mean", mean, [c]), Init(ctx.Name + "/moving_variance", variance, [c])],
                output, Attr("epsilon", eps));
            return new Tensor(output, x.Shape, true, null);
        }
        // Other ranks: the same affine map along the last axis, folded (ONNX BatchNormalization wants channels at axis 1).
        var mul = new float[c];
        var add = new float[c];
        for (int i = 0; i < c; i++)
        {
            mul[i] = (float)(gamma[i] / Math.Sqrt(variance[i] + (double)eps));
            add[i] = (float)(beta[i] - mean[i] * (double)mul[i]);
        }
        var scaled = Unique(output + "/scaled");
        Node("Mul", [x.Name, Init(ctx.Name + "/scale", mul, [c])], scaled);
        Node("Add", [scaled, Init(ctx.Name + "/shift", add, [c])], output);
        return x with { Name = output, Activation = null };
    }

    /// <summary>Keras ReLU: x above threshold, negative_slope·(x − threshold) at or below it, capped at max_value.</summary>
    private Tensor Relu(LayerContext ctx, Tensor x, string output)
    {
        var maxValue = ctx.C.Get("max_value").AsDouble();
        double slope = ctx.C.Get("negative_slope").AsDouble() ?? 0;
        double threshold = ctx.C.Get("threshold").AsDouble() ?? 0;
        var result = x with { Name = output, Activation = maxValue == 6 && slope == 0 && threshold == 0 ? "relu6" : "relu" };
        if (slope == 0 && threshold == 0)
        {
            if (maxValue is null) Node("Relu", [x.Name], output);
            else Node("Clip", [x.Name, Scalar(0), Scalar((float)maxValue.Value)], output);
            return result;
        }
        string uncapped = maxValue is null ? output : Unique(output + "/uncapped");
        if (threshold == 0)
        {
            Node("LeakyRelu", [x.Name], uncapped, Attr("alpha", (float)slope));
        }
        else
        {
            var above = Unique(output + "/above");
            var shifted = Unique(output + "/shifted");
            var below = Unique(output + "/below");
            Node("Greater", [x.Name, Scalar((float)threshold)], above);
            Node("Sub", [x.Name, Scalar((float)threshold)], shifted);
            Node("Mul", [shifted, Scalar((float)slope)], below);
            Node("Where", [above, x.Name, below], uncapped);
        }
        if (maxValue is not null) Node("Clip", [uncapped, "", Scalar((float)maxValue.Value)], output);
        return result;
    }

    private Tensor Merge(LayerContext ctx, List<Tensor> inputs, string output)
    {
        var cls = ctx.Layer.ClassName;
        if (inputs.Count < 2) throw Error(ctx, $"expects at least two inputs, got {inputs.Count}");
        if (cls == "Subtract" && inputs.Count != 2) throw Error(ctx, $"expects two inputs, got {inputs.Count}");
        var shape = inputs[0].Shape;
        if (inputs.Any(t => !t.Shape.SequenceEqual(shape)))
            throw Error(ctx, $"inputs of different shapes ({string.Join(" and ", inputs.Select(t => FormatShape(t.Shape)))}) are not supported");
        bool nchw = shape.Length == 4;
        var names = inputs.Select(t => nchw ? AsNchw(t) : AsKeras(t)).ToList();
        switch (cls)
        {
            case "Add": Node("Sum", names, output); break;
            case "Average": Node("Mean", names, output); break;
            case "Maximum": Node("Max", names, output); break;
            case "Minimum": Node("Min", names, output); break;
            case "Subtract": Node("Sub", names, output); break;
            default:
                var acc = names[0];
                for (int i = 1; i < names.Count; i++)
                {
                    var o = i == names.Count - 1 ? output : Unique($"{output}/mul{i}");
                    Node("Mul", [acc, names[i]], o);
                    acc = o;
                }
                break;
        }
        return new Tensor(output, shape, nchw, null);
    }

    private Tensor Concatenate(LayerContext ctx, List<Tensor> inputs, string output)
    {
        if (inputs.Count < 1) throw Error(ctx, "has no inputs");
        int rank = inputs[0].Rank;
        long axis = ctx.C.Get("axis").AsLong() ?? -1;
        if (axis < 0) axis += rank;
        if (axis <= 0 || axis >= rank) throw Error(ctx, $"axis {ctx.C.Get("axis")?.ToJsonString()} is out of range for rank-{rank} inputs");
        var shape = (long[])inputs[0].Shape.Clone();
        shape[axis] = 0;
        foreach (var t in inputs)
        {
            if (t.Rank != rank || Enumerable.Range(0, rank).Any(i => i != axis && t.Shape[i] != inputs[0].Shape[i]))
                throw Error(ctx, $"inputs {string.Join(", ", inputs.Select(i => FormatShape(i.Shape)))} do not match outside axis {axis}");
            shape[axis] = shape[axis] < 0 || t.Shape[axis] < 0 ? -1 : shape[axis] + t.Shape[axis];
        }
        bool nchw = rank == 4;
        var names = inputs.Select(t => nchw ? AsNchw(t) : AsKeras(t)).ToList();
        Node("Concat", names, output, Attr("axis", nchw ? NchwAxis(axis) : axis));
        return new Tensor(output, shape, nchw, null);
    }

    private Tensor Pool(LayerContext ctx, Tensor x, string output)
    {
        Require4D(ctx, x);
        RequireChannelsLast(ctx);
        var (ph, pw) = Pair(ctx, "pool_size", 2);
        var (sh, sw) = ctx.C.Get("strides") is null ? (ph, pw) : Pair(ctx, "strides", null);
        var padding = ctx.C.Get("padding").AsString() ?? "valid";
        var (oh, top, bottom) = Window(ctx, x.Shape[1], ph, sh, 1, padding);
        var (ow, left, right) = Window(ctx, x.Shape[2], pw, sw, 1, padding);
        var attrs = new List<AttributeProto> { Attr("kernel_shape", ph, pw), Attr("strides", sh, sw), Attr("pads", top, left, bottom, right) };
        // TensorFlow averages over the window's real pixels only, as ONNX does with count_include_pad=0.
        if (ctx.Layer.ClassName == "AveragePooling2D") attrs.Add(Attr("count_include_pad", 0L));
        Node(ctx.Layer.ClassName == "MaxPooling2D" ? "MaxPool" : "AveragePool", [AsNchw(x)], output, [.. attrs]);
        return new Tensor(output, [-1, oh, ow, x.Shape[3]], true, null);
    }

    private Tensor GlobalPool(LayerContext ctx, Tensor x, string output)
    {
        Require4D(ctx, x);
        RequireChannelsLast(ctx);
        var op = ctx.Layer.ClassName == "GlobalAveragePooling2D" ? "GlobalAveragePool" : "GlobalMaxPool";
        bool keepDims = ctx.C.Get("keepdims").AsBool() ?? false;
        long c = x.Shape[3];
        if (keepDims)
        {
            Node(op, [AsNchw(x)], output);
            return new Tensor(output, [-1, 1, 1, c], true, null);
        }
        var pooled = Unique(output + "/pooled");
        Node(op, [AsNchw(x)], pooled);
        Node("Flatten", [pooled], output, Attr("axis", 1L));
        return new Tensor(output, [-1, c], false, null);
    }

    private Tensor Reshape(LayerContext ctx, Tensor x, string output)
    {
        var target = ctx.C.Get("target_shape").AsDims() ?? throw Error(ctx, "no 'target_shape'");
        long total = Product(x.Shape.Skip(1), ctx);
        var known = target.Where(d => d >= 0).Aggregate(1L, (a, d) => a * d);
        int unknown = target.Count(d => d < 0);
        if (unknown > 1 || (unknown == 0 && known != total) || (unknown == 1 && (known == 0 || total % known != 0)))
            throw Error(ctx, $"cannot reshape {FormatShape(x.Shape)} to target_shape [{string.Join(",", target)}]");
        var resolved = target.Select(d => d < 0 ? total / known : d).ToArray();
        // 0 keeps the batch dimension (ONNX Reshape-13 copies it from the input).
        Node("Reshape", [AsKeras(x), Int64s([0, .. target])], output);
        return new Tensor(output, [-1, .. resolved], false, x.Activation);
    }

    private Tensor ZeroPadding(LayerContext ctx, Tensor x, string output)
    {
        Require4D(ctx, x);
        RequireChannelsLast(ctx);
        var (top, bottom, left, right) = FourSides(ctx, "padding", 1);
        Node("Pad", [AsNchw(x), Int64s([0, 0, top, left, 0, 0, bottom, right])], output, Attr("mode", "constant"));
        return new Tensor(output, [-1, x.Shape[1] + top + bottom, x.Shape[2] + left + right, x.Shape[3]], true, null);
    }

    private Tensor Cropping(LayerContext ctx, Tensor x, string output)
    {
        Require4D(ctx, x);
        RequireChannelsLast(ctx);
        var (top, bottom, left, right) = FourSides(ctx, "cropping", 0);
        long h = x.Shape[1] - top - bottom, w = x.Shape[2] - left - right;
        if (h <= 0 || w <= 0) throw Error(ctx, $"cropping leaves nothing of {FormatShape(x.Shape)}");
        Node("Slice", [AsNchw(x), Int64s([top, left]), Int64s([top + h, left + w]), Int64s([2, 3])], output);
        return new Tensor(output, [-1, h, w, x.Shape[3]], true, null);
    }

    private Tensor UpSampling(LayerContext ctx, Tensor x, string output)
    {
        Require4D(ctx, x);
        RequireChannelsLast(ctx);
        var interpolation = ctx.C.Get("interpolation").AsString() ?? "nearest";
        if (interpolation != "nearest") throw Error(ctx, $"interpolation '{interpolation}' is not supported (only nearest)");
        var (fh, fw) = Pair(ctx, "size", 2);
        // tfjs' resizeNearestNeighbor (no align_corners, no half-pixel centres) reads source pixel floor(i / factor).
        Node("Resize", [AsNchw(x), "", Init(output + "/scales", [1, 1, fh, fw], [4])], output,
            Attr("mode", "nearest"), Attr("coordinate_transformation_mode", "asymmetric"), Attr("nearest_mode", "floor"));
        return new Tensor(output, [-1, x.Shape[1] * fh, x.Shape[2] * fw, x.Shape[3]], true, null);
    }

    private Tensor Rescaling(LayerContext ctx, Tensor x, string output)
    {
        var scale = ctx.C.Get("scale").AsDouble() ?? throw Error(ctx, "only a single-number 'scale' is supported");
        var offset = ctx.C.Get("offset").AsDouble() ?? 0;
        var scaled = Unique(output + "/scaled");
        Node("Mul", [x.Name, Scalar((float)scale)], scaled);
        Node("Add", [scaled, Scalar((float)offset)], output);
        return x with { Name = output, Activation = null };
    }

    // ---------------------------------------------------------------- activations

    private static string ActivationName(JsonNode? node)
    {
        // Keras 2 and tfjs write a string ("relu", "hard_sigmoid", tfjs' "hardSigmoid"); Keras 3 may write {"config": "relu"}.
        var s = node.AsString() ?? node.Get("config").AsString() ?? node.Get("class_name").AsString() ?? "linear";
        return s.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant() switch
        {
            "silu" => "swish",
            var v => v,
        };
    }

    /// <summary>Writes <paramref name="activation"/> of <paramref name="input"/> into <paramref name="output"/>;
    /// <paramref name="like"/> gives the rank and layout (softmax works along Keras' last axis).</summary>
    private string ApplyActivation(LayerContext ctx, string activation, string input, string output, Tensor like)
    {
        string Tmp(string what) => Unique($"{output}/{what}");
        switch (activation)
        {
            case "linear": Node("Identity", [input], output); break;
            case "relu": Node("Relu", [input], output); break;
            case "relu6": Node("Clip", [input, Scalar(0), Scalar(6)], output); break;
            case "sigmoid": Node("Sigmoid", [input], output); break;
            case "tanh": Node("Tanh", [input], output); break;
            case "softplus": Node("Softplus", [input], output); break;
            case "softsign": Node("Softsign", [input], output); break;
            case "exponential": Node("Exp", [input], output); break;
            case "elu": Node("Elu", [input], output, Attr("alpha", 1f)); break;
            case "selu": Node("Selu", [input], output); break;
            case "hardsigmoid": Node("HardSigmoid", [input], output, Attr("alpha", 0.2f), Attr("beta", 0.5f)); break;
            case "softmax": Node("Softmax", [input], output, Attr("axis", GraphAxis(ctx, like, -1))); break;
            case "logsoftmax": Node("LogSoftmax", [input], output, Attr("axis", GraphAxis(ctx, like, -1))); break;
            case "swish":
            {
                var s = Tmp("sigmoid");
                Node("Sigmoid", [input], s);
                Node("Mul", [input, s], output);
                break;
            }
            case "mish":
            {
                var sp = Tmp("softplus");
                var th = Tmp("tanh");
                Node("Softplus", [input], sp);
                Node("Tanh", [sp], th);
                Node("Mul", [input, th], output);
                break;
            }
            case "gelu":
            {
                // x·½(1 + erf(x/√2)), as tfjs computes it.
                string d = Tmp("div"), e = Tmp("erf"), a = Tmp("add"), h = Tmp("half");
                Node("Div", [input, Scalar((float)Math.Sqrt(2))], d);
                Node("Erf", [d], e);
                Node("Add", [e, Scalar(1)], a);
                Node("Mul", [a, Scalar(0.5f)], h);
                Node("Mul", [input, h], output);
                break;
            }
            default:
                throw Error(ctx, $"activation '{activation}' is not supported");
        }
        return output;
    }

    // ---------------------------------------------------------------- layout, shapes, weights

    private string AsNchw(Tensor t)
    {
        if (t.Rank != 4) throw new InvalidOperationException($"AsNchw on rank-{t.Rank} tensor {t.Name}");
        if (t.Nchw) return t.Name;
        if (_nchwOf.TryGetValue(t.Name, out var cached)) return cached;
        var name = Unique(t.Name + "/nchw");
        Node("Transpose", [t.Name], name, Attr("perm", 0L, 3L, 1L, 2L));
        _nchwOf[t.Name] = name;
        return name;
    }

    private string AsKeras(Tensor t)
    {
        if (!t.Nchw) return t.Name;
        if (_kerasOf.TryGetValue(t.Name, out var cached)) return cached;
        var name = Unique(t.Name + "/nhwc");
        Node("Transpose", [t.Name], name, Attr("perm", 0L, 2L, 3L, 1L));
        _kerasOf[t.Name] = name;
        return name;
    }

    private static long NchwAxis(long kerasAxis) => kerasAxis switch { 0 => 0, 1 => 2, 2 => 3, _ => 1 };

    private long GraphAxis(LayerContext ctx, Tensor t, long kerasAxis)
    {
        long a = kerasAxis < 0 ? kerasAxis + t.Rank : kerasAxis;
        if (a < 0 || a >= t.Rank) throw Error(ctx, $"axis {kerasAxis} is out of range for a rank-{t.Rank} tensor");
        return t.Nchw ? NchwAxis(a) : a;
    }

    private void Require4D(LayerContext ctx, Tensor x)
    {
        if (x.Rank != 4) throw Error(ctx, $"expects a 4-D (batch, height, width, channels) input, got {FormatShape(x.Shape)}");
    }

    private void RequireChannelsLast(LayerContext ctx)
    {
        var format = ctx.C.Get("data_format").AsString();
        if (format is not (null or "channels_last"))
            throw Error(ctx, $"data_format '{format}' is not supported (only channels_last)");
    }

    /// <summary>Output size and TensorFlow's pads for one spatial dimension.</summary>
    private (long Out, long Before, long After) Window(LayerContext ctx, long size, long kernel, long stride, long dilation, string padding)
    {
        if (size <= 0) throw Error(ctx, "the input's height/width is unknown; set TfjsImportOptions.InputHeight and InputWidth");
        if (kernel <= 0 || stride <= 0 || dilation <= 0) throw Error(ctx, $"kernel {kernel}, stride {stride}, dilation {dilation} must be positive");
        long effective = (kernel - 1) * dilation + 1;
        switch (padding)
        {
            case "valid":
                if (size < effective) throw Error(ctx, $"the {size}-pixel input is smaller than the {effective}-pixel window");
                return ((size - effective) / stride + 1, 0, 0);
            case "same":
                long output = (size + stride - 1) / stride;
                long total = Math.Max((output - 1) * stride + effective - size, 0);
                return (output, total / 2, total - total / 2);
            default:
                throw Error(ctx, $"padding '{padding}' is not supported (valid or same)");
        }
    }

    private (long, long) Pair(LayerContext ctx, string key, long? fallback)
    {
        var node = ctx.C.Get(key);
        if (node is null)
            return fallback is { } f ? (f, f) : throw Error(ctx, $"no '{key}'");
        if (node.AsLong() is { } single) return (single, single);
        var dims = node.AsDims();
        if (dims is { Length: 2 }) return (dims[0], dims[1]);
        throw Error(ctx, $"'{key}' = {node.ToJsonString()} is not one or two integers");
    }

    /// <summary>Keras' int, (sym_h, sym_w) or ((top, bottom), (left, right)).</summary>
    private (long Top, long Bottom, long Left, long Right) FourSides(LayerContext ctx, string key, long fallback)
    {
        var node = ctx.C.Get(key);
        if (node is null) return (fallback, fallback, fallback, fallback);
        if (node.AsLong() is { } n) return (n, n, n, n);
        if (node is JsonArray { Count: 2 } a)
        {
            if (a[0].AsLong() is { } h && a[1].AsLong() is { } w) return (h, h, w, w);
            var hs = a[0].AsDims();
            var ws = a[1].AsDims();
            if (hs is { Length: 2 } && ws is { Length: 2 }) return (hs[0], hs[1], ws[0], ws[1]);
        }
        throw Error(ctx, $"'{key}' = {node.ToJsonString()} is not an int, (h, w) or ((top, bottom), (left, right))");
    }

    private long Product(IEnumerable<long> dims, LayerContext ctx)
    {
        long p = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw Error(ctx, "the input has an unknown dimension");
            p *= d;
        }
        return p;
    }

    private static string FormatShape(long[] s) => "[" + string.Join(",", s.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>The layer's weight <paramref name="kind"/> (kernel, bias, gamma, …), checked against the shape the config implies.</summary>
    private float[] Weight(LayerContext ctx, string kind, long[] expected)
    {
        var candidates = new[] { $"{ctx.Scope}{ctx.Name}/{kind}", $"{ctx.Name}/{kind}" };
        TfjsWeight? w = null;
        foreach (var c in candidates)
            if (_weights.TryGetValue(c, out w)) break;
        if (w is null)
        {
            // Converters differ in how they prefix weights of nested models; accept one unambiguous match.
            var suffix = $"/{ctx.Name}/{kind}";
            var matches = _weights.Where(kv => kv.Key.EndsWith(suffix, StringComparison.Ordinal)).Select(kv => kv.Value).ToList();
            if (matches.Count == 1) w = matches[0];
            else if (matches.Count > 1) throw Error(ctx, $"weight '{kind}' is ambiguous ({string.Join(", ", matches.Select(m => m.Name))})");
        }
        if (w is null) throw Error(ctx, $"weight '{candidates[1]}' is not in the weightsManifest");
        if (!w.Shape.SequenceEqual(expected))
            throw Error(ctx, $"weight '{w.Name}' has shape {FormatShape(w.Shape)}, but the layer config and input imply {FormatShape(expected)}");
        return w.Values;
    }

    /// <summary>Keras/TF conv kernel [kh, kw, in, out] → ONNX [out, in, kh, kw].</summary>
    private static float[] HwioToOihw(float[] k, long kh, long kw, long cin, long cout)
    {
        var r = new float[k.Length];
        for (long y = 0; y < kh; y++)
            for (long x = 0; x < kw; x++)
                for (long i = 0; i < cin; i++)
                    for (long o = 0; o < cout; o++)
                        r[((o * cin + i) * kh + y) * kw + x] = k[((y * kw + x) * cin + i) * cout + o];
        return r;
    }

    /// <summary>Depthwise kernel [kh, kw, C, M] → ONNX grouped conv weight [C·M, 1, kh, kw]; TF's output channel c·M + m.</summary>
    private static float[] DepthwiseToOihw(float[] k, long kh, long kw, long c, long m)
    {
        var r = new float[k.Length];
        for (long y = 0; y < kh; y++)
            for (long x = 0; x < kw; x++)
                for (long ci = 0; ci < c; ci++)
                    for (long mi = 0; mi < m; mi++)
                        r[((ci * m + mi) * kh + y) * kw + x] = k[((y * kw + x) * c + ci) * m + mi];
        return r;
    }

    // ---------------------------------------------------------------- graph writing

    private void Node(string op, IEnumerable<string> inputs, string output, params AttributeProto[] attributes) =>
        _graph.Node.Add(OnnxNodes.Node(op, output, inputs, [output], attributes));

    private string Init(string preferred, float[] values, long[] dims)
    {
        var name = Unique(preferred);
        _graph.Initializer.Add(OnnxTensors.FromFloats(name, values, dims));
        return name;
    }

    private string Scalar(float v)
    {
        var key = "f:" + BitConverter.SingleToInt32Bits(v).ToString(CultureInfo.InvariantCulture);
        if (_constants.TryGetValue(key, out var name)) return name;
        name = Unique("const/" + v.ToString("R", CultureInfo.InvariantCulture));
        _graph.Initializer.Add(OnnxTensors.FromFloats(name, [v]));
        return _constants[key] = name;
    }

    private string Int64s(long[] values)
    {
        var key = "i:" + string.Join(",", values);
        if (_constants.TryGetValue(key, out var name)) return name;
        name = Unique("const/[" + string.Join(",", values) + "]");
        _graph.Initializer.Add(OnnxTensors.FromInt64s(name, values, values.Length));
        return _constants[key] = name;
    }
}
