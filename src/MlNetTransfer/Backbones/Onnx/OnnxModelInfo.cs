using System.Globalization;
using System.Text;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>What <see cref="OnnxInspector.Inspect(string, BackboneSpec?, int)"/> learns about a model: interface, size, operators, where to cut it.</summary>
public sealed record OnnxModelInfo
{
    /// <summary>The graph's name.</summary>
    public string GraphName { get; init; } = "";

    /// <summary>Tool that wrote the file, with its version, e.g. <c>pytorch 1.8</c>.</summary>
    public string Producer { get; init; } = "";

    /// <summary>ONNX IR version of the file.</summary>
    public long IrVersion { get; init; }

    /// <summary>Imported operator sets: domain (<c>ai.onnx</c> for the default one) to version.</summary>
    public IReadOnlyDictionary<string, long> Opsets { get; init; } = new Dictionary<string, long>();

    /// <summary>Inputs fed at run time (initializers listed as inputs by old exporters are left out).</summary>
    public IReadOnlyList<OnnxTensorInfo> Inputs { get; init; } = [];

    /// <summary>Graph outputs.</summary>
    public IReadOnlyList<OnnxTensorInfo> Outputs { get; init; } = [];

    /// <summary>Nodes in the top-level graph.</summary>
    public int NodeCount { get; init; }

    /// <summary>Sum of the element counts of all initializers (weights, biases, quantization constants).</summary>
    public long ParameterCount { get; init; }

    /// <summary>Operators by number of nodes, most frequent first; non-default domains prefix the name.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> OpHistogram { get; init; } = [];

    /// <summary>Tensor holding the original classifier's scores before any softmax (logits), when one was found.</summary>
    public string? ClassifierTensor { get; init; }

    /// <summary>Number of classes of that classifier, when measured.</summary>
    public int? ClassCount { get; init; }

    /// <summary>Where the network can be cut for an embedding, best first.</summary>
    public IReadOnlyList<EmbeddingCandidate> EmbeddingCandidates { get; init; } = [];

    /// <summary>Why ONNX Runtime could not measure the candidates, when it could not; null when it could.</summary>
    public string? ProbeError { get; init; }

    /// <summary>Label/value pairs summarising the model, for a two-column table.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Summary()
    {
        string Join<T>(IEnumerable<T> items) => string.Join("; ", items);
        var rows = new List<KeyValuePair<string, string>>
        {
            new("graph", GraphName),
            new("producer", Producer),
            new("IR version", IrVersion.ToString(CultureInfo.InvariantCulture)),
            new("opsets", Join(Opsets.Select(o => $"{o.Key} {o.Value}"))),
            new("inputs", Join(Inputs)),
            new("outputs", Join(Outputs)),
            new("nodes", NodeCount.ToString("N0", CultureInfo.InvariantCulture)),
            new("parameters", ParameterCount.ToString("N0", CultureInfo.InvariantCulture)),
            new("operators", Join(OpHistogram.Select(o => $"{o.Key} {o.Value}"))),
            new("classifier", ClassifierTensor is null ? "none found" : $"{ClassifierTensor}{(ClassCount is { } c ? $" ({c} classes)" : "")}"),
        };
        if (ProbeError is not null) rows.Add(new("measuring failed", ProbeError));
        return rows;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var (label, value) in Summary()) sb.Append(label).Append(": ").AppendLine(value);
        sb.AppendLine("embedding candidates (best first):");
        for (int i = 0; i < EmbeddingCandidates.Count; i++) sb.Append("  ").Append(i + 1).Append(". ").AppendLine(EmbeddingCandidates[i].ToString());
        return sb.ToString();
    }
}
