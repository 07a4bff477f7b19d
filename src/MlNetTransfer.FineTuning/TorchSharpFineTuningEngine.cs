using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.FineTuning;

// How MlNetTransfer's facade finds this assembly's engine (FineTuningEngines.Find).
[assembly: FineTuningEngine(typeof(TorchSharpFineTuningEngine))]

namespace MlNetTransfer.FineTuning;

/// <summary>The facade's fine-tune, chain-thaw and auto strategies, run by <see cref="FineTuningTrainer"/>; and Grad-CAM (<see cref="GradCam"/>).</summary>
internal sealed class TorchSharpFineTuningEngine : IFineTuningEngine, IGradCamEngine
{
    public IFineTunedClassifier Train(MLContext ml, FineTuneOptions options, ResolvedBackbone backbone, IReadOnlyList<ImageExample> train,
        IReadOnlyList<ImageExample> validation, IReadOnlyList<string> classes, IProgress<FineTuneProgress>? progress, CancellationToken cancel) =>
        new FineTuningTrainer(ml, options, backbone).Train(train, validation, classes, progress, cancel);

    public IResumableFineTuning Start(MLContext ml, FineTuneOptions options, ResolvedBackbone backbone, IReadOnlyList<ImageExample> train,
        IReadOnlyList<ImageExample> validation, IReadOnlyList<string> classes) =>
        new FineTuningTrainer(ml, options, backbone).Start(train, validation, classes);

    public IGradCamNetwork Load(Export.SavedChain chain, int classes, string source) => GradCam.Load(chain, classes, source);
}
