using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.FineTuning;

/// <summary>A fine-tuned classifier: the ML.NET chain that predicts with it, how training went, and the trained TorchSharp
/// module (disposed with this object).</summary>
public sealed class FineTuningResult : IFineTunedClassifier
{
    internal FineTuningResult(ITransformer featurizer, ITransformer head, FineTuneRun run, IReadOnlyList<string> classes, PreparedBackbone backbone,
        ModelProto featurizerModel, string featurizerSha256, OnnxTorchModule module)
    {
        Featurizer = featurizer;
        Head = head;
        Model = new TransformerChain<ITransformer>(featurizer, head);
        Run = run;
        Classes = classes;
        Backbone = backbone;
        FeaturizerModel = featurizerModel;
        FeaturizerSha256 = featurizerSha256;
        Module = module;
    }

    /// <summary>Image path → <c>embedding</c>, <c>Score</c>, <c>PredictedLabel</c> (the featurizer, then the head).</summary>
    public ITransformer Model { get; }

    /// <summary><c>LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel</c> on the fine-tuned graph (up to the embedding).</summary>
    public ITransformer Featurizer { get; }

    /// <summary>The trained linear head as ML.NET's multiclass predictor, then key → class name.</summary>
    public ITransformer Head { get; }

    /// <summary>Learning curve, best epoch, how the run ended.</summary>
    public FineTuneRun Run { get; }

    /// <summary>Class names in the head's output order.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>The pretrained featurizer the run started from.</summary>
    public PreparedBackbone Backbone { get; }

    /// <summary>The fine-tuned featurizer graph (<c>pixels</c> → <c>embedding</c>) inside <see cref="Featurizer"/>.</summary>
    internal ModelProto FeaturizerModel { get; }

    /// <summary>SHA-256 of <see cref="FeaturizerModel"/>'s bytes.</summary>
    public string FeaturizerSha256 { get; }

    /// <summary>The trained module (pixels → logits), for inspection or more training; the result owns it.</summary>
    public OnnxTorchModule Module { get; }

    public void Dispose() => Module.Dispose();
}
