using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// The work behind <see cref="Dequantizer.Dequantize(Proto.ModelProto, DequantizeOptions?)"/>: one pass over the nodes in topological order, mapping every
/// quantized tensor to a float tensor (plus its scale / zero point) and every quantized op to float ops.
/// </summary>
internal sealed class QuantizedGraphRewriter
{
    /// <summary>How an activation was quantized: one scale and zero point (activations are always per tensor).</summary>
    private readonly record struct QuantParams(float Scale, long ZeroPoint, DataType Type, DataType FloatType)
    {
        public float Lo => (float)(QuantizedTensors.Range(Type).Min - ZeroPoint) * Scale;
        public float Hi => (float)(QuantizedTensors.Range(Type).Max - ZeroPoint) * Scale;
        public float Dequantize(long q) => (float)(q - ZeroPoint) * Scale;
        public bool SameAs(QuantParams o) => Scale == o.Scale && ZeroPoint == o.ZeroPoint && Type == o.Type;
        public override string ToString() => $"scale {Scale:R}, zero point {ZeroPoint} ({Type})";
    }

    /// <summary>Standard ops that only move, select or compare values, so they commute with dequantization.
    /// DataInputs: the inputs carrying quantized values (null = all); QuantizedOutputs: outputs that stay quantized (null = all).</summary>
    private sealed record PassThrough(int[]? DataInputs, int[]? QuantizedOutputs);

    private static readonly PassThrough First = new([0], [0]);
    private static readonly Dictionary<string, PassThrough> PassThroughOps = new()
    {
        ["Identity"] = First, ["Reshape"] = First, ["Transpose"] = First, ["Flatten"] = First, ["Squeeze"] = First,
        ["Unsqueeze"] = First, ["MaxPool"] = First, ["GlobalMaxPool"] = First, ["Slice"] = First, ["Gather"] = First,
        ["GatherElements"] = First, ["GatherND"] = First, ["Expand"] = First, ["Tile"] = First, ["DepthToSpace"] = First,
        ["SpaceToDepth"] = First, ["Resize"] = First, ["Upsample"] = First, ["ReduceMax"] = First, ["ReduceMin"] = First,
        ["TopK"] = First, ["Pad"] = new([0, 2], [0]),
        ["Split"] = new([0], null), ["Concat"] = new(null, null), ["Max"] = new(null, null), ["Min"] = new(null, null),
        ["Where"] = new([1, 2], [0]),
        // Their outputs are shapes or indices, identical for the float tensor.
        ["Shape"] = new([0], []), ["Size"] = new([0], []), ["ArgMax"] = new([0], []), ["ArgMin"] = new([0], []),
    };

    private const string QuantizedSuffix = Dequantizer.QuantizedSuffix;

    private readonly ModelProto _source;
    private readonly DequantizeOptions _options;
    private readonly GraphProto _graph;
    private readonly long _opset;
    private readonly Dictionary<string, TensorProto> _constants = new();
    private readonly HashSet<string> _synthetic = new();
    private readonly HashSet<string> _names = new();
    private readonly HashSet<string> _nodeNames = new();
    private readonly HashSet<string> _graphOutputs;
    private readonly Dictionary<string, ValueInfoProto> _valueInfo = new();
    private readonly Dictionary<string, string> _preferredFloatName = new();
    private readonly Dictionary<string, string> _valueOf = new();
    private readonly HashSet<string> _aliases = new();
    private readonly Dictionary<string, QuantParams> _quantized = new();
    /// <summary>Simulated activation quantization: float tensor → the same values as integers on its grid, q − zero point (held in float).</summary>
    private readonly Dictionary<string, string> _onGrid = new();
    private readonly HashSet<string> _retired = new();
    private readonly Dictionary<string, string> _cache = new();
    private readonly List<NodeProto> _nodes = new();
    private readonly List<TensorProto> _newInitializers = new();

    public QuantizedGraphRewriter(ModelProto model, DequantizeOptions options)
    {
        _source = model;
        _options = options;
        _graph = model.Graph;
        _opset = OnnxGraphEditing.DefaultOpset(model);
        _graphOutputs = _graph.Output.Select(o => o.Name).ToHashSet();
        foreach (var t in _graph.Initializer) _constants[t.Name] = t;
        foreach (var v in _graph.Input.Concat(_graph.Output).Concat(_graph.ValueInfo)) _valueInfo.TryAdd(v.Name, v);
        foreach (var t in _graph.Initializer) _names.Add(t.Name);
        foreach (var v in _valueInfo.Keys) _names.Add(v);
        foreach (var n in Dequantizer.AllNodes(_graph))
        {
            _names.UnionWith(n.Input);
            _names.UnionWith(n.Output);
            if (n.Name != "") _nodeNames.Add(n.Name);
        }
        var initializers = _graph.Initializer.Select(t => t.Name).ToHashSet();
        foreach (var n in _graph.Node)
        {
            if (n.OpType == "Constant" && n.Domain is "" or "ai.onnx" && ConstantValue(n) is { } value) _constants[n.Output[0]] = value;
            // A quantized activation takes the name its DequantizeLinear gives it (one that is a graph output first),
            // so downstream float ops need no renaming and the model keeps its familiar tensor names.
            if (n.OpType == "DequantizeLinear" && !initializers.Contains(n.Input[0]))
            {
                var y = n.Output[0];
                if (!_preferredFloatName.ContainsKey(n.Input[0]) || _graphOutputs.Contains(y) && !_graphOutputs.Contains(_preferredFloatName[n.Input[0]]))
                    _preferredFloatName[n.Input[0]] = y;
            }
        }
    }

    public ModelProto Rewrite()
    {
        foreach (var node in _graph.Node) RewriteNode(node);
        return Assemble();
    }

