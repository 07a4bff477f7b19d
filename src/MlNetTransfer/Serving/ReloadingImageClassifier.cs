using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetTransfer.Serving;

/// <summary>
/// A model zip that can be replaced while it serves. Each call runs on the model that is current when it starts;
/// <see cref="Reload"/> (or, with <see cref="ImageClassifierOptions.ReloadOnChange"/>, a change to the file) loads the new
/// zip beside the old one and swaps it in atomically. Calls already running finish on the old model, which is disposed
/// when the last of them returns. A new file that does not load is refused with a logged error, and the old model keeps
/// serving. Thread-safe.
/// </summary>
public sealed class ReloadingImageClassifier : IImageClassifier, IDisposable
{
    private readonly ImageClassifierOptions _options;
    private readonly ILogger _logger;
    private readonly object _reloadGate = new();
    private readonly FileSystemWatcher? _watcher;
    private readonly Timer? _debounce;
    private ModelVersion _current;
    private volatile string? _lastReloadError;
    private int _disposed;

    /// <summary>Loads <paramref name="zipPath"/> now (a bad file throws <see cref="MlNetTransferException"/>) and, when
    /// <see cref="ImageClassifierOptions.ReloadOnChange"/> is set, starts watching it.</summary>
    /// <param name="zipPath">The model zip.</param>
    /// <param name="options">Decoding limits, pool size and reload behaviour; defaults when null.</param>
    /// <param name="logger">Where reloads and refused files are reported.</param>
    /// <param name="name">The model's name in log messages (its registration name).</param>
    public ReloadingImageClassifier(string zipPath, ImageClassifierOptions? options = null, ILogger? logger = null, string name = "")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(zipPath);
        _options = options ?? new ImageClassifierOptions();
        _logger = logger ?? NullLogger.Instance;
        Name = name;
        ModelPath = Path.GetFullPath(zipPath);
        _current = new ModelVersion(ImageClassifier.Load(new MLContext(), ModelPath, _options), 1);
        _logger.LogInformation("Model {Name} loaded from {Path} ({Classes} classes, sha256 {Sha})",
            DisplayName, ModelPath, _current.Classifier.Classes.Count, _current.Classifier.ModelSha256);
        if (!_options.ReloadOnChange) return;

