namespace MlNetTransfer.Backbones.Catalog;

/// <summary>Where <see cref="BackboneInstaller"/> keeps backbones and where it may fetch them from.</summary>
public sealed class InstallOptions
{
    /// <summary>Environment variable that overrides the cache folder.</summary>
    public const string HomeVariable = "MLNET_TRANSFER_HOME";

    /// <summary>Environment variable with extra mirror folders, separated by <see cref="Path.PathSeparator"/>.</summary>
    public const string MirrorsVariable = "MLNET_TRANSFER_MIRRORS";

    /// <summary>Folder holding one sub-folder per installed backbone.
    /// Default: <c>$MLNET_TRANSFER_HOME</c> when set, otherwise <c>~/.cache/mlnet-transfer/models</c>.</summary>
    public string CacheDirectory { get; set; } = DefaultCacheDirectory();

    /// <summary>Local folders holding copies of the official files (by file name, or in a sub-folder named like the
    /// entry's directory). Searched in order, before <see cref="MirrorsVariable"/>'s folders. Default: none.</summary>
    public List<string> Mirrors { get; } = [];

    /// <summary>Whether the folders in <c>$MLNET_TRANSFER_MIRRORS</c> are searched too. Default true.</summary>
    public bool UseEnvironmentMirrors { get; set; } = true;

    /// <summary>Whether npm-sourced entries may be fetched with <c>npm pack</c> (or the registry tarball). Default true.</summary>
    public bool AllowNpm { get; set; } = true;

    /// <summary>Whether files may be downloaded over HTTPS. Default true.</summary>
    public bool AllowDownload { get; set; } = true;

    /// <summary>The npm executable (name on PATH or a full path). Default <c>npm</c>.</summary>
    public string NpmCommand { get; set; } = "npm";

    /// <summary>Client used for downloads; null means a shared client of the installer's own.</summary>
    public HttpClient? HttpClient { get; set; }

    /// <summary>A download that receives nothing for this long is abandoned (and can be resumed later). Default 60 s.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Receives byte counts while files are copied, extracted or downloaded. Default none.</summary>
    public IProgress<InstallProgress>? Progress { get; set; }

    /// <summary>Receives one-line reports: where each file came from, refused copies, reinstalls. Default none.</summary>
    public Action<string>? Log { get; set; }

    /// <summary><c>models/</c> under <see cref="MlNetTransferPaths.Home"/> (<c>$MLNET_TRANSFER_HOME</c>, else <c>~/.cache/mlnet-transfer</c>),
    /// beside the embedding cache.</summary>
    public static string DefaultCacheDirectory() => Path.GetFullPath(Path.Combine(MlNetTransferPaths.Home, "models"));

    /// <summary>Splits a <c>$MLNET_TRANSFER_MIRRORS</c> value into folders.</summary>
    public static IReadOnlyList<string> ParseMirrorList(string? value) =>
        string.IsNullOrWhiteSpace(value)
            ? []
            : value.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary><see cref="Mirrors"/> followed by the environment's mirrors (when enabled), without duplicates.</summary>
    public IReadOnlyList<string> EffectiveMirrors()
    {
        var all = Mirrors.AsEnumerable();
        if (UseEnvironmentMirrors) all = all.Concat(ParseMirrorList(Environment.GetEnvironmentVariable(MirrorsVariable)));
        return all.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal).ToList();
    }
}
