using System.Reflection;
using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;

namespace MlNetTransfer.FineTuning;

/// <summary>
/// The fine-tuning engine as the facade sees it. It lives in the <c>MlNetTransfer.FineTuning</c> package (TorchSharp and
/// libtorch), so that an app which only featurizes, trains heads or predicts does not carry them;
/// <see cref="FineTuningEngines"/> finds it at run time.
/// </summary>
internal interface IFineTuningEngine
{
    /// <summary>Trains to the end (all epochs, early stopping or <paramref name="cancel"/>, which keeps the best epoch).</summary>
    IFineTunedClassifier Train(MLContext ml, FineTuneOptions options, ResolvedBackbone backbone, IReadOnlyList<ImageExample> train,
        IReadOnlyList<ImageExample> validation, IReadOnlyList<string> classes, IProgress<FineTuneProgress>? progress, CancellationToken cancel);

    /// <summary>A run that trains a few epochs at a time, for successive halving.</summary>
    IResumableFineTuning Start(MLContext ml, FineTuneOptions options, ResolvedBackbone backbone, IReadOnlyList<ImageExample> train,
        IReadOnlyList<ImageExample> validation, IReadOnlyList<string> classes);
}

/// <summary>A fine-tuned classifier: the ML.NET chain that predicts with it and how training went. Disposing it frees the
/// trained network.</summary>
internal interface IFineTunedClassifier : IDisposable
{
    /// <summary>Image path → <c>embedding</c>, <c>Score</c>, <c>PredictedLabel</c>: <see cref="Featurizer"/>, then <see cref="Head"/>.</summary>
    ITransformer Model { get; }

    /// <summary>The fine-tuned network up to the embedding, as ML.NET's image chain and <c>ApplyOnnxModel</c>.</summary>
    ITransformer Featurizer { get; }

    /// <summary>The trained linear head as ML.NET's multiclass predictor, then key → class name.</summary>
    ITransformer Head { get; }

    FineTuneRun Run { get; }

    /// <summary>The pretrained featurizer the run started from.</summary>
    PreparedBackbone Backbone { get; }

    /// <summary>SHA-256 of the fine-tuned featurizer graph.</summary>
    string FeaturizerSha256 { get; }
}

/// <summary>A fine-tuning run trained a few epochs at a time; <see cref="Complete"/> ends it on its best epoch.</summary>
internal interface IResumableFineTuning : IDisposable
{
    /// <summary>True once the run has ended: all its epochs, early stopping, or a cancellation.</summary>
    bool IsFinished { get; }

    /// <summary>Epochs trained so far with pretrained layers learning.</summary>
    int FineTuningEpochs { get; }

    FineTuneRun Run { get; }

    /// <summary>Keep a snapshot of the trained head phase (<see cref="HeadStart"/>) for other runs with the same start.</summary>
    bool KeepHeadStart { get; set; }

    /// <summary>Whether early stopping's patience may end the run; off, it trains to the end of its schedule and keeps its best epoch.</summary>
    bool StopsEarly { get; set; }

    /// <summary>Re-plans the run's length as it trains (fine-tuning epochs so far, its fastest epoch's seconds → the epochs to end
    /// at; only ever shortens). Null: the plan stands.</summary>
    Func<int, double, int>? Replan { get; set; }

    /// <summary>The head phase's snapshot once trained with <see cref="KeepHeadStart"/>; only <see cref="StartFrom"/> of a run
    /// of the same engine reads it.</summary>
    object? HeadStart { get; }

    /// <summary>Begins from another run's head phase instead of training its own; throws <see cref="InvalidOperationException"/>
    /// when that run's head settings differ.</summary>
    void StartFrom(object headStart);

    /// <summary>Trains up to <paramref name="fineTuningEpochs"/> more epochs (null: to the end); returns the epochs trained.</summary>
    int Advance(int? fineTuningEpochs, IProgress<FineTuneProgress>? progress = null, CancellationToken cancel = default);

    /// <summary>Ends the run on its best epoch; the result owns the network from then on.</summary>
    IFineTunedClassifier Complete();
}

/// <summary>Names the <see cref="IFineTuningEngine"/> an assembly provides (the <c>MlNetTransfer.FineTuning</c> assembly does).</summary>
[AttributeUsage(AttributeTargets.Assembly)]
internal sealed class FineTuningEngineAttribute(Type engineType) : Attribute
{
    public Type EngineType { get; } = engineType;
}

/// <summary>Finds the fine-tuning engine: the <c>MlNetTransfer.FineTuning</c> assembly, when the app references its package.</summary>
internal static class FineTuningEngines
{
    /// <summary>The engine's package and assembly name.</summary>
    public const string PackageName = "MlNetTransfer.FineTuning";

    private static readonly Lazy<IFineTuningEngine?> Found = new(() => Find(PackageName));

    /// <summary>The engine, or null when the app does not reference the package.</summary>
    public static IFineTuningEngine? Installed => Found.Value;

    /// <summary>Grad-CAM, which the same package provides; null without it.</summary>
    public static IGradCamEngine? GradCam => Found.Value as IGradCamEngine;

    /// <summary>What to tell a user whose app has no engine: <paramref name="what"/> needs it, and how to add it.</summary>
    public static string MissingMessage(string what) =>
        $"{what} needs the fine-tuning engine, which ships in its own package with TorchSharp and libtorch: " +
        $"add it with `dotnet add package {PackageName}`. Without it, the feature-extractor strategy and auto's heads work.";

    /// <summary>Loads <paramref name="assemblyName"/> and creates the engine it declares; null when there is no such assembly.</summary>
    internal static IFineTuningEngine? Find(string assemblyName)
    {
        Assembly assembly;
        try
        {
            assembly = Assembly.Load(new AssemblyName(assemblyName));
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        // The engine uses the core's internals, which may change between versions: both must be the same build.
        var (engineVersion, coreVersion) = (VersionOf(assembly), VersionOf(typeof(FineTuningEngines).Assembly));
        if (engineVersion != coreVersion)
            throw new MlNetTransferException($"{assemblyName} {engineVersion} does not match MlNetTransfer {coreVersion} ({assembly.Location}): " +
                                             "reference the same version of both packages.");
        var declared = assembly.GetCustomAttribute<FineTuningEngineAttribute>()
            ?? throw new MlNetTransferException($"{assembly.Location}: {assemblyName} declares no fine-tuning engine.");
        return (IFineTuningEngine)Activator.CreateInstance(declared.EngineType)!;
    }

    private static string VersionOf(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? assembly.GetName().Version?.ToString() ?? "";
}
