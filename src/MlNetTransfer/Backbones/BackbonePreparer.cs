using Microsoft.ML.OnnxRuntime.Tensors;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones;

/// <summary>
/// Turns a pretrained ONNX network into the models the rest of the toolkit runs: a featurizer
/// (<c>pixels</c> → <c>embedding</c>: inspect, cut, bake preprocessing) or, to use the network as trained, a classifier
/// (<c>pixels</c> → <c>probabilities</c>). Each result is checked by running it once in ONNX Runtime.
/// </summary>
public static class BackbonePreparer
{
    /// <summary>Name of a prepared classifier's output.</summary>
    public const string ProbabilitiesOutput = "probabilities";

    /// <summary>Makes the featurizer, cutting at <see cref="BackboneSpec.EmbeddingTensor"/> or, when that is null, the inspector's best candidate.</summary>
    /// <param name="model">The pretrained network; it is not changed.</param>
    /// <param name="spec">Its input contract (size, layout, channel order, normalisation) and optional tensor names.</param>
    internal static PreparedBackbone Prepare(ModelProto model, BackboneSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var info = OnnxInspector.Inspect(model, spec);
        var tensor = spec.EmbeddingTensor
            ?? info.EmbeddingCandidates.FirstOrDefault()?.TensorName
            ?? throw new MlNetTransferException(
                $"Backbone '{spec.Name}': no embedding candidate found in the graph; set EmbeddingTensor in its spec (the inspect command lists the tensors).");

        var cut = OnnxGraphCutter.CutAt(model, tensor, OnnxGraphCutter.EmbeddingOutput, spec, Measured(info, tensor), softmax: false);
        var featurizer = Finish(cut.Model, spec, OnnxGraphCutter.EmbeddingOutput, cut.Size, ("mlnet-transfer.embedding_tensor", tensor));
        var bytes = OnnxModelFile.ToBytes(featurizer);
        return new PreparedBackbone
        {
            FeaturizerModel = featurizer,
            FeaturizerBytes = bytes,
            EmbeddingSize = cut.Size,
            Spec = spec with { EmbeddingTensor = tensor },
            Sha256 = OnnxModelFile.Sha256(bytes),
            OriginalInfo = info,
        };
    }

    /// <summary>
    /// Makes the network's own classifier into <c>pixels</c> → <c>probabilities</c> [N, classes]. Uses
    /// <see cref="BackboneSpec.ClassifierTensor"/> (a softmax is appended unless
    /// <see cref="BackboneSpec.ClassifierOutputsProbabilities"/>), else the scores the inspector found in front of the
    /// output's softmax, if any (a softmax is appended).
    /// </summary>
    internal static PreparedClassifier PrepareClassifier(ModelProto model, BackboneSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        string tensor;
        bool softmax;
        if (spec.ClassifierTensor is { } named)
        {
            tensor = named;
            softmax = !spec.ClassifierOutputsProbabilities;
        }
        else
        {
            var info = OnnxInspector.Inspect(model, spec, measuredCandidates: 0);
            tensor = info.ClassifierTensor ?? throw new MlNetTransferException(
                $"Backbone '{spec.Name}': found no classifier in front of the model's outputs; set ClassifierTensor in its spec.");
            softmax = true;
        }

        var cut = OnnxGraphCutter.CutAt(model, tensor, ProbabilitiesOutput, spec, measured: null, softmax);
        var classifier = Finish(cut.Model, spec, ProbabilitiesOutput, cut.Size, ("mlnet-transfer.classifier_tensor", tensor));
        var bytes = OnnxModelFile.ToBytes(classifier);
        return new PreparedClassifier
        {
            ClassifierModel = classifier,
            ClassifierBytes = bytes,
            ClassCount = cut.Size,
            Spec = spec with { ClassifierTensor = tensor, ClassifierOutputsProbabilities = !softmax && spec.ClassifierOutputsProbabilities },
            Sha256 = OnnxModelFile.Sha256(bytes),
        };
    }

    /// <summary>
    /// Adds to a prepared featurizer a second output with the pooled activations of the layer boundary (a tensor every path
    /// from the image to the embedding passes through, as between two blocks) nearest each of <paramref name="depths"/>,
    /// the fraction of the weight layers before it; only feature maps (4-D, larger than 1×1) qualify, and depths that land
    /// on the same boundary tap it once. Null when the graph has none, as in a network with no spatial maps between its
    /// first and last layer.
    /// </summary>
    public static MiddleLayerTap? TapMiddleLayers(PreparedBackbone backbone, IReadOnlyList<double> depths)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(depths);
        if (depths.Count == 0) throw new MlNetTransferException("Middle layers: no depth given.");
        foreach (var depth in depths)
            if (!(depth is > 0 and < 1))
                throw new MlNetTransferException($"Middle layer: depth is {depth}; it must be a fraction of the layers between 0 and 1 (exclusive).");
        var spec = backbone.Spec with { InputName = PreprocessingBaker.PixelsInput };
        var boundaries = OnnxLayerBoundaries.Find(backbone.FeaturizerModel.Graph)
            .Where(b => b.LayersBefore > 0 && b.LayersBefore < b.Layers).ToList();
        if (boundaries.Count == 0) return null;
        var shapes = OnnxShapeProbe.Probe(backbone.FeaturizerModel, boundaries.Select(b => b.Tensor), spec);
        var maps = boundaries
            .Select((b, position) => (b, position))
            .Where(p => shapes[p.b.Tensor] is { Dims.Length: 4 } t && t.Dims.Skip(1).Count(d => d > 1) >= 3
                        && t.ElementType is TensorElementType.Float or TensorElementType.UInt8 or TensorElementType.Int8)
            .ToList();
        if (maps.Count == 0) return null;
        var chosen = depths
            // Of the tensors between the same two layers, the last: the block's output after its activation and pooling.
            .Select(depth => maps.OrderBy(p => Math.Abs(p.b.Depth - depth)).ThenBy(p => p.b.LayersBefore).ThenByDescending(p => p.position).First())
            .DistinctBy(p => p.b.Tensor).OrderBy(p => p.position).Select(p => p.b).ToList();