    private void RewriteNode(NodeProto n)
    {
        // The node's own name passes to whatever replaces it (Copy takes it back unchanged).
        _nodeNames.Remove(n.Name);
        var standard = n.Domain is "" or "ai.onnx";
        var microsoft = n.Domain == "com.microsoft";
        if (standard || microsoft)
        {
            switch (n.OpType)
            {
                case "QuantizeLinear": Quantize(n); return;
                case "DequantizeLinear": Dequantize(n); return;
                case "QLinearConv" when standard: Conv(n); return;
                case "QLinearMatMul" when standard: MatMul(n); return;
                case "QGemm" when microsoft: Gemm(n); return;
                case "QLinearAdd" when microsoft: Binary(n, "Add"); return;
                case "QLinearMul" when microsoft: Binary(n, "Mul"); return;
                case "QLinearGlobalAveragePool" when microsoft: GlobalAveragePool(n); return;
                case "QLinearAveragePool" when microsoft: AveragePool(n); return;
                case "QLinearConcat" when microsoft: Concat(n); return;
                case "QLinearLeakyRelu" when microsoft: Unary(n, "LeakyRelu", Attr("alpha", GetFloat(n, "alpha", 0.01f))); return;
                case "QLinearSigmoid" when microsoft: Unary(n, "Sigmoid"); return;
            }
        }
        if (Dequantizer.IsQuantizedOp(n))
            throw new MlNetTransferException(
                $"Node '{Describe(n)}' uses the quantized operator {(microsoft ? "com.microsoft." : "")}{n.OpType}, which the dequantizer cannot turn into float operators " +
                "(it handles QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul and com.microsoft QGemm, QLinearAdd, QLinearMul, QLinearConcat, " +
                "QLinearGlobalAveragePool, QLinearAveragePool, QLinearLeakyRelu, QLinearSigmoid). Use the float version of the model instead.");
        var quantizedInput = n.Input.FirstOrDefault(_quantized.ContainsKey);
        if (quantizedInput is not null)
        {
            if (!standard)
                throw new MlNetTransferException($"Node '{Describe(n)}' ({n.Domain}.{n.OpType}) takes the quantized tensor '{quantizedInput}'; the dequantizer does not know what this operator computes on integers.");
            PassQuantized(n, quantizedInput);
            return;
        }
        Copy(n);
    }

    // ---- QuantizeLinear / DequantizeLinear ---------------------------------------------------------------------------

    private void Quantize(NodeProto n)
    {
        string x = n.Input[0], y = n.Output[0];
        var outputType = Find(n, "output_dtype") is { } dt ? (DataType)dt.I : DataType.Uint8;
        if (_constants.TryGetValue(x, out var value) && !_graphOutputs.Contains(y))
        {
            // A quantized constant (a weight stored in float and quantized in the graph): fold it, so the
            // DequantizeLinear after it yields a float initializer holding exactly the values the integer model used.
            var scale = Constant(n, 1, "y_scale");
            var zeroPoint = OptionalConstant(n, 2, "y_zero_point");
            var type = zeroPoint is null ? outputType : (DataType)zeroPoint.DataType;
            var scales = OnnxTensors.ToFloats(scale);
            _constants[y] = QuantizedTensors.Quantize(y, OnnxTensors.ToFloats(value), value.Dims.ToArray(), scales,
                zeroPoint is null ? new long[scales.Length] : OnnxTensors.ToInt64s(zeroPoint), type, GetInt(n, "axis", 1), GetInt(n, "block_size", 0));
            _synthetic.Add(y);
            _retired.Add(x);
            return;
        }
        var p = ActivationParams(n, 1, 2, outputType);
        var floatName = FloatName(y);
        EmitClip(Resolve(x), floatName, p, n, "");
        Track(y, floatName, p);
    }

    private void Dequantize(NodeProto n)
    {
        string x = n.Input[0], y = n.Output[0];
        if (_constants.ContainsKey(x))
        {
            var name = DequantizedConstant(n, 0, 1, 2, GetInt(n, "axis", 1), GetInt(n, "block_size", 0), y);
            if (name != y) Alias(y, name);
            return;
        }
        if (_quantized.TryGetValue(x, out var have))
        {
            var p = ActivationParams(n, 1, 2, have.Type);
            CheckSame(n, x, have, p);
            Alias(y, _valueOf[x]);
            return;
        }
        // An integer tensor the dequantizer did not produce (a graph input, say): plain float arithmetic.
        EmitDequantizeArithmetic(n, x, ActivationParams(n, 1, 2, ElementType(x) ?? DataType.Uint8), y);
    }

    // ---- QOperator ops -------------------------------------------------------------------------------------------------

    private void Conv(NodeProto n)
    {
        // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B
        var x = FloatOperand(n, 0, 1, 2, axis: 1);
        var w = FloatOperand(n, 3, 4, 5, axis: 0);
        var inputs = new List<string> { x, w };
        if (n.Input.Count > 8 && n.Input[8] != "")
        {
            var xScale = Scalar(n, 1, "x_scale");
            var wScales = OnnxTensors.ToFloats(Constant(n, 4, "w_scale"));
            inputs.Add(DequantizedBias(n, 8, wScales.Select(s => xScale * s).ToArray(), axisFromEnd: false));
        }
        var p = ActivationParams(n, 6, 7, TypeOfOperand(n, 0));
        if (_options.SimulateActivationQuantization && _onGrid.TryGetValue(x, out var xOnGrid) && _constants.ContainsKey(n.Input[3]))
        {
            var xScale = Scalar(n, 1, "x_scale");
            var wScales = OnnxTensors.ToFloats(Constant(n, 4, "w_scale"));
            var perChannel = Enumerable.Repeat(1L, _constants[n.Input[3]].Dims.Count).ToArray();
            perChannel[0] = wScales.Length;
            var integerInputs = new List<string> { xOnGrid, OnGrid(n, w, wScales, wScales.Length == 1 ? [] : perChannel, "_weight") };
            if (inputs.Count > 2) integerInputs.Add(OnGrid(n, inputs[2], wScales.Select(s => xScale * s).ToArray(), [wScales.Length], "_bias"));
            var outputShape = perChannel.Select((_, i) => i == 1 ? wScales.Length : 1L).ToArray();
            EmitIntegerOp(n, "Conv", integerInputs, n.Attribute.Select(a => a.Clone()), wScales.Select(s => xScale * s / p.Scale).ToArray(),
                wScales.Length == 1 ? [] : outputShape, n.Output[0], p);
            return;
        }
        EmitClipped(n, "Conv", inputs, n.Attribute.Select(a => a.Clone()), n.Output[0], p);
    }

