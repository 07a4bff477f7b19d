using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// Reads a model's interface, size and operators, finds its final classifier, and ranks the tensors it could be cut
/// at for an image embedding (measuring the best few with ONNX Runtime).
/// </summary>
public static class OnnxInspector
{
    /// <summary>How many of the best candidates are measured with ONNX Runtime by default.</summary>
    public const int DefaultMeasuredCandidates = 3;

    private const int MaxCandidates = 8;

    /// <summary>Ops a classifier's scores pass through on their way to the output without changing which class wins.</summary>
    private static readonly HashSet<string> ScoreActivations = ["Softmax", "LogSoftmax", "Sigmoid", "QLinearSoftmax", "QLinearSigmoid"];

    /// <summary>Ops that only reshape, retype or (in inference) copy a tensor.</summary>
    private static readonly HashSet<string> ShapeOnly =
        ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Transpose", "Cast", "DequantizeLinear", "QuantizeLinear"];

    /// <summary>Elementwise ops with one constant operand: a bias, a scale or a temperature.</summary>
    private static readonly HashSet<string> ConstantAffine = ["Add", "Sub", "Mul", "Div", "QLinearAdd", "QLinearMul"];

    /// <summary>Fully connected layers, float or quantized, and the input holding their weight matrix.</summary>
    private static readonly Dictionary<string, int> DenseWeightInput = new()
    {
        ["Gemm"] = 1, ["MatMul"] = 1, ["FusedGemm"] = 1, ["FusedMatMul"] = 1, ["MatMulInteger"] = 1,
        ["DynamicQuantizeMatMul"] = 1, ["MatMulIntegerToFloat"] = 1, ["QLinearMatMul"] = 3, ["QGemm"] = 3,
    };

    /// <summary>Convolutions and the input holding their weight (a 1x1 convolution on a pooled map is a dense layer).</summary>
    private static readonly Dictionary<string, int> ConvWeightInput = new() { ["Conv"] = 1, ["FusedConv"] = 1, ["ConvInteger"] = 1, ["QLinearConv"] = 3 };

    /// <summary>Inspects the ONNX file at <paramref name="onnxPath"/>.</summary>
    /// <param name="onnxPath">The model file.</param>
    /// <param name="spec">Input name and size for measuring candidates when the model leaves them symbolic; null means the only input at 224x224.</param>
    /// <param name="measuredCandidates">How many of the best candidates to measure with ONNX Runtime (0 to skip running the model).</param>
    public static OnnxModelInfo Inspect(string onnxPath, BackboneSpec? spec = null, int measuredCandidates = DefaultMeasuredCandidates) =>
        Inspect(OnnxModelFile.Load(onnxPath), spec, measuredCandidates);