        var model = backbone.FeaturizerModel.Clone();
        var graph = model.Graph;
        var modelName = string.IsNullOrEmpty(graph.Name) ? "ONNX model" : $"ONNX model '{graph.Name}'";
        var sources = chosen.Select(b => b.Tensor).ToList();
        if (sources.Contains(MiddleLayerTap.OutputName))
        {
            var renamed = new OnnxNamer(graph).Fresh(MiddleLayerTap.OutputName + "_source");
            OnnxGraphEditing.RenameTensor(graph, MiddleLayerTap.OutputName, renamed);
            sources = sources.Select(s => s == MiddleLayerTap.OutputName ? renamed : s).ToList();
        }
        else OnnxGraphEditing.Reserve(graph, MiddleLayerTap.OutputName);
        var namer = new OnnxNamer(graph);
        var pooled = new List<string>();
        var layers = new List<TappedLayer>();
        int offset = 0;
        for (int i = 0; i < chosen.Count; i++)
        {
            var output = chosen.Count == 1 ? MiddleLayerTap.OutputName : namer.Fresh($"middle/{i}");
            var size = OnnxGraphCutter.AppendVector(model, sources[i], output, shapes[chosen[i].Tensor], softmax: false, modelName, chosen[i].Tensor);
            namer = new OnnxNamer(graph);
            pooled.Add(output);
            layers.Add(new TappedLayer(chosen[i].Tensor, chosen[i].LayersBefore, chosen[i].Layers, offset, size));
            offset += size;
        }
        if (pooled.Count > 1)
            graph.Node.Add(OnnxNodes.Node("Concat", namer.Fresh("middle/concat"), pooled, [MiddleLayerTap.OutputName], OnnxNodes.Attr("axis", 1L)));
        graph.Output.Add(OnnxNodes.TensorValue(MiddleLayerTap.OutputName, TensorProto.Types.DataType.Float, -1, offset));
        SetMetadata(model, "mlnet-transfer.middle_tensors", string.Join(",", layers.Select(l => l.Tensor)));

        var runs = OnnxShapeProbe.Run(model, [PreparedBackbone.OutputName, MiddleLayerTap.OutputName], spec);
        if (runs[1].Dims is not [1, var c] || c != offset || runs[0].Dims is not [1, var d] || d != backbone.EmbeddingSize)
            throw new MlNetTransferException(
                $"Backbone '{backbone.Spec.Name}': tapping {string.Join(", ", layers.Select(l => $"'{l.Tensor}'"))} gave outputs [{string.Join(",", runs[0].Dims)}] and [{string.Join(",", runs[1].Dims)}] instead of [1,{backbone.EmbeddingSize}] and [1,{offset}].");
        var bytes = OnnxModelFile.ToBytes(model);
        return new MiddleLayerTap { Layers = layers, FeaturizerModel = model, FeaturizerBytes = bytes, Sha256 = OnnxModelFile.Sha256(bytes) };
    }

    private static ProbedTensor? Measured(OnnxModelInfo info, string tensor)
    {
        var c = info.EmbeddingCandidates.FirstOrDefault(c => c.TensorName == tensor);
        if (c?.Dims is null || c.ElementType is null) return null;
        var type = c.ElementType switch
        {
            "float" => TensorElementType.Float,
            "uint8" => TensorElementType.UInt8,
            "int8" => TensorElementType.Int8,
            _ => (TensorElementType?)null,
        };
        return type is { } t ? new ProbedTensor(tensor, c.Dims, t, null) : null;
    }

    /// <summary>Bakes preprocessing into a cut model, records provenance, and runs it once to prove ONNX Runtime accepts it.</summary>
    private static ModelProto Finish(ModelProto cut, BackboneSpec spec, string output, int size, (string Key, string Value) provenance)
    {
        var model = PreprocessingBaker.Bake(cut, spec);
        var extra = new OnnxGraphIndex(model.Graph).RuntimeInputs.Where(i => i.Name != PreprocessingBaker.PixelsInput).Select(i => $"'{i.Name}'").ToList();
        if (extra.Count > 0)
            throw new MlNetTransferException(
                $"Backbone '{spec.Name}': besides the image, the network still needs input(s) {string.Join(", ", extra)} to compute '{output}'; it cannot be used as an image model.");

        SetMetadata(model, "mlnet-transfer.backbone", spec.Name);
        SetMetadata(model, provenance.Key, provenance.Value);

        var run = OnnxShapeProbe.Run(model, [output], spec with { InputName = PreprocessingBaker.PixelsInput })[0];
        if (run.Dims.Length != 2 || run.Dims[0] != 1 || run.Dims[1] != size)
            throw new MlNetTransferException(
                $"Backbone '{spec.Name}': the prepared model's output '{output}' came out with shape [{string.Join(",", run.Dims)}] instead of [1,{size}].");
        if (run.Values is { } values && values.Any(v => !float.IsFinite(v)))
            throw new MlNetTransferException($"Backbone '{spec.Name}': the prepared model's output '{output}' is not finite on a black image.");
        return model;
    }

    private static void SetMetadata(ModelProto model, string key, string value)
    {
        var entry = model.MetadataProps.FirstOrDefault(p => p.Key == key);
        if (entry is null) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        else entry.Value = value;
    }
}