    private void MatMul(NodeProto n)
    {
        // a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point; a per row, b per column
        var a = FloatOperand(n, 0, 1, 2, axis: -2);
        var b = FloatOperand(n, 3, 4, 5, axis: -1);
        var p = ActivationParams(n, 6, 7, TypeOfOperand(n, 0));
        if (_options.SimulateActivationQuantization && _onGrid.TryGetValue(a, out var aOnGrid) && _constants.ContainsKey(n.Input[3]))
        {
            var aScale = Scalar(n, 1, "a_scale");
            var bScales = OnnxTensors.ToFloats(Constant(n, 4, "b_scale"));
            long[] perColumn = bScales.Length == 1 ? [] : [bScales.Length];
            EmitIntegerOp(n, "MatMul", [aOnGrid, OnGrid(n, b, bScales, perColumn, "_weight")], [], bScales.Select(s => aScale * s / p.Scale).ToArray(),
                perColumn, n.Output[0], p);
            return;
        }
        EmitClipped(n, "MatMul", [a, b], [], n.Output[0], p);
    }

    private void Gemm(NodeProto n)
    {
        // A, a_scale, a_zero_point, B, b_scale, b_zero_point, C (int32, scale alpha·a_scale·b_scale), y_scale, y_zero_point
        var alpha = GetFloat(n, "alpha", 1f);
        var transA = GetInt(n, "transA", 0);
        var transB = GetInt(n, "transB", 0);
        var a = FloatOperand(n, 0, 1, 2, axis: transA != 0 ? 1 : 0);
        var b = FloatOperand(n, 3, 4, 5, axis: transB != 0 ? 0 : 1);
        var inputs = new List<string> { a, b };
        if (n.Input.Count > 6 && n.Input[6] != "")
        {
            var aScale = Scalar(n, 1, "a_scale");
            var bScales = OnnxTensors.ToFloats(Constant(n, 4, "b_scale"));
            inputs.Add(DequantizedBias(n, 6, bScales.Select(s => alpha * aScale * s).ToArray(), axisFromEnd: true));
        }
        var attributes = new[] { Attr("alpha", alpha), Attr("beta", 1f), Attr("transA", transA), Attr("transB", transB) };
        if (n.Input.Count > 7 && n.Input[7] != "")
        {
            EmitClipped(n, "Gemm", inputs, attributes, n.Output[0], ActivationParams(n, 7, 8, TypeOfOperand(n, 0)));
            return;
        }
        // Without y_scale, QGemm already produces float.
        var node = Node("Gemm", NodeName(n), inputs, [n.Output[0]], attributes);
        _nodes.Add(node);
    }

    private void Binary(NodeProto n, string opType)
    {
        // A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point
        var a = FloatOperand(n, 0, 1, 2, axis: 0);
        var b = FloatOperand(n, 3, 4, 5, axis: 0);
        EmitClipped(n, opType, [a, b], [], n.Output[0], ActivationParams(n, 6, 7, TypeOfOperand(n, 0)));
    }

    private void Unary(NodeProto n, string opType, params AttributeProto[] attributes)
    {
        // X, X_scale, X_zero_point, Y_scale, Y_zero_point
        var x = FloatOperand(n, 0, 1, 2, axis: 0);
        EmitClipped(n, opType, [x], attributes, n.Output[0], ActivationParams(n, 3, 4, TypeOfOperand(n, 0)));
    }

    private void GlobalAveragePool(NodeProto n)
    {
        var x = FloatOperand(n, 0, 1, 2, axis: 0);
        var p = ActivationParams(n, 3, 4, TypeOfOperand(n, 0));
        if (GetInt(n, "channels_last", 0) == 0)
        {
            EmitClipped(n, "GlobalAveragePool", [x], [], n.Output[0], p);
            return;
        }
        // NHWC: the mean over the spatial axes 1..rank-2, which needs the rank.
        var rank = Rank(n.Input[0]) ?? Rank(n.Output[0]) ?? throw new MlNetTransferException(
            $"Node '{Describe(n)}' (QLinearGlobalAveragePool, channels_last=1) needs the rank of its input '{n.Input[0]}', but the model has no shape for it. Run ONNX shape inference on the model first.");
        var axes = Enumerable.Range(1, rank - 2).Select(i => (long)i).ToArray();
        if (_opset >= 18)
            EmitClipped(n, "ReduceMean", [x, AddInitializer(OnnxTensors.FromInt64s(Unique(n.Output[0] + "_axes"), axes, axes.Length))], [Attr("keepdims", 1L)], n.Output[0], p);
        else
            EmitClipped(n, "ReduceMean", [x], [Attr("axes", axes), Attr("keepdims", 1L)], n.Output[0], p);
    }

    private void AveragePool(NodeProto n)
    {
        var x = FloatOperand(n, 0, 1, 2, axis: 0);
        var p = ActivationParams(n, 3, 4, TypeOfOperand(n, 0));
        var attributes = n.Attribute.Where(a => a.Name != "channels_last").Select(a => a.Clone()).ToList();
        if (GetInt(n, "channels_last", 0) == 0)
        {
            EmitClipped(n, "AveragePool", [x], attributes, n.Output[0], p);
            return;
        }
        // NHWC: AveragePool works on NCHW, so transpose around it (the rank follows from kernel_shape).
        var rank = GetInts(n, "kernel_shape", []).Length + 2;
        var toFirst = new long[rank];
        toFirst[0] = 0; toFirst[1] = rank - 1;
        for (var i = 2; i < rank; i++) toFirst[i] = i - 1;
        var toLast = new long[rank];
        toLast[0] = 0; toLast[rank - 1] = 1;
        for (var i = 1; i < rank - 1; i++) toLast[i] = i + 1;
        var nchw = Unique(x + "_nchw");
        _nodes.Add(Node("Transpose", NodeName(n, "_to_nchw"), [x], [nchw], Attr("perm", toFirst)));
        var pooled = Unique(n.Output[0] + "_nchw");
        _nodes.Add(Node("AveragePool", NodeName(n), [nchw], [pooled], attributes.ToArray()));
        EmitClipped(n, "Transpose", [pooled], [Attr("perm", toLast)], n.Output[0], p, "_to_nhwc");
    }