    /// <summary>Inspects a model.</summary>
    /// <param name="model">The model; it is not changed.</param>
    /// <param name="spec">Input name and size for measuring candidates when the model leaves them symbolic; null means the only input at 224x224.</param>
    /// <param name="measuredCandidates">How many of the best candidates to measure with ONNX Runtime (0 to skip running the model).</param>
    internal static OnnxModelInfo Inspect(ModelProto model, BackboneSpec? spec = null, int measuredCandidates = DefaultMeasuredCandidates)
    {
        if (model?.Graph is null) throw new MlNetTransferException("Cannot inspect: the ONNX model has no graph.");
        var graph = new OnnxGraphIndex(model.Graph);

        var classifier = model.Graph.Output.Select(o => FindClassifier(graph, o.Name)).FirstOrDefault(c => c is not null);
        var logits = classifier?.Logits ?? model.Graph.Output.Select(o => LogitsBehindSoftmax(graph, o.Name)).FirstOrDefault(l => l is not null);
        var found = RankCandidates(graph, classifier);

        string? probeError = null;
        IReadOnlyDictionary<string, ProbedTensor> measured = new Dictionary<string, ProbedTensor>();
        if (measuredCandidates > 0 && (found.Count > 0 || logits is not null))
        {
            var toMeasure = found.Take(measuredCandidates).Select(c => c.Tensor).ToList();
            if (logits is not null) toMeasure.Add(logits);
            try { measured = OnnxShapeProbe.Probe(model, toMeasure, spec); }
            catch (MlNetTransferException e) { probeError = e.Message; }
        }

        var candidates = found.Select(c =>
        {
            var producer = graph.ProducerOf(c.Tensor);
            var m = measured.GetValueOrDefault(c.Tensor);
            int? size = null;
            if (m is not null)
            {
                try { size = CutPlan.For(graph, c.Tensor, m.Dims).EmbeddingSize; }
                catch (MlNetTransferException) { size = null; }
            }
            return new EmbeddingCandidate
            {
                TensorName = c.Tensor,
                ProducerName = producer?.Name,
                ProducerOp = producer is null ? null : QualifiedOp(producer),
                Reason = c.Reason,
                Dims = m?.Dims,
                ElementType = m is null ? null : ElementTypeName(m.ElementType),
                EmbeddingSize = size,
            };
        }).ToList();

        int? classes = logits is not null && measured.TryGetValue(logits, out var lm) && lm.Dims.Length >= 2
            ? checked((int)lm.Dims.Skip(1).Aggregate(1L, (a, d) => a * d))
            : null;

        return new OnnxModelInfo
        {
            GraphName = model.Graph.Name,
            Producer = $"{model.ProducerName} {model.ProducerVersion}".Trim(),
            IrVersion = model.IrVersion,
            Opsets = model.OpsetImport.GroupBy(o => o.Domain is "" ? "ai.onnx" : o.Domain).ToDictionary(g => g.Key, g => g.Max(o => o.Version)),
            Inputs = graph.RuntimeInputs.Select(OnnxTensorInfo.From).ToList(),
            Outputs = model.Graph.Output.Select(OnnxTensorInfo.From).ToList(),
            NodeCount = model.Graph.Node.Count,
            ParameterCount = model.Graph.Initializer.Sum(OnnxTensors.ElementCount),
            OpHistogram = model.Graph.Node.GroupBy(QualifiedOp).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => new KeyValuePair<string, int>(g.Key, g.Count())).ToList(),
            ClassifierTensor = logits,
            ClassCount = classes,
            EmbeddingCandidates = candidates,
            ProbeError = probeError,
        };
    }

    /// <summary>The final dense (or 1x1 convolution) layer behind an output, its input, and the scores it makes.</summary>
    private sealed record ClassifierMatch(NodeProto Node, string Feature, string Logits, string Output, List<string> Via);

    private sealed record Candidate(string Tensor, string Reason);

    private static List<Candidate> RankCandidates(OnnxGraphIndex graph, ClassifierMatch? classifier)
    {
        var list = new List<Candidate>();
        void Add(string tensor, string reason)
        {
            if (!list.Any(c => c.Tensor == tensor) && !graph.IsConstant(tensor)) list.Add(new Candidate(tensor, reason));
        }

        if (classifier is not null)
        {
            var dense = $"{classifier.Node.OpType} '{classifier.Node.Name}'";
            var via = classifier.Via.Count > 0 ? $" through {string.Join(", ", classifier.Via.Distinct())}" : "";
            var pool = GlobalPoolBehind(graph, classifier.Feature);
            if (pool is not null && OnnxQuantization.IsQuantizedGlobalPool(pool))
                Add(pool.Input[0],
                    $"8-bit feature map entering {pool.OpType} '{pool.Name}' before the final classifier {dense}; dequantized and averaged in float, it is more precise than the 8-bit pooled vector");
            Add(classifier.Feature, $"input of the final classifier {dense}, which feeds output '{classifier.Output}'{via}");
            if (pool is not null && !OnnxQuantization.IsQuantizedGlobalPool(pool))
                Add(pool.Output[0], $"global pooling {pool.OpType} '{pool.Name}' in front of the final classifier {dense}");
        }
        else
        {
            // No classifier in front of the outputs: the model is most likely a feature extractor already.
            foreach (var o in graph.Graph.Output)
                Add(o.Name, "graph output with no classifier in front of it: the model looks like a feature extractor");
        }

        for (int i = graph.Graph.Node.Count - 1; i >= 0 && list.Count < MaxCandidates; i--)
        {
            var node = graph.Graph.Node[i];
            if (OnnxQuantization.IsQuantizedGlobalPool(node))
                Add(node.Input[0], $"8-bit feature map entering {node.OpType} '{node.Name}' (dequantized and averaged in float when cut)");
            else if (IsGlobalPool(graph, node))
                Add(node.Output[0], $"global pooling {node.OpType} '{node.Name}'");
            else if (node.OpType == "Flatten")
                Add(node.Output[0], $"output of Flatten '{node.Name}'");
        }

        if (list.Count == 0)
        {
            var lastConv = graph.Graph.Node.LastOrDefault(n => ConvWeightInput.ContainsKey(n.OpType));
            if (lastConv is not null)
                Add(lastConv.Output[0], $"output of the last convolution {lastConv.OpType} '{lastConv.Name}', averaged over height and width when cut");
        }
        return list.Take(MaxCandidates).ToList();
    }

    /// <summary>Walks back from a graph output through activations, reshapes and bias adds to a dense layer.</summary>
    private static ClassifierMatch? FindClassifier(OnnxGraphIndex graph, string output)
    {
        var tensor = output;
        var logits = output;
        var via = new List<string>();
        for (int step = 0; step < 24; step++)
        {
            var node = graph.ProducerOf(tensor);
            if (node is null) return null;
            var data = node.Input.Where(i => i.Length > 0 && !graph.IsConstant(i)).Distinct().ToList();
            if (ScoreActivations.Contains(node.OpType))
            {
                logits = node.Input[0];
                via.Add(node.OpType);
                tensor = node.Input[0];
            }
            else if (ShapeOnly.Contains(node.OpType) || (ConstantAffine.Contains(node.OpType) && data.Count == 1))
            {
                via.Add(node.OpType);
                tensor = data.Count == 1 ? data[0] : node.Input[0];
            }
            else if (DenseWeightInput.TryGetValue(node.OpType, out var weight) && node.Input.Count > weight)
            {
                // MatMul may hold the weight on the left: x^T W^T written as W x.
                var feature = graph.IsConstant(node.Input[weight]) ? node.Input[0]
                    : node.OpType == "MatMul" && graph.IsConstant(node.Input[0]) ? node.Input[1] : null;
                return feature is null ? null : new ClassifierMatch(node, FloatSource(graph, feature), logits, output, via);
            }
            else if (ConvWeightInput.TryGetValue(node.OpType, out var w) && IsPointwise(graph, node, w) && data.Count == 1)
            {
                return new ClassifierMatch(node, FloatSource(graph, node.Input[0]), logits, output, via);
            }
            else return null;
        }
        return null;
    }

    /// <summary>The float tensor an 8-bit classifier input was quantized from, when it was (cutting there loses nothing).</summary>
    private static string FloatSource(OnnxGraphIndex graph, string tensor) =>
        graph.ProducerOf(tensor) is { OpType: "QuantizeLinear" or "DynamicQuantizeLinear" } q && q.Output[0] == tensor ? q.Input[0] : tensor;

    /// <summary>For outputs with no dense layer in front: the input of a softmax they come from, else null.</summary>
    private static string? LogitsBehindSoftmax(OnnxGraphIndex graph, string output)
    {
        var tensor = output;
        for (int step = 0; step < 8; step++)
        {
            var node = graph.ProducerOf(tensor);
            if (node is null) return null;
            if (ScoreActivations.Contains(node.OpType)) return node.Input[0];
            if (!ShapeOnly.Contains(node.OpType)) return null;
            tensor = node.Input[0];
        }
        return null;
    }

    private static bool IsPointwise(OnnxGraphIndex graph, NodeProto conv, int weightInput)
    {
        var kernel = OnnxNodes.GetInts(conv, "kernel_shape", []);
        if (kernel.Length == 0 && conv.Input.Count > weightInput && graph.ConstantValue(conv.Input[weightInput]) is { } weight)
            kernel = weight.Dims.Skip(2).ToArray();
        return kernel.Length > 0 && kernel.All(k => k == 1);
    }

    /// <summary>A global pool (float or 8-bit) reached from <paramref name="tensor"/> going back through reshapes only.</summary>
    private static NodeProto? GlobalPoolBehind(OnnxGraphIndex graph, string tensor)
    {
        for (int step = 0; step < 8; step++)
        {
            var node = graph.ProducerOf(tensor);
            if (node is null) return null;
            if (IsGlobalPool(graph, node) || OnnxQuantization.IsQuantizedGlobalPool(node)) return node;
            if (!ShapeOnly.Contains(node.OpType)) return null;
            tensor = node.Input[0];
        }
        return null;
    }

    private static bool IsGlobalPool(OnnxGraphIndex graph, NodeProto node) => node.OpType switch
    {
        "GlobalAveragePool" or "GlobalMaxPool" => true,
        "ReduceMean" or "ReduceMax" => OnnxLayout.ReduceAxes(graph, node) is { } axes && (axes.SequenceEqual([2L, 3]) || axes.SequenceEqual([1L, 2])),
        _ => false,
    };

    internal static string QualifiedOp(NodeProto node) => node.Domain is "" or "ai.onnx" ? node.OpType : $"{node.Domain}.{node.OpType}";

    private static string ElementTypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float => "float",
        TensorElementType.UInt8 => "uint8",
        TensorElementType.Int8 => "int8",
        TensorElementType.Float16 => "float16",
        TensorElementType.Double => "double",
        _ => type.ToString().ToLowerInvariant(),
    };
}