        _debounce = new Timer(_ => ReloadQuietly(), null, Timeout.Infinite, Timeout.Infinite);
        var fileName = Path.GetFileName(ModelPath);
        // The folder is watched, not the file: a model written beside and renamed into place is a new file.
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(ModelPath)!)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            IncludeSubdirectories = false,
        };
        void OnChange(object? sender, FileSystemEventArgs e)
        {
            if (string.Equals(e.Name, fileName, StringComparison.Ordinal)) ScheduleReload();
        }
        _watcher.Changed += OnChange;
        _watcher.Created += OnChange;
        _watcher.Renamed += (s, e) => OnChange(s, e);
        _watcher.Deleted += (_, e) =>
        {
            if (string.Equals(e.Name, fileName, StringComparison.Ordinal))
                _logger.LogWarning("Model {Name}: {Path} was deleted; still serving the model loaded from it", DisplayName, ModelPath);
        };
        _watcher.Error += (_, e) =>
        {
            _logger.LogWarning("Model {Name}: watching {Path} failed ({Error}); checking the file now", DisplayName, ModelPath, e.GetException().Message);
            ScheduleReload();
        };
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>The registration name ("" for the default model).</summary>
    public string Name { get; }

    /// <summary>Full path of the watched zip.</summary>
    public string ModelPath { get; }

    /// <summary>1 for the model loaded at start, one more for each successful reload.</summary>
    public int Generation => Volatile.Read(ref _current).Generation;

    /// <summary>When the current model was loaded (UTC).</summary>
    public DateTime LoadedUtc => Volatile.Read(ref _current).Classifier.LoadedUtc;

    /// <summary>SHA-256 of the current model's zip.</summary>
    public string ModelSha256 => Volatile.Read(ref _current).Classifier.ModelSha256;

    /// <summary>Why the last reload attempt was refused; null when it succeeded (or none was made).</summary>
    public string? LastReloadError => _lastReloadError;

    /// <summary>Raised after a new model has been swapped in.</summary>
    public event EventHandler? Reloaded;

    public ModelMetadata Metadata => Volatile.Read(ref _current).Classifier.Metadata;

    public IReadOnlyList<string> Classes => Volatile.Read(ref _current).Classifier.Classes;

    private string DisplayName => Name == "" ? "(default)" : Name;

    /// <summary>Loads the zip again and swaps it in if its bytes changed. Returns true when a new model now serves;
    /// false when the file is unchanged or was refused (see <see cref="LastReloadError"/>; the error is also logged).</summary>
    public bool Reload()
    {
        lock (_reloadGate)
        {
            if (Volatile.Read(ref _disposed) != 0) return false;
            ImageClassifier next;
            try
            {
                next = ImageClassifier.Load(new MLContext(), ModelPath, _options);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                var error = e is MlNetTransferException ? e.Message : $"{ModelPath}: {e.GetType().Name}: {e.Message}";
                _logger.LogError("Model {Name}: reload refused, still serving generation {Generation} (sha256 {Sha}): {Error}",
                    DisplayName, Generation, ModelSha256, error);
                // Published after the log line: whoever sees the error (GET /model, a watcher) finds it logged too.
                _lastReloadError = error;
                return false;
            }
            _lastReloadError = null;
            var old = Volatile.Read(ref _current);
            if (next.ModelSha256 == old.Classifier.ModelSha256)
            {
                next.Dispose();
                return false;
            }
            Volatile.Write(ref _current, new ModelVersion(next, old.Generation + 1));
            old.Release(); // disposed once the calls still running on it return
            _logger.LogInformation("Model {Name} reloaded from {Path}: generation {Generation}, sha256 {Sha}",
                DisplayName, ModelPath, old.Generation + 1, next.ModelSha256);
        }
        Reloaded?.Invoke(this, EventArgs.Empty);
        return true;
    }

    public ImagePrediction Predict(string imagePath)
    {
        var model = Acquire();
        try { return model.Classifier.Predict(imagePath); }
        finally { model.Release(); }
    }

    public ImagePrediction Predict(Stream image, string? name = null)
    {
        var model = Acquire();
        try { return model.Classifier.Predict(image, name); }
        finally { model.Release(); }
    }

    public ImagePrediction Predict(ReadOnlySpan<byte> image, string? name = null)
    {
        var model = Acquire();
        try { return model.Classifier.Predict(image, name); }
        finally { model.Release(); }
    }

    public ImagePrediction Predict(MLImage image)
    {
        var model = Acquire();
        try { return model.Classifier.Predict(image); }
        finally { model.Release(); }
    }

    public IReadOnlyList<ImagePrediction> PredictBatch(IEnumerable<string> imagePaths)
    {
        var model = Acquire();
        try { return model.Classifier.PredictBatch(imagePaths); }
        finally { model.Release(); }
    }

    /// <summary>Runs <paramref name="work"/> on the current model, which stays alive until it returns (even if a
    /// reload swaps it out meanwhile). For several predictions that must come from one model.</summary>
    public T Use<T>(Func<ImageClassifier, T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Use((classifier, _) => work(classifier));
    }

    /// <summary>As <see cref="Use{T}(Func{ImageClassifier, T})"/>, also passing that model's <see cref="Generation"/>.</summary>
    public T Use<T>(Func<ImageClassifier, int, T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var model = Acquire();
        try { return work(model.Classifier, model.Generation); }
        finally { model.Release(); }
    }

    /// <summary>Stops watching and disposes the current model once calls running on it have returned.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _watcher?.Dispose();
        lock (_reloadGate)
        {
            _debounce?.Dispose();
            Volatile.Read(ref _current).Release();
        }
    }

    private ModelVersion Acquire()
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            var model = Volatile.Read(ref _current);
            if (model.TryAcquire()) return model;
            // It was swapped out and released between the read and the acquire: the next read sees its successor.
        }
    }

    private void ScheduleReload()
    {
        try
        {
            _debounce?.Change(_options.ReloadDelay, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Shutting down.
        }
    }

    private void ReloadQuietly()
    {
        try
        {
            Reload();
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Model {Name}: reload failed unexpectedly; still serving the previous model", DisplayName);
        }
    }

    /// <summary>One loaded model and a count of its users: the holder (while it is current) plus each running call.</summary>
    private sealed class ModelVersion(ImageClassifier classifier, int generation)
    {
        private int _users = 1;

        public ImageClassifier Classifier { get; } = classifier;
        public int Generation { get; } = generation;

        /// <summary>Counts one more user, unless the count already reached zero (the model is being disposed).</summary>
        public bool TryAcquire()
        {
            var users = Volatile.Read(ref _users);
            while (users > 0)
            {
                var seen = Interlocked.CompareExchange(ref _users, users + 1, users);
                if (seen == users) return true;
                users = seen;
            }
            return false;
        }

        public void Release()
        {
            if (Interlocked.Decrement(ref _users) == 0) Classifier.Dispose();
        }
    }
}