    private void Concat(NodeProto n)
    {
        // Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input
        if (n.Input.Count < 5 || (n.Input.Count - 2) % 3 != 0)
            throw new MlNetTransferException($"Node '{Describe(n)}' (QLinearConcat) has {n.Input.Count} inputs; expected Y_scale, Y_zero_point and then (X, X_scale, X_zero_point) triples.");
        var inputs = new List<string>();
        for (var i = 2; i < n.Input.Count; i += 3) inputs.Add(FloatOperand(n, i, i + 1, i + 2, axis: 0));
        var p = ActivationParams(n, 0, 1, TypeOfOperand(n, 2));
        EmitClipped(n, "Concat", inputs, [Attr("axis", GetInt(n, "axis", 0))], n.Output[0], p);
    }

    // ---- standard ops running on quantized tensors ----------------------------------------------------------------------

    private void PassQuantized(NodeProto n, string quantizedInput)
    {
        var p = _quantized[quantizedInput];
        switch (n.OpType)
        {
            case "Relu":
                ReluOnQuantized(n, p);
                return;
            case "Clip" when _opset >= 11:
                var bounds = new List<string> { _valueOf[n.Input[0]] };
                for (var i = 1; i < n.Input.Count; i++) bounds.Add(n.Input[i] == "" ? "" : DataOperand(n, i, p));
                var clipped = FloatName(n.Output[0]);
                _nodes.Add(Node("Clip", NodeName(n), bounds, [clipped]));
                Track(n.Output[0], clipped, p);
                return;
        }
        if (!PassThroughOps.TryGetValue(n.OpType, out var spec))
            throw new MlNetTransferException(
                $"Node '{Describe(n)}' ({n.OpType}) computes directly on the quantized tensor '{quantizedInput}'; that integer arithmetic has no float equivalent the dequantizer knows.");
        var dataInputs = spec.DataInputs ?? Enumerable.Range(0, n.Input.Count).ToArray();
        foreach (var i in dataInputs.Where(i => i < n.Input.Count && _quantized.ContainsKey(n.Input[i])))
            CheckSame(n, n.Input[i], p, _quantized[n.Input[i]]);
        var nonData = Enumerable.Range(0, n.Input.Count).Where(i => !dataInputs.Contains(i)).FirstOrDefault(i => _quantized.ContainsKey(n.Input[i]), -1);
        if (nonData >= 0)
            throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}) takes the quantized tensor '{n.Input[nonData]}' as input {nonData}, which is not a data input.");

        var node = n.Clone();
        node.Input.Clear();
        for (var i = 0; i < n.Input.Count; i++)
            node.Input.Add(dataInputs.Contains(i) && n.Input[i] != "" ? DataOperand(n, i, p) : Resolve(n.Input[i]));
        if (n.OpType == "Pad") PadValueToFloat(node, p);
        RenameOuterReferences(node);
        var quantizedOutputs = spec.QuantizedOutputs ?? Enumerable.Range(0, n.Output.Count).ToArray();
        for (var i = 0; i < n.Output.Count; i++)
        {
            if (!quantizedOutputs.Contains(i) || n.Output[i] == "") continue;
            var floatName = FloatName(n.Output[i]);
            node.Output[i] = floatName;
            Track(n.Output[i], floatName, p);
        }
        node.Name = NodeName(n);
        _nodes.Add(node);
    }

    private void ReluOnQuantized(NodeProto n, QuantParams p)
    {
        // Relu on integers keeps q ≥ 0, i.e. x ≥ (0 − zp)·s in float.
        var x = _valueOf[n.Input[0]];
        var floor = p.Dequantize(0);
        if (floor <= p.Lo)
        {
            Alias(n.Output[0], x);
            _quantized[n.Output[0]] = p;
            return;
        }
        var y = FloatName(n.Output[0]);
        _nodes.Add(p.ZeroPoint == 0
            ? Node("Relu", NodeName(n), [x], [y])
            : Node("Max", NodeName(n), [x, ScalarConstant(floor, p.FloatType)], [y]));
        Track(n.Output[0], y, p);
    }

    private void PadValueToFloat(NodeProto node, QuantParams p)
    {
        if (GetString(node, "mode", "constant") != "constant") return;
        if (_opset < 11)
        {
            var value = p.Dequantize((long)GetFloat(node, "value", 0f));
            var attribute = Find(node, "value");
            if (attribute is null) node.Attribute.Add(Attr("value", value));
            else attribute.F = value;
            return;
        }
        // Padding with the integer 0 means padding with (0 − zp)·s.
        while (node.Input.Count < 3) node.Input.Add("");
        if (node.Input[2] == "") node.Input[2] = ScalarConstant(p.Dequantize(0), p.FloatType);
    }

    /// <summary>A data input of a pass-through op as float: the tracked float tensor, or a constant / foreign integer tensor dequantized with the op's parameters.</summary>
    private string DataOperand(NodeProto n, int index, QuantParams p)
    {
        var name = n.Input[index];
        if (_quantized.ContainsKey(name)) return _valueOf[name];
        if (_constants.TryGetValue(name, out var c))
        {
            if (!QuantizedTensors.IsQuantizedType((DataType)c.DataType) || (DataType)c.DataType != p.Type) return Resolve(name);
            var key = $"pass|{name}|{p}";
            if (_cache.TryGetValue(key, out var cached)) return cached;
            var values = OnnxTensors.ToInt64s(c).Select(p.Dequantize).ToArray();
            _retired.Add(name);
            return _cache[key] = AddInitializer(QuantizedTensors.FromFloats(Unique(StripQuantized(name) + "_dequantized"), p.FloatType, values, c.Dims.ToArray()));
        }
        return ElementType(name) is { } t && t == p.Type ? EmitDequantizeArithmetic(n, name, p, null) : Resolve(name);
    }

    // ---- operands, constants and parameters ------------------------------------------------------------------------------

    /// <summary>
    /// Input <paramref name="data"/> of a quantized op as a float tensor name: a constant is dequantized into a float initializer
    /// (along <paramref name="axis"/> when its scale has several values; negative counts from the end), a tracked activation is
    /// its float tensor, anything else is dequantized with float arithmetic.
    /// </summary>
    private string FloatOperand(NodeProto n, int data, int scale, int zeroPoint, int axis)
    {
        var name = n.Input[data];
        if (_constants.ContainsKey(name))
        {
            var rank = _constants[name].Dims.Count;
            return DequantizedConstant(n, data, scale, zeroPoint, axis < 0 ? Math.Max(0, rank + axis) : axis, 0, null);
        }
        if (_quantized.TryGetValue(name, out var have))
        {
            CheckSame(n, name, have, ActivationParams(n, scale, zeroPoint, have.Type));
            return _valueOf[name];
        }
        return EmitDequantizeArithmetic(n, name, ActivationParams(n, scale, zeroPoint, ElementType(name) ?? DataType.Uint8), null);
    }

    private string DequantizedConstant(NodeProto n, int data, int scale, int zeroPoint, long axis, long blockSize, string? preferredName)
    {
        var name = n.Input[data];
        var zpName = zeroPoint < n.Input.Count ? n.Input[zeroPoint] : "";
        var key = $"const|{name}|{n.Input[scale]}|{zpName}|{axis}|{blockSize}";
        if (_cache.TryGetValue(key, out var cached)) return cached;
        var q = _constants[name];
        var scaleTensor = Constant(n, scale, "scale");
        var zpTensor = OptionalConstant(n, zeroPoint, "zero point");
        float[] values;
        try { values = QuantizedTensors.Dequantize(q, scaleTensor, zpTensor, axis, blockSize); }
        catch (MlNetTransferException e) { throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}): {e.Message}", e); }
        _retired.Add(name);
        var floatName = preferredName ?? FreeName(StripQuantized(name), name + "_dequantized");
        _names.Add(floatName);
        return _cache[key] = AddInitializer(QuantizedTensors.FromFloats(floatName, ScaleType(scaleTensor), values, q.Dims.ToArray()));
    }

    /// <summary>An int32 bias accumulated with the product of input and weight scales: b · scales[channel].</summary>
    private string DequantizedBias(NodeProto n, int index, float[] scales, bool axisFromEnd)
    {
        var name = n.Input[index];
        var key = $"bias|{name}|{string.Join(",", scales.Select(s => BitConverter.SingleToInt32Bits(s)))}";
        if (_cache.TryGetValue(key, out var cached)) return cached;
        var b = Constant(n, index, "bias");
        if ((DataType)b.DataType != DataType.Int32)
            throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}): bias '{name}' is {(DataType)b.DataType}; a quantized bias must be int32.");
        var values = OnnxTensors.ToInt64s(b);
        var dims = b.Dims.ToArray();
        if (scales.Length > 1 && (dims.Length == 0 || dims[^1] == 1) && axisFromEnd)
        {
            // A broadcast bias meets per-column weight scales: spell it out per column.
            values = Enumerable.Range(0, scales.Length).Select(i => values[0]).ToArray();
            dims = dims.Length == 0 ? [scales.Length] : [.. dims[..^1], scales.Length];
        }
        var channels = axisFromEnd ? dims[^1] : dims[0];
        if (scales.Length != 1 && scales.Length != channels)
            throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}): bias '{name}' has {channels} channels but the weight has {scales.Length} scales.");
        var inner = axisFromEnd ? 1 : values.Length / Math.Max(1, channels);
        var result = new float[values.Length];
        for (var i = 0; i < values.Length; i++)
            result[i] = (float)values[i] * scales[scales.Length == 1 ? 0 : (int)(i / inner % channels)];
        _retired.Add(name);
        var floatName = FreeName(StripQuantized(name), name + "_dequantized");
        _names.Add(floatName);
        return _cache[key] = AddInitializer(OnnxTensors.FromFloats(floatName, result, dims));
    }

    private QuantParams ActivationParams(NodeProto n, int scale, int zeroPoint, DataType typeWithoutZeroPoint)
    {
        var scaleTensor = Constant(n, scale, "scale");
        var scales = OnnxTensors.ToFloats(scaleTensor);
        if (scales.Length != 1)
            throw new MlNetTransferException(
                $"Node '{Describe(n)}' ({n.OpType}) quantizes a tensor that is not constant with {scales.Length} scales ('{n.Input[scale]}'); only constant weights may be quantized per channel.");
        var zpTensor = OptionalConstant(n, zeroPoint, "zero point");
        var type = zpTensor is null ? typeWithoutZeroPoint : (DataType)zpTensor.DataType;
        if (!QuantizedTensors.IsQuantizedType(type))
            throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}) quantizes to {type}; only int8, uint8, int16 and uint16 activations are supported.");
        var zp = zpTensor is null ? 0 : OnnxTensors.ToInt64s(zpTensor) is [var single] ? single
            : throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}): zero point '{n.Input[zeroPoint]}' of a tensor that is not constant must be a single value.");
        if (!(scales[0] > 0) || float.IsInfinity(scales[0]))
            throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}): scale '{n.Input[scale]}' is {scales[0]}; a quantization scale must be positive.");
        return new QuantParams(scales[0], zp, type, ScaleType(scaleTensor));
    }

    private float Scalar(NodeProto n, int index, string role) => OnnxTensors.ToFloats(Constant(n, index, role)) is [var v] ? v
        : throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}): {role} '{n.Input[index]}' must be a single value.");

    private TensorProto Constant(NodeProto n, int index, string role) =>
        OptionalConstant(n, index, role) ?? throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}) has no {role} (input {index}).");

    private TensorProto? OptionalConstant(NodeProto n, int index, string role)
    {
        if (index >= n.Input.Count || n.Input[index] == "") return null;
        var name = n.Input[index];
        if (!_constants.TryGetValue(name, out var t))
            throw new MlNetTransferException($"Node '{Describe(n)}' ({n.OpType}): its {role} '{name}' is computed at run time; the dequantizer needs quantization parameters that are constants.");
        _retired.Add(name);
        return t;
    }

    private DataType TypeOfOperand(NodeProto n, int index)
    {
        var name = n.Input[index];
        if (_quantized.TryGetValue(name, out var p)) return p.Type;
        if (_constants.TryGetValue(name, out var c)) return (DataType)c.DataType;
        return ElementType(name) ?? DataType.Uint8;
    }

    private static DataType ScaleType(TensorProto scale) => (DataType)scale.DataType is DataType.Float16 ? DataType.Float16 : DataType.Float;

    private void CheckSame(NodeProto n, string tensor, QuantParams have, QuantParams wanted)
    {
        if (!have.SameAs(wanted))
            throw new MlNetTransferException(
                $"Node '{Describe(n)}' ({n.OpType}) reads '{tensor}' with {wanted}, but it was quantized with {have}; reinterpreting integers under other parameters is not supported.");
    }

    // ---- emitting ------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Simulated activation quantization of a Conv / MatMul, computed the way the integer kernels do: on integer-valued float
    /// tensors (q − zero point; exact while partial sums stay below 2^24), then requantized with the per-channel multiplier
    /// x_scale · w_scale / y_scale, rounded half to even and saturated. Computing it on dequantized floats instead makes
    /// accumulation rounding flip values that sit on a rounding boundary, and those flips cascade through the network.
    /// </summary>
    private void EmitIntegerOp(NodeProto n, string opType, List<string> inputs, IEnumerable<AttributeProto> attributes, float[] multipliers,
        long[] multiplierDims, string quantizedOutput, QuantParams p)
    {
        var floatName = FloatName(quantizedOutput);
        var accumulated = Unique(floatName + "_accumulated");
        _nodes.Add(Node(opType, NodeName(n), inputs, [accumulated], attributes.ToArray()));
        var multiplier = AddInitializer(QuantizedTensors.FromFloats(Unique(floatName + "_multiplier"), p.FloatType, multipliers, multiplierDims));
        var scaled = Unique(floatName + "_requantized");
        // Multiplier first: ONNX Runtime's ConvMulFusion folds a Mul whose second input is constant into the Conv's weights,
        // which would make them non-integers again.
        _nodes.Add(Node("Mul", NodeName(n, "_requantize"), [multiplier, accumulated], [scaled]));
        EmitGrid(scaled, floatName, p, n);
        Track(quantizedOutput, floatName, p);
    }

    /// <summary>A float constant (dequantized weight or bias) back on its integer grid: Round(value / scale), folded by ONNX
    /// Runtime at load time, so the file keeps the float values fine-tuning and other tools read.</summary>
    private string OnGrid(NodeProto n, string floatConstant, float[] scales, long[] scaleDims, string role)
    {
        var key = $"grid|{floatConstant}|{string.Join(",", scales.Select(BitConverter.SingleToInt32Bits))}";
        if (_cache.TryGetValue(key, out var cached)) return cached;
        var scale = AddInitializer(OnnxTensors.FromFloats(Unique(floatConstant + "_grid_scale"), scales, scaleDims));
        var divided = Unique(floatConstant + "_over_scale");
        var onGrid = Unique(floatConstant + "_on_grid");
        _nodes.Add(Node("Div", NodeName(n, role + "_to_grid"), [floatConstant, scale], [divided]));
        _nodes.Add(Node("Round", NodeName(n, role + "_round"), [divided], [onGrid]));
        return _cache[key] = onGrid;
    }

    /// <summary>The float op, then a Clip to what the quantized output can represent.</summary>
    private void EmitClipped(NodeProto n, string opType, IEnumerable<string> inputs, IEnumerable<AttributeProto> attributes, string quantizedOutput,
        QuantParams p, string nameSuffix = "")
    {
        var floatName = FloatName(quantizedOutput);
        var raw = Unique(floatName + "_unclipped");
        _nodes.Add(Node(opType, NodeName(n, nameSuffix), inputs, [raw], attributes.ToArray()));
        EmitClip(raw, floatName, p, n, "_clip");
        Track(quantizedOutput, floatName, p);
    }

    /// <summary>Where the integer model quantized an activation: a Clip to its range, or (simulating activation
    /// quantization) the rounding and saturation themselves.</summary>
    private void EmitClip(string input, string output, QuantParams p, NodeProto n, string suffix)
    {
        if (_options.SimulateActivationQuantization)
        {
            EmitFakeQuantize(input, output, p, n, suffix);
            return;
        }
        var nodeName = NodeName(n, suffix);
        _nodes.Add(_opset >= 11
            ? Node("Clip", nodeName, [input, ScalarConstant(p.Lo, p.FloatType), ScalarConstant(p.Hi, p.FloatType)], [output])
            : Node("Clip", nodeName, [input], [output], Attr("min", p.Lo), Attr("max", p.Hi)));
    }

    /// <summary>
    /// The integer model's re-quantization of an activation, in float: Clip(Round(x / s), qmin − zp, qmax − zp) · s, which is
    /// DequantizeLinear(QuantizeLinear(x, s, zp), s, zp) by the ONNX definition (divide, round half to even, add the zero
    /// point, saturate). Written out rather than as a QuantizeLinear → DequantizeLinear pair because ONNX Runtime (≥ 1.20,
    /// WeightBiasQuantization) re-quantizes the float weights of any Conv/Gemm fed by a per-tensor DequantizeLinear to
    /// symmetric per-tensor int8, which loses the per-channel weights (on the zoo MobileNetV2 the first conv's outputs then
    /// differ from the int8 model's by up to 2 steps on 22% of values); plain arithmetic is left alone.
    /// </summary>
    private void EmitFakeQuantize(string input, string output, QuantParams p, NodeProto n, string suffix)
    {
        var divided = Unique(output + "_over_scale");
        _nodes.Add(Node("Div", NodeName(n, suffix == "" ? "" : "_quantize"), [input, ScalarConstant(p.Scale, p.FloatType)], [divided]));
        EmitGrid(divided, output, p, n);
    }

    /// <summary>Round half to even, saturate to the integer range (shifted by the zero point), scale back to float; the
    /// integer-valued tensor is remembered for integer-valued Conv / MatMul downstream.</summary>
    private void EmitGrid(string unrounded, string output, QuantParams p, NodeProto n)
    {
        if (_opset < 11)
            throw new MlNetTransferException(
                $"Simulating the quantization of '{output}' (node '{Describe(n)}') needs ONNX opset 11 or later (Round); the model imports opset {_opset}. " +
                "Dequantize without simulating activation quantization instead.");
        var (min, max) = QuantizedTensors.Range(p.Type);
        var rounded = Unique(output + "_rounded");
        var saturated = Unique(output + "_on_grid");
        _nodes.Add(Node("Round", NodeName(n, "_round"), [unrounded], [rounded]));
        _nodes.Add(Node("Clip", NodeName(n, "_saturate"),
            [rounded, ScalarConstant(min - p.ZeroPoint, p.FloatType), ScalarConstant(max - p.ZeroPoint, p.FloatType)], [saturated]));
        _nodes.Add(Node("Mul", NodeName(n, "_dequantize"), [saturated, ScalarConstant(p.Scale, p.FloatType)], [output]));
        _onGrid[output] = saturated;
    }

    /// <summary>(Cast(x) − zp) · s for an integer tensor the rewrite does not track.</summary>
    private string EmitDequantizeArithmetic(NodeProto n, string quantized, QuantParams p, string? output)
    {
        var key = $"arith|{quantized}|{p}";
        if (output is null && _cache.TryGetValue(key, out var cached)) return cached;
        var result = output ?? Unique(StripQuantized(quantized) + "_dequantized");
        _names.Add(result);
        var cast = Unique(quantized + "_as_float");
        _nodes.Add(Node("Cast", NodeName(n, "_cast"), [Resolve(quantized)], [cast], Attr("to", (long)p.FloatType)));
        var shifted = cast;
        if (p.ZeroPoint != 0)
        {
            shifted = Unique(quantized + "_shifted");
            _nodes.Add(Node("Sub", NodeName(n, "_sub_zero_point"), [cast, ScalarConstant(p.ZeroPoint, p.FloatType)], [shifted]));
        }
        _nodes.Add(Node("Mul", NodeName(n, "_scale"), [shifted, ScalarConstant(p.Scale, p.FloatType)], [result]));
        return _cache[key] = result;
    }

    private string ScalarConstant(float value, DataType type)
    {
        var key = $"scalar|{type}|{BitConverter.SingleToInt32Bits(value)}";
        if (_cache.TryGetValue(key, out var cached)) return cached;
        return _cache[key] = AddInitializer(QuantizedTensors.FromFloats(Unique("dequantize_constant"), type, [value]));
    }

    private string AddInitializer(TensorProto t)
    {
        _names.Add(t.Name);
        _newInitializers.Add(t);
        return t.Name;
    }

    private void Copy(NodeProto n)
    {
        var node = n.Clone();
        _nodeNames.Add(node.Name);
        for (var i = 0; i < node.Input.Count; i++) node.Input[i] = Resolve(node.Input[i]);
        RenameOuterReferences(node);
        _nodes.Add(node);
    }

    /// <summary>Subgraphs (If/Loop/Scan bodies) may read outer tensors by name: follow renames, refuse quantized ones.</summary>
    private void RenameOuterReferences(NodeProto node)
    {
        foreach (var a in node.Attribute)
        {
            if (a.G is not null) RenameIn(a.G, node);
            foreach (var g in a.Graphs) RenameIn(g, node);
        }
    }

    private void RenameIn(GraphProto g, NodeProto owner)
    {
        var local = g.Input.Select(v => v.Name).Concat(g.Initializer.Select(t => t.Name)).Concat(g.Node.SelectMany(n => n.Output)).ToHashSet();
        foreach (var n in g.Node)
        {
            if (Dequantizer.IsQuantizedOp(n))
                throw new MlNetTransferException($"Node '{Describe(owner)}' ({owner.OpType}) has the quantized operator {n.OpType} ('{n.Name}') inside its subgraph; quantized subgraphs are not supported.");
            for (var i = 0; i < n.Input.Count; i++)
            {
                var name = n.Input[i];
                if (name == "" || local.Contains(name)) continue;
                if (_quantized.ContainsKey(name))
                    throw new MlNetTransferException($"Node '{Describe(owner)}' ({owner.OpType}) reads the quantized tensor '{name}' inside its subgraph; that is not supported.");
                n.Input[i] = Resolve(name);
            }
            foreach (var a in n.Attribute)
            {
                if (a.G is not null) RenameIn(a.G, owner);
                foreach (var sub in a.Graphs) RenameIn(sub, owner);
            }
        }
    }

    // ---- names ---------------------------------------------------------------------------------------------------------

    private void Track(string quantized, string floatName, QuantParams p)
    {
        _valueOf[quantized] = floatName;
        _quantized[quantized] = p;
    }

    private void Alias(string name, string target)
    {
        _valueOf[name] = target;
        _aliases.Add(name);
    }

    private string Resolve(string name) => name != "" && _valueOf.TryGetValue(name, out var v) ? v : name;

    /// <summary>The float tensor standing for a quantized one: a graph output keeps its name; otherwise its DequantizeLinear's output name, or the name without "_quantized".</summary>
    private string FloatName(string quantized)
    {
        if (_valueOf.TryGetValue(quantized, out var existing)) return existing;
        string name;
        if (_graphOutputs.Contains(quantized)) name = quantized;
        else if (_preferredFloatName.TryGetValue(quantized, out var preferred)) name = preferred;
        else name = FreeName(StripQuantized(quantized), quantized + "_float");
        _names.Add(name);
        _valueOf[quantized] = name;
        return name;
    }

    private string FreeName(string wanted, string fallback) => wanted != "" && !_names.Contains(wanted) ? wanted : Unique(fallback);

    private static string StripQuantized(string name) =>
        name.EndsWith(QuantizedSuffix, StringComparison.Ordinal) ? name[..^QuantizedSuffix.Length] : name;

    private string Unique(string wanted)
    {
        var name = wanted;
        for (var i = 1; _names.Contains(name); i++) name = $"{wanted}_{i}";
        _names.Add(name);
        return name;
    }

    private string NodeName(NodeProto original, string suffix = "")
    {
        var baseName = original.Name != "" ? original.Name : original.Output.FirstOrDefault(o => o != "") ?? original.OpType;
        if (baseName.EndsWith("_quant", StringComparison.Ordinal)) baseName = baseName[..^"_quant".Length];
        var wanted = baseName + suffix;
        var name = wanted;
        for (var i = 1; !_nodeNames.Add(name); i++) name = $"{wanted}_{i}";
        return name;
    }

    private static string Describe(NodeProto n) => n.Name != "" ? n.Name : $"{n.OpType} producing {string.Join(", ", n.Output)}";

    private DataType? ElementType(string name) =>
        _valueInfo.TryGetValue(name, out var v) && v.Type?.TensorType is { } t && t.ElemType != 0 ? (DataType)t.ElemType : null;

    private int? Rank(string name) => _valueInfo.TryGetValue(name, out var v) && Dims(v) is { } d ? d.Length : null;

    private static TensorProto? ConstantValue(NodeProto n)
    {
        if (Find(n, "value") is { T: { } t }) return t;
        if (Find(n, "value_float") is { } f) return OnnxTensors.FromFloats(n.Output[0], [f.F]);
        if (Find(n, "value_floats") is { } fs) return OnnxTensors.FromFloats(n.Output[0], fs.Floats.ToArray(), fs.Floats.Count);
        if (Find(n, "value_int") is { } i) return OnnxTensors.FromInt64s(n.Output[0], [i.I]);
        if (Find(n, "value_ints") is { } ints) return OnnxTensors.FromInt64s(n.Output[0], ints.Ints.ToArray(), ints.Ints.Count);
        return null;
    }

    // ---- the new model ---------------------------------------------------------------------------------------------------

    private ModelProto Assemble()
    {
        var model = _source.Clone();
        var g = model.Graph;

        // Graph outputs: a quantized output is now float under the same name; an aliased one gets an Identity.
        foreach (var output in g.Output)
        {
            if (_quantized.TryGetValue(output.Name, out var p))
            {
                if (output.Type?.TensorType is { } tensorType) tensorType.ElemType = (int)p.FloatType;
                if (_valueOf[output.Name] != output.Name)
                    _nodes.Add(Node("Identity", Unique(output.Name + "_identity"), [_valueOf[output.Name]], [output.Name]));
            }
            else if (_valueOf.TryGetValue(output.Name, out var target) && target != output.Name)
            {
                _nodes.Add(Node("Identity", Unique(output.Name + "_identity"), [target], [output.Name]));
            }
        }

        // Simulated quantization leaves float copies of on-grid tensors that only integer-valued ops read: drop what no output needs.
        if (_options.SimulateActivationQuantization)
        {
            var needed = new HashSet<string>(g.Output.Select(o => o.Name));
            var live = new List<NodeProto>();
            for (var i = _nodes.Count - 1; i >= 0; i--)
            {
                if (!_nodes[i].Output.Any(needed.Contains)) continue;
                live.Add(_nodes[i]);
                CollectReferences(_nodes[i], needed);
            }
            live.Reverse();
            _nodes.Clear();
            _nodes.AddRange(live);
        }

        var referenced = new HashSet<string>(g.Output.Select(o => o.Name));
        foreach (var n in _nodes) CollectReferences(n, referenced);

        // Constants folded from QuantizeLinear that an untouched op still reads must exist as initializers.
        foreach (var name in _synthetic.Where(referenced.Contains)) _newInitializers.Add(_constants[name]);

        bool Dropped(string name) => _retired.Contains(name) && !referenced.Contains(name);
        var keptInitializers = g.Initializer.Where(t => !Dropped(t.Name)).ToList();
        var keptNodes = _nodes.Where(n => !(n.OpType == "Constant" && n.Output.All(Dropped))).ToList();
        var produced = keptNodes.SelectMany(n => n.Output).ToHashSet();
        var keptValueInfo = g.ValueInfo.Where(v => produced.Contains(v.Name) && !_quantized.ContainsKey(v.Name) && !_aliases.Contains(v.Name)).ToList();
        var keptInputs = g.Input.Where(v => !Dropped(v.Name)).ToList();

        g.Node.Clear();
        g.Node.AddRange(keptNodes);
        g.Initializer.Clear();
        g.Initializer.AddRange(keptInitializers);
        g.Initializer.AddRange(_newInitializers.Where(t => !_options.SimulateActivationQuantization || referenced.Contains(t.Name)));
        g.ValueInfo.Clear();
        g.ValueInfo.AddRange(keptValueInfo);
        g.Input.Clear();
        g.Input.AddRange(keptInputs);
        g.QuantizationAnnotation.Clear();

        // Drop opset imports (com.microsoft above all) that no node needs any more.
        var domains = Dequantizer.AllNodes(g).Select(n => n.Domain)
            .Concat(model.Functions.SelectMany(f => f.Node.Select(n => n.Domain).Append(f.Domain)))
            .ToHashSet();
        var unused = model.OpsetImport.Where(o => o.Domain is not ("" or "ai.onnx") && !domains.Contains(o.Domain)).ToList();
        foreach (var o in unused) model.OpsetImport.Remove(o);
        return model;
    }

    private static void CollectReferences(NodeProto n, HashSet<string> into)
    {
        into.UnionWith(n.Input.Where(i => i != ""));
        foreach (var a in n.Attribute)
        {
            if (a.G is not null) foreach (var inner in a.G.Node) CollectReferences(inner, into);
            foreach (var g in a.Graphs) foreach (var inner in g.Node) CollectReferences(inner, into);
        }
    }
}
