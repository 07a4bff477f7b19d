using System.Text.Json;
using System.Text.Json.Serialization;

namespace MlNetTransfer.Backbones.Catalog;

/// <summary>
/// The list of pretrained backbones the project can install and verify, read from <c>models/catalog.json</c>
/// (copied next to the executable) or from any catalog file with the same schema.
/// </summary>
public sealed class BackboneCatalog
{
    /// <summary>The schema version this code reads.</summary>
    public const int SchemaVersion = 1;

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        // A misspelt field ("sha265") must be an error, not a silently missing hash.
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    private readonly Dictionary<string, CatalogEntry> _byName;
    private readonly Dictionary<string, LabelFile> _labelFiles;

    private BackboneCatalog(string path, string defaultName, IReadOnlyList<CatalogEntry> entries, IReadOnlyList<LabelFile> labelFiles)
    {
        FilePath = path;
        DefaultName = defaultName;
        All = entries;
        LabelFiles = labelFiles;
        _byName = entries.ToDictionary(e => e.Name, StringComparer.OrdinalIgnoreCase);
        _labelFiles = labelFiles.ToDictionary(l => l.Name, StringComparer.Ordinal);
    }

    /// <summary>Where <c>models/catalog.json</c> is looked for by <see cref="LoadDefault"/>: beside the executable.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "models", "catalog.json");

    /// <summary>The catalog file this was read from.</summary>
    public string FilePath { get; }

    /// <summary>The folder of <see cref="FilePath"/>; shared label files are looked for here first.</summary>
    public string BaseDirectory => Path.GetDirectoryName(Path.GetFullPath(FilePath))!;

    /// <summary>Name of the built-in default backbone.</summary>
    public string DefaultName { get; }

    public CatalogEntry Default => Find(DefaultName);

    public IReadOnlyList<CatalogEntry> All { get; }

    public IReadOnlyList<LabelFile> LabelFiles { get; }

    /// <summary>The entry called <paramref name="name"/> (case-insensitive), or null.</summary>
    public CatalogEntry? TryFind(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The entry called <paramref name="name"/>; an unknown name is an error that lists the known ones.</summary>
    public CatalogEntry Find(string name) =>
        TryFind(name) ?? throw new MlNetTransferException(
            $"Unknown backbone '{name}'. The catalog {FilePath} has: {string.Join(", ", All.Select(e => e.Name))}. " +
            "To use your own model, run `mlnet-transfer backbones import PATH --name NAME`.");

    public LabelFile? FindLabelFile(string name) => _labelFiles.GetValueOrDefault(name);

    /// <summary>Loads the catalog beside the executable (<see cref="DefaultPath"/>).</summary>
    public static BackboneCatalog LoadDefault() => Load(DefaultPath);

    /// <summary>Loads and validates a catalog file.</summary>
    public static BackboneCatalog Load(string path)
    {
        if (!File.Exists(path))
            throw new MlNetTransferException($"{path}: backbone catalog not found (it ships as models/catalog.json beside the mlnet-transfer executable).");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates catalog JSON; <paramref name="path"/> names it in messages and locates shared label files.</summary>
    public static BackboneCatalog Parse(string json, string path)
    {
        CatalogDocument? doc;
        try
        {
            doc = JsonSerializer.Deserialize<CatalogDocument>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new MlNetTransferException($"{path}: not a valid backbone catalog ({e.Message}).", e);
        }
        if (doc is null) throw new MlNetTransferException($"{path}: the catalog is empty.");
        if (doc.SchemaVersion != SchemaVersion)
            throw new MlNetTransferException($"{path}: schemaVersion {doc.SchemaVersion} is not supported (this version reads {SchemaVersion}).");
        if (doc.Backbones.Count == 0) throw new MlNetTransferException($"{path}: the catalog lists no backbones.");

        var labelNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in doc.LabelFiles)
        {
            if (!CatalogEntry.IsPlainFileName(l.Name)) throw new MlNetTransferException($"{path}: label file name '{l.Name}' must be a plain file name.");
            if (!CatalogEntry.IsSha256(l.Sha256)) throw new MlNetTransferException($"{path}: label file '{l.Name}': sha256 '{l.Sha256}' is not 64 lower-case hex digits.");
            if (l.Size <= 0) throw new MlNetTransferException($"{path}: label file '{l.Name}': size must be positive.");
            if (l.Url is not null && !CatalogEntry.IsHttpsUrl(l.Url)) throw new MlNetTransferException($"{path}: label file '{l.Name}': url '{l.Url}' is not an absolute https URL.");
            if (!labelNames.Add(l.Name)) throw new MlNetTransferException($"{path}: label file '{l.Name}' is listed twice.");
        }

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var directories = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var e in doc.Backbones)
        {
            e.Validate(path, labelNames.Contains);
            if (!names.Add(e.Name)) throw new MlNetTransferException($"{path}: backbone '{e.Name}' is listed twice.");
            if (!directories.Add(e.InstallDirectoryName))
                throw new MlNetTransferException($"{path}: backbone '{e.Name}': directory '{e.InstallDirectoryName}' is used by another entry.");
        }

        var defaultName = doc.Default ?? doc.Backbones[0].Name;
        if (!names.Contains(defaultName)) throw new MlNetTransferException($"{path}: default '{defaultName}' is not one of the backbones.");
        return new BackboneCatalog(path, defaultName, doc.Backbones, doc.LabelFiles);
    }

    private sealed class CatalogDocument
    {
        public int SchemaVersion { get; init; }
        public string? Description { get; init; }
        public string? Default { get; init; }
        public List<LabelFile> LabelFiles { get; init; } = [];
        public List<CatalogEntry> Backbones { get; init; } = [];
    }
}
