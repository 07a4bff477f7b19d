using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// A trainable TorchSharp module built from a float ONNX graph: float weights become parameters, other initializers
/// (shape constants, batch-norm running statistics) buffers; constant subgraphs are folded once; the remaining nodes run
/// in topological order on every forward. Optionally the graph is cut at an embedding tensor and a new linear head added.
/// <see cref="ToOnnx"/> writes the trained weights back into the same graph, so prediction runs through ONNX Runtime.
/// </summary>
public sealed partial class OnnxTorchModule : nn.Module<Tensor, Tensor>
{
    private sealed record Step(NodeProto Node, string[] Inputs, string[] Outputs, OnnxKernel Kernel, string[] Release);

    private const string HeadModuleName = "head";

    private readonly ModelProto _source;
    private readonly string _headName;
    private readonly long[]? _probeInputShape;
    private readonly List<NodeProto> _neededNodes;          // topological order, folded ones included (for ToOnnx)
    private readonly List<Step> _steps = [];                 // what forward runs
    private readonly List<string> _folded = [];
    private readonly Dictionary<string, string> _stateSlots = new(StringComparer.Ordinal); // ONNX value → registered name
    private readonly HashSet<string> _parameterValues = new(StringComparer.Ordinal);
    private readonly HashSet<string> _runningStatistics = new(StringComparer.Ordinal);
    private readonly HashSet<string> _targets;
    private readonly List<OnnxParameterGroup> _groups = [];
    private readonly Dictionary<NodeProto, OnnxParameterGroup> _groupOfNode = new(ReferenceEqualityComparer.Instance);
    private readonly Linear? _head;
    private readonly HashSet<string> _constantNodes;

    private OnnxTorchModule(ModelProto model, OnnxTorchModuleOptions options) : base(nameof(OnnxTorchModule))
    {
        _source = model;
        _headName = options.HeadName;
        _probeInputShape = options.ProbeInputShape?.ToArray();
        _constantNodes = new HashSet<string>(options.ConstantNodes ?? new HashSet<string>(), StringComparer.Ordinal);
        Device = TorchDevices.Resolve(options.Device);
        ChannelsLast = options.ChannelsLast;
        var graph = model.Graph ?? throw new MlNetTransferException("ONNX model: it has no graph.");
        if (graph.SparseInitializer.Count > 0) throw new MlNetTransferException("ONNX model: sparse initializers are not supported.");

        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer)
            if (!initializers.TryAdd(t.Name, t)) throw new MlNetTransferException($"ONNX model: initializer '{t.Name}' is defined twice.");

        InputNames = graph.Input.Where(v => !initializers.ContainsKey(v.Name)).Select(v => v.Name).ToArray();

        HasHead = options.EmbeddingTensor is not null;
        if (HasHead)
        {
            EmbeddingTensor = options.EmbeddingTensor;
            if (options.NumClasses < 1) throw new MlNetTransferException($"NumClasses must be at least 1 for a new head on '{EmbeddingTensor}', not {options.NumClasses}.");
            if (string.IsNullOrWhiteSpace(options.HeadName) || string.IsNullOrWhiteSpace(options.HeadOutputName))
                throw new MlNetTransferException("HeadName and HeadOutputName must not be empty.");
            _targets = [EmbeddingTensor!];
            OutputNames = [options.HeadOutputName];
        }
        else
        {
            _targets = graph.Output.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
            OutputNames = graph.Output.Select(v => v.Name).ToArray();
        }

        var ordered = TopologicalOrder(graph, initializers);
        _neededNodes = NeededNodes(ordered, initializers);
        // Unsupported ops are named first: a graph of another domain's ops (training, ML) may import no default opset at all.
        foreach (var node in _neededNodes) OnnxTorchOps.EnsureSupported(node, opset: null);
        Opset = (int)OnnxGraphEditing.DefaultOpset(model);
        foreach (var v in graph.Input.Where(v => InputNames.Contains(v.Name))) RequireTensorType(v, "input");
        if (!HasHead) foreach (var v in graph.Output) RequireTensorType(v, "output");

