using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MlNetTransfer.Serving;

/// <summary>
/// The named models registered with <c>services.AddImageClassifier(...)</c>, loaded when the pool is first resolved
/// (a bad zip fails the app at start, not on the first request). The counterpart of <c>Microsoft.Extensions.ML</c>'s
/// <c>PredictionEnginePool</c> for image models: each model pools its own prediction engines and may reload itself.
/// </summary>
public sealed class ImageClassifierPool : IDisposable
{
    /// <summary>The name used by the <c>AddImageClassifier(zipPath)</c> overload (the options pattern's default name, "").</summary>
    public const string DefaultModelName = "";

    private readonly Dictionary<string, ReloadingImageClassifier> _models = new(StringComparer.Ordinal);

    internal ImageClassifierPool(IEnumerable<ImageClassifierRegistration> registrations, IOptionsMonitor<ImageClassifierOptions> options,
        ILoggerFactory? loggerFactory)
    {
        var logger = loggerFactory?.CreateLogger<ReloadingImageClassifier>();
        try
        {
            foreach (var registration in registrations)
                _models.Add(registration.Name,
                    new ReloadingImageClassifier(registration.ModelPath, options.Get(registration.Name), logger, registration.Name));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The registered model names.</summary>
    public IReadOnlyCollection<string> ModelNames => _models.Keys;

    /// <summary>The model registered as <paramref name="modelName"/>. Hold on to it freely: it follows reloads.</summary>
    public ReloadingImageClassifier Get(string modelName = DefaultModelName)
    {
        ArgumentNullException.ThrowIfNull(modelName);
        if (_models.TryGetValue(modelName, out var model)) return model;
        var known = _models.Count == 0 ? "none" : string.Join(", ", _models.Keys.Select(k => k == "" ? "(default)" : $"'{k}'"));
        throw new MlNetTransferException(
            $"No image classifier named {(modelName == "" ? "(default)" : $"'{modelName}'")} is registered (registered: {known}); add it with services.AddImageClassifier.");
    }

    /// <summary>Shortcut for <c>Get(modelName).Predict(image, name)</c>.</summary>
    public ImagePrediction Predict(string modelName, Stream image, string? name = null) => Get(modelName).Predict(image, name);

    public void Dispose()
    {
        foreach (var model in _models.Values) model.Dispose();
    }
}
