using MlNetTransfer.Backbones.Onnx.Proto;
using static TorchSharp.torch;

namespace MlNetTransfer.FineTuning;

public sealed partial class OnnxTorchModule
{
    /// <summary>The cut just before the first node holding a parameter of group <paramref name="firstGroup"/> or later
    /// (the head's group: after the last node, so the suffix is the head alone).</summary>
    public OnnxForwardSplit SplitBefore(int firstGroup)
    {
        if (firstGroup < 0 || firstGroup > _groups.Count)
            throw new ArgumentOutOfRangeException(nameof(firstGroup), firstGroup, $"There are {_groups.Count} parameter groups.");
        int step = _steps.Count;
        for (int s = 0; s < _steps.Count; s++)
            if (_groupOfNode.TryGetValue(_steps[s].Node, out var g) && g.Index >= firstGroup) { step = s; break; }
        return SplitAt(step, firstGroup);
    }

    /// <summary>The cut before step <paramref name="step"/>; its first group defaults to that of the first later node with parameters.</summary>
    private OnnxForwardSplit SplitAt(int step, int? firstGroup = null)
    {
        var produced = new HashSet<string>(InputNames, StringComparer.Ordinal);
        for (int s = 0; s < step; s++) produced.UnionWith(_steps[s].Outputs.Where(o => o.Length > 0));
        var needed = new HashSet<string>(_targets, StringComparer.Ordinal);
        for (int s = step; s < _steps.Count; s++) needed.UnionWith(_steps[s].Inputs.Where(i => i.Length > 0));
        var crossing = produced.Where(needed.Contains).Order(StringComparer.Ordinal).ToList();
        if (firstGroup is null)
        {
            firstGroup = _groups.Count;
            for (int s = step; s < _steps.Count; s++)
                if (_groupOfNode.TryGetValue(_steps[s].Node, out var g)) { firstGroup = g.Index; break; }
        }
        return new OnnxForwardSplit(firstGroup.Value, step, crossing);
    }

    /// <summary>True when the prefix computes the same values in training mode as in evaluation mode and holds nothing
    /// trainable: all its groups frozen, no Dropout, and every BatchNormalization frozen (so on running statistics).
    /// Only then may its outputs be computed once and reused for every epoch.</summary>
    public bool IsPrefixFixed(OnnxForwardSplit split)
    {
        ArgumentNullException.ThrowIfNull(split);
        for (int s = 0; s < split.Step; s++)
        {
            var node = _steps[s].Node;
            var frozen = !_groupOfNode.TryGetValue(node, out var g) || !g.Trainable;
            if (!frozen || node.OpType == "Dropout") return false;
            if (node.OpType == "BatchNormalization" && (!IsBatchNormFrozen(node) || Backbones.Onnx.OnnxNodes.GetInt(node, "training_mode", 0) == 1))
                return false;
        }
        return true;
    }

    /// <summary>Runs the prefix on a single-input graph and returns the values crossing the split (in the module's current mode).</summary>
    public IReadOnlyDictionary<string, Tensor> ForwardPrefix(Tensor input, OnnxForwardSplit split)
    {
        ArgumentNullException.ThrowIfNull(split);
        if (InputNames.Count != 1) throw new InvalidOperationException($"ForwardPrefix needs a single-input graph; this one has {InputNames.Count}.");
        var env = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [InputNames[0]] = Prepare(input) };
        RunSteps(env, 0, split.Step, training);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in split.Tensors)
            result[name] = env.TryGetValue(name, out var v) ? (InputNames.Contains(name) ? v.alias() : v) : State(name).alias();
        return result;
    }

    /// <summary>Continues from the values a prefix produced (<see cref="ForwardPrefix"/>, possibly cached) to the module's
    /// single output. The given tensors are not disposed.</summary>
    public Tensor ForwardSuffix(IReadOnlyDictionary<string, Tensor> crossing, OnnxForwardSplit split)
    {
        ArgumentNullException.ThrowIfNull(crossing);
        ArgumentNullException.ThrowIfNull(split);
        if (OutputNames.Count != 1) throw new InvalidOperationException($"ForwardSuffix needs a single-output module; this one has {OutputNames.Count}.");
        var env = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in split.Tensors)
        {
            if (!crossing.TryGetValue(name, out var t)) throw new ArgumentException($"The value '{name}' crossing the split was not given.", nameof(crossing));
            // An alias, because the run releases intermediates after their last use and these belong to the caller.
            var placed = Prepare(t);
            env[name] = ReferenceEquals(placed, t) ? t.alias() : placed;
        }
        RunSteps(env, split.Step, _steps.Count, training);
        var values = Targets(env);
        return HasHead ? ApplyHead(values[EmbeddingTensor!]) : values[OutputNames[0]];
    }

    /// <summary>The prefix as a stand-alone ONNX graph with the current weights: the module's input in, every value crossing
    /// <paramref name="split"/> that a node computes out (values that are weights or constants are not outputs: the suffix
    /// reads them from the module itself). What <see cref="ForwardPrefix"/> computes, for another runtime to run.</summary>
    internal ModelProto ToOnnxPrefix(OnnxForwardSplit split)
    {
        ArgumentNullException.ThrowIfNull(split);
        var outputs = ComputedCrossing(split);
        var model = ToOnnx();
        var graph = model.Graph;
        // Keep only what the crossing values need (folded constants come back as their producing nodes).
        var producer = graph.Node.SelectMany(n => n.Output.Where(o => o.Length > 0).Select(o => (o, n))).ToDictionary(p => p.o, p => p.n, StringComparer.Ordinal);
        var needed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<string>(outputs);
        while (stack.Count > 0)
            if (producer.TryGetValue(stack.Pop(), out var node) && needed.Add(node))
                foreach (var i in node.Input.Where(i => i.Length > 0)) stack.Push(i);
        var kept = graph.Node.Where(needed.Contains).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(kept);
        KeepReferencedInitializers(graph, kept);
        graph.ValueInfo.Clear();
        graph.Output.Clear();
        // A value info with only a name: ONNX Runtime infers an output's type and shape.
        foreach (var o in outputs) graph.Output.Add(new ValueInfoProto { Name = o });
        return model;
    }

    /// <summary>The values crossing <paramref name="split"/> that a node of the prefix computes (the rest are graph inputs,
    /// weights or folded constants).</summary>
    internal IReadOnlyList<string> ComputedCrossing(OnnxForwardSplit split)
    {
        var produced = _steps.Take(split.Step).SelectMany(s => s.Outputs.Where(o => o.Length > 0)).ToHashSet(StringComparer.Ordinal);
        return split.Tensors.Where(produced.Contains).ToList();
    }

    /// <summary>A value crossing a split that no prefix node computes: a graph input or a module state (its own alias).</summary>
    internal Tensor? StateAlias(string name) => _stateSlots.ContainsKey(name) ? State(name).alias() : null;
}