        RegisterState(initializers);
        CompileAndFold();
        BuildParameterGroups();
        if (HasHead)
        {
            CheckHeadNamesAreFree();
            var width = ProbeEmbeddingWidth(graph);
            _head = nn.Linear(width, options.NumClasses, hasBias: true, device: Device);
            InitialiseHead(_head, width, options.Seed);
            register_module(HeadModuleName, _head);
            var group = new OnnxParameterGroup(this, _groups.Count, HeadGemmName, "Gemm", [HeadWeightName, HeadBiasName], isHead: true);
            _groups.Add(group);
        }
    }

    /// <summary>Builds the module from an ONNX file. The graph must be a float graph: quantized or unsupported ops fail with the
    /// op and node named.</summary>
    public static OnnxTorchModule FromOnnx(string onnxPath, OnnxTorchModuleOptions? options = null) =>
        FromOnnx(OnnxModelFile.Load(onnxPath), options);

    /// <summary>Builds the module. The graph must be a float graph: quantized or unsupported ops fail with the op and node named.</summary>
    internal static OnnxTorchModule FromOnnx(ModelProto model, OnnxTorchModuleOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        // A private copy: ToOnnx writes back into the graph as it was given, whatever the caller does with theirs later.
        return new OnnxTorchModule(model.Clone(), options ?? new OnnxTorchModuleOptions());
    }

    public Device Device { get; }

    /// <summary>Whether 4-d weights and activations are kept in channels-last memory order (<see cref="OnnxTorchModuleOptions.ChannelsLast"/>).</summary>
    public bool ChannelsLast { get; }

    /// <summary>A graph input on the module's device, and in its memory order. TorchSharp has no memory_format argument:
    /// permuting to NHWC, making that contiguous and permuting back gives NCHW shapes over NHWC strides, which libtorch's
    /// convolutions keep through the whole network.</summary>
    internal Tensor Prepare(Tensor t)
    {
        var placed = t.device == Device ? t : t.to(Device);
        if (!ChannelsLast || placed.dim() != 4 || !placed.is_floating_point()) return placed;
        using var nhwc = placed.permute(0, 2, 3, 1);
        return nhwc.contiguous().permute(0, 3, 1, 2);
    }

    /// <summary>The default-domain opset the graph was written for (operator semantics follow it).</summary>
    public int Opset { get; }

    public IReadOnlyList<string> InputNames { get; }

    /// <summary>The module's outputs: the new head's output, or the graph's own outputs.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    public bool HasHead { get; }

    /// <summary>The tensor the graph is cut at when a head was added.</summary>
    public string? EmbeddingTensor { get; }

    /// <summary>When this module's graph is the dequantized float twin of an int8 backbone: that int8 featurizer (same input,
    /// pretrained weights), so a frozen prefix can run as int8 (<see cref="FrozenPrefixEngine.OnnxRuntimeInt8"/>).</summary>
    internal ModelProto? QuantizedFeaturizer { get; set; }

    /// <summary>Why channels-last order was asked for and the module keeps NCHW order (<see cref="ChannelsLastCheck"/>); null when it was not.</summary>
    internal string? ChannelsLastFallback { get; set; }

    /// <summary>Names of the nodes computed once at build time (constant subgraphs such as shape arithmetic on weights).</summary>
    public IReadOnlyList<string> FoldedNodes => _folded;

    /// <summary>Trainable tensors per node in topological order (the head last): freeze by depth by setting <see cref="OnnxParameterGroup.Trainable"/>.</summary>
    public IReadOnlyList<OnnxParameterGroup> ParameterGroups => _groups;

    /// <summary>When on (default), a BatchNormalization whose parameter group is frozen keeps using and keeping its running
    /// statistics in training mode, as a frozen layer should; when off, every batch norm follows the module's mode.</summary>
    public bool FrozenBatchNormInEvalMode { get; set; } = true;

    /// <summary>Freezes every group before <paramref name="firstTrainable"/> and unfreezes the rest.</summary>
    public void FreezeBefore(int firstTrainable)
    {
        foreach (var g in _groups) g.Trainable = g.Index >= firstTrainable;
    }

    /// <summary>Runs a single-input, single-output module (the usual image classifier).</summary>
    public override Tensor forward(Tensor input)
    {
        if (InputNames.Count != 1 || OutputNames.Count != 1)
            throw new InvalidOperationException($"forward(Tensor) needs one input and one output; this graph has {InputNames.Count} and {OutputNames.Count}. Use Forward(dictionary).");
        return Forward(new Dictionary<string, Tensor> { [InputNames[0]] = input })[OutputNames[0]];
    }

    /// <summary>Runs the module on named inputs and returns its named outputs (see <see cref="OutputNames"/>).</summary>
    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var values = Run(inputs, training);
        if (!HasHead) return values;
        return new Dictionary<string, Tensor> { [OutputNames[0]] = ApplyHead(values[EmbeddingTensor!]) };
    }

    private Tensor ApplyHead(Tensor embedding)
    {
        using var flat = embedding.flatten(1);
        if (!training || HeadDropout <= 0) return _head!.forward(flat);
        using var dropped = nn.functional.dropout(flat, HeadDropout, training: true);
        return _head!.forward(dropped);
    }

    /// <summary>Dropout probability on the embedding in front of the new head, in training mode only (a regulariser for
    /// small data sets; inference and <see cref="ToOnnx"/> are unaffected). Default 0.</summary>
    public double HeadDropout
    {
        get => _headDropout;
        set => _headDropout = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Dropout must be in [0, 1).");
    }

    private double _headDropout;

    /// <summary>The new classification head (null without one): logits = embedding · Wᵀ + b.</summary>
    public Linear? Head => _head;

    internal Parameter ParameterOf(string onnxName)
    {
        if (_head is not null && onnxName == HeadWeightName) return _head.weight!;
        if (_head is not null && onnxName == HeadBiasName) return _head.bias!;
        return get_parameter(_stateSlots[onnxName]) ?? throw new InvalidOperationException($"No parameter '{onnxName}'.");
    }

    private string HeadWeightName => _headName + ".weight";
    private string HeadBiasName => _headName + ".bias";
    private string HeadFlattenName => _headName + "_flatten";
    private string HeadFlatTensor => _headName + "_flat";
    private string HeadGemmName => _headName + "_gemm";

    // ---- building ----

    private static void RequireTensorType(ValueInfoProto v, string role)
    {
        if (v.Type is { } type && type.ValueCase != TypeProto.ValueOneofCase.TensorType && type.ValueCase != TypeProto.ValueOneofCase.None)
            throw new MlNetTransferException($"ONNX model: {role} '{v.Name}' is a {type.ValueCase} value; only tensors are supported.");
        if (v.Type?.TensorType is { ElemType: > 0 } tensor) OnnxTorchTensors.ToScalarType(tensor.ElemType, $"ONNX model: {role} '{v.Name}'");
    }

    private static List<NodeProto> TopologicalOrder(GraphProto graph, Dictionary<string, TensorProto> initializers)
    {
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int n = 0; n < graph.Node.Count; n++)
            foreach (var o in graph.Node[n].Output.Where(o => o.Length > 0))
                if (!producer.TryAdd(o, n)) throw new MlNetTransferException($"{OnnxTorchOps.Describe(graph.Node[n])}: output '{o}' is also produced by another node.");
        var graphInputs = graph.Input.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        var dependents = new List<int>[graph.Node.Count];
        var pending = new int[graph.Node.Count];
        for (int n = 0; n < graph.Node.Count; n++)
        {
            dependents[n] ??= [];
            foreach (var i in graph.Node[n].Input.Where(i => i.Length > 0).Distinct())
            {
                if (producer.TryGetValue(i, out var p))
                {
                    (dependents[p] ??= []).Add(n);
                    pending[n]++;
                }
                else if (!initializers.ContainsKey(i) && !graphInputs.Contains(i))
                    throw new MlNetTransferException($"{OnnxTorchOps.Describe(graph.Node[n])}: input '{i}' is produced by no node, initializer or graph input.");
            }
        }
        // Kahn's algorithm, always taking the earliest ready node so a well-ordered file keeps its order.
        var ready = new SortedSet<int>(Enumerable.Range(0, graph.Node.Count).Where(n => pending[n] == 0));
        var order = new List<NodeProto>(graph.Node.Count);
        while (ready.Count > 0)
        {
            var n = ready.Min;
            ready.Remove(n);
            order.Add(graph.Node[n]);
            foreach (var d in dependents[n]) if (--pending[d] == 0) ready.Add(d);
        }
        if (order.Count != graph.Node.Count) throw new MlNetTransferException("ONNX model: the graph has a cycle.");
        return order;
    }

    private List<NodeProto> NeededNodes(List<NodeProto> ordered, Dictionary<string, TensorProto> initializers)
    {
        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in ordered) foreach (var o in node.Output.Where(o => o.Length > 0)) producer[o] = node;
        foreach (var t in _targets)
            if (!producer.ContainsKey(t) && !initializers.ContainsKey(t) && !InputNames.Contains(t))
                throw new MlNetTransferException(HasHead
                    ? $"Embedding tensor '{t}' is not in the ONNX graph (no node produces it)."
                    : $"ONNX model: output '{t}' is produced by no node.");
        var needed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<string>(_targets);
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            if (!producer.TryGetValue(v, out var node) || !needed.Add(node)) continue;
            foreach (var i in node.Input.Where(i => i.Length > 0)) stack.Push(i);
        }
        return ordered.Where(needed.Contains).ToList();
    }

    /// <summary>Whether an initializer feeding this input slot is a learned weight (rather than a constant of the graph).</summary>
    private static bool IsWeightSlot(NodeProto node, int slot, TensorProto t) => node.OpType switch
    {
        "Conv" => slot is 1 or 2,
        "Gemm" or "MatMul" => true,
        "BatchNormalization" => slot is 1 or 2,
        // Per-channel scales and shifts (folded batch norms, layer scales) learn; scalar constants (x/6, x+3) do not.
        "Add" or "Sub" or "Mul" or "Div" => OnnxTensors.ElementCount(t) > 1,
        _ => false,
    };

    private static bool IsFloatType(int type) => (DataType)type is DataType.Float or DataType.Double or DataType.Float16 or DataType.Bfloat16;

    private void RegisterState(Dictionary<string, TensorProto> initializers)
    {
        var used = new List<string>();
        foreach (var node in _neededNodes)
            for (int slot = 0; slot < node.Input.Count; slot++)
            {
                var name = node.Input[slot];
                if (!initializers.TryGetValue(name, out var t)) continue;
                used.Add(name);
                if (!IsFloatType(t.DataType)) continue;
                if (IsWeightSlot(node, slot, t) && !_constantNodes.Contains(node.Name)) _parameterValues.Add(name);
                if (node.OpType == "BatchNormalization" && slot is 3 or 4) _runningStatistics.Add(name);
            }
        used.AddRange(_targets.Where(initializers.ContainsKey));
        if (_runningStatistics.Overlaps(_parameterValues))
            throw new MlNetTransferException($"ONNX model: '{_runningStatistics.Intersect(_parameterValues).First()}' is both a batch-norm running statistic and a weight.");

        var taken = new HashSet<string>(StringComparer.Ordinal) { HeadModuleName };
        foreach (var name in used.Distinct())
        {
            var slotName = UniqueSlotName(name, taken);
            var tensor = OnnxTorchTensors.ToTorch(initializers[name], Device);
            if (ChannelsLast && tensor.dim() == 4 && tensor.is_floating_point())
            {
                var original = tensor;
                tensor = Prepare(original);
                if (!ReferenceEquals(tensor, original)) original.Dispose();
            }
            if (_parameterValues.Contains(name)) register_parameter(slotName, new Parameter(tensor, requires_grad: true));
            else register_buffer(slotName, tensor, persistent: true);
            _stateSlots[name] = slotName;
        }
    }

    [GeneratedRegex("[^A-Za-z0-9_]")]
    private static partial Regex NotIdentifierChar();

    private static string UniqueSlotName(string onnxName, HashSet<string> taken)
    {
        // TorchSharp names may not contain '.', which ONNX names often do.
        var baseName = NotIdentifierChar().Replace(onnxName, "_");
        if (baseName.Length == 0) baseName = "t";
        var name = baseName;
        for (int k = 1; !taken.Add(name); k++) name = $"{baseName}_{k}";
        return name;
    }

    private Tensor State(string onnxName)
    {
        var slot = _stateSlots[onnxName];
        return _parameterValues.Contains(onnxName) ? get_parameter(slot)! : get_buffer(slot)!;
    }

    /// <summary>Compiles every needed node; nodes whose inputs never change (constants, shapes of weights) are run once here.</summary>
    private void CompileAndFold()
    {
        var constant = _stateSlots.Keys.Where(v => !_parameterValues.Contains(v)).ToHashSet(StringComparer.Ordinal);
        var taken = new HashSet<string>(_stateSlots.Values, StringComparer.Ordinal) { HeadModuleName };
        var kept = new List<(NodeProto Node, OnnxKernel Kernel)>();
        foreach (var node in _neededNodes)
        {
            var ctx = new OnnxOpContext(node, Opset, Device, () => IsBatchNormFrozen(node),
                name => _stateSlots.ContainsKey(name) && !_parameterValues.Contains(name));
            var kernel = OnnxTorchOps.Compile(ctx);
            var inputs = node.Input.Where(i => i.Length > 0).ToList();
            var foldable = node.OpType is not ("Dropout" or "BatchNormalization")
                && inputs.All(i => constant.Contains(i) || node.OpType == "Shape" && _parameterValues.Contains(i));
            if (!foldable)
            {
                kept.Add((node, kernel));
                continue;
            }
            _folded.Add(node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault() ?? node.OpType);
            Tensor?[] outputs;
            using (torch.no_grad())
                outputs = Invoke(node, kernel, node.Input.Select(i => i.Length > 0 ? State(i) : null).ToArray(), new OnnxRunContext { Training = false });
            for (int k = 0; k < node.Output.Count; k++)
            {
                var name = node.Output[k];
                if (name.Length == 0) continue;
                var value = k < outputs.Length ? outputs[k] : null;
                if (value is null) throw new MlNetTransferException($"{OnnxTorchOps.Describe(node)}: produced no output {k}.");
                var slot = UniqueSlotName("folded_" + name, taken);
                register_buffer(slot, value.detach(), persistent: false);
                value.Dispose();
                _stateSlots[name] = slot;
                constant.Add(name);
            }
        }

        // Release each intermediate right after its last use, so inference does not hold every activation at once.
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int s = 0; s < kept.Count; s++)
        {
            foreach (var o in kept[s].Node.Output.Where(o => o.Length > 0)) lastUse[o] = s;
            foreach (var i in kept[s].Node.Input.Where(i => lastUse.ContainsKey(i))) lastUse[i] = s;
        }
        for (int s = 0; s < kept.Count; s++)
        {
            var release = lastUse.Where(kv => kv.Value == s && !_targets.Contains(kv.Key)).Select(kv => kv.Key).ToArray();
            _steps.Add(new Step(kept[s].Node, kept[s].Node.Input.ToArray(), kept[s].Node.Output.ToArray(), kept[s].Kernel, release));
        }
    }

    private bool IsBatchNormFrozen(NodeProto node) =>
        FrozenBatchNormInEvalMode && _groupOfNode.TryGetValue(node, out var g) && !g.Trainable;

    private void BuildParameterGroups()
    {
        var grouped = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in _neededNodes)
        {
            var names = node.Input.Where(i => _parameterValues.Contains(i) && grouped.Add(i)).ToList();
            if (names.Count == 0) continue;
            var name = node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault(o => o.Length > 0) ?? $"node{_groups.Count}";
            var group = new OnnxParameterGroup(this, _groups.Count, name, node.OpType, names, isHead: false);
            _groups.Add(group);
            _groupOfNode[node] = group;
        }
    }

    /// <summary>The head's names must not clash with what stays of the graph (the cut-off classifier's names may be reused).</summary>
    private void CheckHeadNamesAreFree()
    {
        var names = _neededNodes.SelectMany(n => n.Output.Concat(n.Input)).Concat(InputNames).ToHashSet(StringComparer.Ordinal);
        foreach (var n in new[] { HeadWeightName, HeadBiasName, HeadFlatTensor, OutputNames[0] })
            if (names.Contains(n))
                throw new MlNetTransferException($"The new head's tensor name '{n}' is already used in the ONNX graph; choose another HeadName / HeadOutputName.");
    }

    private long ProbeEmbeddingWidth(GraphProto graph)
    {
        if (InputNames.Count != 1) throw new MlNetTransferException($"A new head needs a single-input graph; this one has {InputNames.Count} inputs.");
        var input = graph.Input.First(v => v.Name == InputNames[0]);
        var shape = _probeInputShape ?? ProbeShape(input);
        var type = OnnxTorchTensors.ToScalarType(input.Type?.TensorType?.ElemType ?? (int)DataType.Float, $"Input '{input.Name}'");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var values = Run(new Dictionary<string, Tensor> { [input.Name] = torch.zeros(shape, dtype: type, device: Device) }, trainingMode: false);
        var embedding = values[EmbeddingTensor!];
        if (embedding.dim() < 1 || embedding.shape[0] != shape[0])
            throw new MlNetTransferException($"Embedding tensor '{EmbeddingTensor}' has shape [{string.Join(",", embedding.shape)}], which does not keep the batch dimension first.");
        return embedding.numel() / shape[0];
    }

    private long[] ProbeShape(ValueInfoProto input)
    {
        var dims = OnnxNodes.Dims(input)
            ?? throw new MlNetTransferException($"Input '{input.Name}' declares no shape; set ProbeInputShape so the embedding size can be measured.");
        return dims.Select((d, k) => d > 0 ? d : k == 0 ? 1
            : throw new MlNetTransferException($"Input '{input.Name}' has a symbolic dimension {k}; set ProbeInputShape so the embedding size can be measured.")).ToArray();
    }

    /// <summary>PyTorch's default Linear initialisation (uniform ±1/√fan_in), from a seeded generator.</summary>
    private static void InitialiseHead(Linear head, long width, long seed)
    {
        var bound = 1.0 / Math.Sqrt(width);
        using var generator = new Generator((ulong)seed, CPU);
        using var noGrad = torch.no_grad();
        using var w = torch.rand(head.weight!.shape, generator: generator) * (2 * bound) - bound;
        using var b = torch.rand(head.bias!.shape, generator: generator) * (2 * bound) - bound;
        head.weight!.copy_(w);
        head.bias!.copy_(b);
    }

    // ---- running ----

    private Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, bool trainingMode)
    {
        var env = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in InputNames)
        {
            if (!inputs.TryGetValue(name, out var t)) throw new MlNetTransferException($"Input '{name}' was not given.");
            env[name] = Prepare(t);
        }
        RunSteps(env, 0, _steps.Count, trainingMode);
        return Targets(env);
    }

    private Dictionary<string, Tensor> Targets(Dictionary<string, Tensor> env)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in _targets)
            result[name] = env.TryGetValue(name, out var v) ? (InputNames.Contains(name) ? v.alias() : v) : State(name).alias();
        return result;
    }

    /// <summary>Runs steps [<paramref name="from"/>, <paramref name="to"/>) on the values in <paramref name="env"/>, releasing
    /// each intermediate after its last use (graph inputs are the caller's and never released).</summary>
    private void RunSteps(Dictionary<string, Tensor> env, int from, int to, bool trainingMode)
    {
        var run = new OnnxRunContext { Training = trainingMode };
        for (int s = from; s < to; s++)
        {
            var step = _steps[s];
            var args = new Tensor?[step.Inputs.Length];
            for (int j = 0; j < args.Length; j++)
                args[j] = step.Inputs[j].Length == 0 ? null : env.TryGetValue(step.Inputs[j], out var v) ? v : State(step.Inputs[j]);
            var outputs = Invoke(step.Node, step.Kernel, args, run);
            for (int k = 0; k < outputs.Length; k++)
            {
                var value = outputs[k];
                if (value is null) continue;
                if (k >= step.Outputs.Length || step.Outputs[k].Length == 0) { value.Dispose(); continue; }
                env[step.Outputs[k]] = value;
            }
            for (int k = 0; k < step.Outputs.Length; k++)
                if (step.Outputs[k].Length > 0 && (k >= outputs.Length || outputs[k] is null))
                    throw new MlNetTransferException($"{OnnxTorchOps.Describe(step.Node)}: produced no output {k}.");
            foreach (var name in step.Release)
                if (env.Remove(name, out var dead)) dead.Dispose();
        }
    }

    private static Tensor?[] Invoke(NodeProto node, OnnxKernel kernel, Tensor?[] args, OnnxRunContext run)
    {
        Tensor?[] outputs;
        try
        {
            outputs = kernel(args, run);
        }
        catch (MlNetTransferException) { throw; }
        catch (Exception e) when (e is ExternalException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            var shapes = string.Join(", ", args.Select(a => a is null ? "-" : $"{a.dtype}[{string.Join(",", a.shape)}]"));
            throw new MlNetTransferException($"{OnnxTorchOps.Describe(node)} failed on inputs {shapes}: {e.Message}", e);
        }
        // A kernel never hands back one of its inputs itself: every value in the environment is released on its own.
        for (int k = 0; k < outputs.Length; k++)
            if (outputs[k] is { } o && args.Any(a => ReferenceEquals(a, o))) outputs[k] = o.alias();
        return outputs;
    }

    // ---- writing back ----

    /// <summary>Writes the source ONNX model with the current weights (what <see cref="ToOnnx"/> returns) to <paramref name="path"/>.</summary>
    public void SaveOnnx(string path) => OnnxModelFile.Save(ToOnnx(), path);

    /// <summary>
    /// The source ONNX model with the current weights and batch-norm statistics written into its initializers. With a head,
    /// the graph is cut at the embedding and Flatten + Gemm nodes produce the head's output (the only graph output).
    /// </summary>
    internal ModelProto ToOnnx()
    {
        var model = _source.Clone();
        var graph = model.Graph;
        for (int n = 0; n < graph.Initializer.Count; n++)
        {
            var name = graph.Initializer[n].Name;
            if (_parameterValues.Contains(name) || _runningStatistics.Contains(name))
            {
                var updated = OnnxTorchTensors.ToOnnx(State(name), name);
                updated.DocString = graph.Initializer[n].DocString;
                graph.Initializer[n] = updated;
            }
        }
        if (!HasHead) return model;

        var numClasses = _head!.weight!.shape[0];
        var nodes = _neededNodes.Select(n => n.Clone()).ToList();
        nodes.Add(OnnxNodes.Node("Flatten", HeadFlattenName, [EmbeddingTensor!], [HeadFlatTensor], OnnxNodes.Attr("axis", 1L)));
        var gemmAttributes = new List<AttributeProto> { OnnxNodes.Attr("transB", 1L) };
        if (Opset < 7) gemmAttributes.Add(OnnxNodes.Attr("broadcast", 1L)); // before opset 7 Gemm broadcast C only on request
        nodes.Add(OnnxNodes.Node("Gemm", HeadGemmName, [HeadFlatTensor, HeadWeightName, HeadBiasName], [OutputNames[0]], gemmAttributes.ToArray()));
        graph.Node.Clear();
        graph.Node.AddRange(nodes);

        var referenced = KeepReferencedInitializers(graph, nodes);
        graph.Initializer.Add(OnnxTorchTensors.ToOnnx(_head.weight!, HeadWeightName));
        graph.Initializer.Add(OnnxTorchTensors.ToOnnx(_head.bias!, HeadBiasName));

        var keptInputs = graph.Input.Where(v => referenced.Contains(v.Name)).ToList();
        graph.Input.Clear();
        graph.Input.AddRange(keptInputs);
        var produced = nodes.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        var keptInfo = graph.ValueInfo.Where(v => produced.Contains(v.Name)).ToList();
        graph.ValueInfo.Clear();
        graph.ValueInfo.AddRange(keptInfo);
        graph.Output.Clear();
        graph.Output.Add(OnnxNodes.TensorValue(OutputNames[0], DataType.Float, -1, numClasses));
        return model;
    }
    /// <summary>Drops the initializers no kept node reads; returns every name the kept nodes read.</summary>
    private static HashSet<string> KeepReferencedInitializers(GraphProto graph, IEnumerable<NodeProto> nodes)
    {
        var referenced = nodes.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var kept = graph.Initializer.Where(t => referenced.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(kept);
        return referenced;
    }

    /// <summary>
    /// The graph up to the new head's input with the current weights: the same input(s) as the source and one output,
    /// <paramref name="outputName"/>, the flattened embedding float [N, D] — what a featurizer runs in front of a head
    /// that reproduces <see cref="Head"/>.
    /// </summary>
    /// <param name="outputName">Name of the embedding output.</param>
    /// <param name="int8Prefix">The int8 prefix training ran behind (<see cref="FrozenPrefix.Int8Model"/>) and the split it ends at:
    /// put in place of the float layers before the split.</param>
    internal ModelProto ToOnnxEmbedding(string outputName, (ModelProto Model, OnnxForwardSplit Split)? int8Prefix = null)
    {
        if (!HasHead) throw new InvalidOperationException("ToOnnxEmbedding needs a module with a new head (EmbeddingTensor set).");
        ArgumentException.ThrowIfNullOrWhiteSpace(outputName);
        var model = ToOnnx();
        var graph = model.Graph;
        if (int8Prefix is var (prefix, split)) QuantizedPrefix.PutInFront(model, prefix, ComputedCrossing(split).ToList());
        var gemm = graph.Node.Single(n => n.Name == HeadGemmName);
        graph.Node.Remove(gemm);
        foreach (var t in graph.Initializer.Where(t => t.Name == HeadWeightName || t.Name == HeadBiasName).ToList()) graph.Initializer.Remove(t);
        graph.Output.Clear();
        if (outputName != HeadFlatTensor)
        {
            OnnxGraphEditing.Reserve(graph, outputName);
            OnnxGraphEditing.RenameTensor(graph, HeadFlatTensor, outputName);
        }
        var width = _head!.weight!.shape[1];
        graph.Output.Add(OnnxNodes.TensorValue(outputName, DataType.Float, -1, width));
        return model;
    }
}
