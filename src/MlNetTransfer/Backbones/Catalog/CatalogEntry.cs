using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace MlNetTransfer.Backbones.Catalog;

/// <summary>
/// One pretrained backbone in <c>models/catalog.json</c>: its files and their hashes, where they come from,
/// how to feed it (the <see cref="BackboneSpec"/> facts) and what it costs. Field-by-field documentation is in
/// <c>models/README.md</c>.
/// </summary>
public sealed partial record CatalogEntry
{
    /// <summary>Formats an entry can have: an ONNX file, a TensorFlow.js layers model (model.json + shards),
    /// or a TensorFlow.js layers model wrapped in UMD JavaScript bundles (as npm packages ship them).</summary>
    public static readonly IReadOnlyList<string> Formats = ["onnx", "tfjs-layers", "tfjs-umd"];

    /// <summary>Catalog name, e.g. <c>mobilenet_v2</c>; what users type.</summary>
    public string Name { get; init; } = "";

    /// <summary>One-line human description.</summary>
    public string? Title { get; init; }

    /// <summary><c>onnx</c>, <c>tfjs-layers</c> or <c>tfjs-umd</c>.</summary>
    public string Format { get; init; } = "onnx";

    /// <summary>Install folder name under the cache, also the sub-folder looked for in mirrors. Null means <see cref="Name"/>.</summary>
    public string? Directory { get; init; }

    /// <summary>The file a loader opens (the .onnx file or model.json / model.min.js).</summary>
    public string MainFile { get; init; } = "";

    public IReadOnlyList<CatalogFile> Files { get; init; } = [];

    /// <summary>The npm package holding the files that have an <see cref="CatalogFile.NpmPath"/>, or null.</summary>
    public NpmSource? Npm { get; init; }

    /// <summary>Where the SHA-256 values were published or how they were obtained.</summary>
    public string? HashSource { get; init; }

    public string? InputName { get; init; }
    public int InputWidth { get; init; } = 224;
    public int InputHeight { get; init; } = 224;

    /// <summary><c>NCHW</c> or <c>NHWC</c>.</summary>
    public string Layout { get; init; } = "NCHW";

    /// <summary><c>RGB</c> or <c>BGR</c>.</summary>
    public string ChannelOrder { get; init; } = "RGB";

    /// <summary>Pixel p in 0..255 becomes (p * PixelScale - Mean[c]) / Std[c].</summary>
    public float PixelScale { get; init; } = 1f / 255f;
    public float[] Mean { get; init; } = [0.485f, 0.456f, 0.406f];
    public float[] Std { get; init; } = [0.229f, 0.224f, 0.225f];

    /// <summary>Whether the graph's batch dimension is fixed at 1 (feed one image per run).</summary>
    public bool FixedBatch { get; init; }

    /// <summary>Centre-crop share at evaluation (torchvision's Resize 256 + CenterCrop 224 is 0.875); 1 = none. See <see cref="BackboneSpec.CropFraction"/>.</summary>
    public float CropFraction { get; init; } = 1f;

    /// <summary>Where the preprocessing facts come from.</summary>
    public string? PreprocessingSource { get; init; }

    /// <summary>Tensor (ONNX) or layer (TF.js) holding the embedding; null means "not verified, detect it".</summary>
    public string? EmbeddingTensor { get; init; }
    public int? EmbeddingSize { get; init; }
    public string? EmbeddingNote { get; init; }

    public string? ClassifierTensor { get; init; }
    public bool ClassifierOutputsProbabilities { get; init; }
    public int? ClassCount { get; init; }

    /// <summary>Name of a shared <see cref="LabelFile"/> of the catalog, or null.</summary>
    public string? LabelsFile { get; init; }

    /// <summary>Class names given inline (for short lists), written to <c>labels.txt</c> on install; or null.</summary>
    public string[]? Labels { get; init; }

    /// <summary>What the network was trained on.</summary>
    public string SourceDomain { get; init; } = "unknown";

    /// <summary>Parameter count (approximate where <see cref="CostSource"/> says so).</summary>
    public long? Parameters { get; init; }

    /// <summary>Multiply-accumulates per image at the input size (approximate).</summary>
    public long? Macs { get; init; }
    public string? CostSource { get; init; }
    public string? License { get; init; }
    public string? Homepage { get; init; }
    public string? Notes { get; init; }

    /// <summary>The install folder name: <see cref="Directory"/>, or <see cref="Name"/> when that is not set.</summary>
    [JsonIgnore]
    public string InstallDirectoryName => string.IsNullOrEmpty(Directory) ? Name : Directory;

    /// <summary>Sum of the sizes of all files.</summary>
    [JsonIgnore]
    public long TotalSize => Files.Sum(f => f.Size);

    /// <summary>The catalog file entry named <see cref="MainFile"/>.</summary>
    [JsonIgnore]
    public CatalogFile Main => Files.First(f => f.Name == MainFile);

    /// <summary>The featurizer-facing facts, with <paramref name="labelsPath"/> as the labels file (null when there is none).</summary>
    public BackboneSpec ToSpec(string? labelsPath = null) => new()
    {
        Name = Name,
        InputWidth = InputWidth,
        InputHeight = InputHeight,
        Layout = Layout,
        ChannelOrder = ChannelOrder,
        PixelScale = PixelScale,
        CropFraction = CropFraction,
        Mean = Mean,
        Std = Std,
        InputName = InputName,
        EmbeddingTensor = EmbeddingTensor,
        ClassifierTensor = ClassifierTensor,
        ClassifierOutputsProbabilities = ClassifierOutputsProbabilities,
        LabelsFile = labelsPath,
        SourceDomain = SourceDomain,
    };

    /// <summary>Checks everything a catalog author can get wrong; <paramref name="where"/> names the catalog file in messages.</summary>
    public void Validate(string where, Func<string, bool> labelFileExists)
    {
        void Fail(string problem) => throw new MlNetTransferException($"{where}: backbone '{Name}': {problem}");

        if (!SafeName().IsMatch(Name)) Fail("the name must be letters, digits, '_', '-' or '.', not starting with '.'.");
        if (!SafeName().IsMatch(InstallDirectoryName)) Fail($"directory '{InstallDirectoryName}' must be a plain folder name.");
        if (!Formats.Contains(Format)) Fail($"format '{Format}' must be one of {string.Join(", ", Formats)}.");
        if (Files.Count == 0) Fail("it lists no files.");

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var f in Files)
        {
            if (!IsPlainFileName(f.Name))
                Fail($"file name '{f.Name}' must be a plain file name.");
            if (!seen.Add(f.Name)) Fail($"file '{f.Name}' is listed twice.");
            if (!IsSha256(f.Sha256)) Fail($"file '{f.Name}': sha256 '{f.Sha256}' is not 64 lower-case hex digits.");
            if (f.Size <= 0) Fail($"file '{f.Name}': size must be positive.");
            if (f.Url is null && f.NpmPath is null) Fail($"file '{f.Name}' has neither a url nor an npmPath.");
            if (f.Url is not null && !IsHttpsUrl(f.Url))
                Fail($"file '{f.Name}': url '{f.Url}' is not an absolute https URL.");
            if (f.NpmPath is not null && Npm is null) Fail($"file '{f.Name}' has an npmPath but the entry has no npm package.");
        }

        if (Npm is not null)
        {
            if (string.IsNullOrWhiteSpace(Npm.Package) || string.IsNullOrWhiteSpace(Npm.Version)) Fail("npm needs a package and an exact version.");
            if (!ExactVersion().IsMatch(Npm.Version)) Fail($"npm version '{Npm.Version}' must be an exact version such as 4.4.0, not a range.");
            if (Npm.TarballUrl is not null && !IsHttpsUrl(Npm.TarballUrl))
                Fail($"npm tarballUrl '{Npm.TarballUrl}' is not an absolute https URL.");
        }

        if (!Files.Any(f => f.Name == MainFile)) Fail($"mainFile '{MainFile}' is not one of its files.");
        if (Format == "onnx" && !MainFile.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) Fail("an onnx entry's mainFile must be a .onnx file.");
        if (Format == "tfjs-layers" && MainFile != "model.json") Fail("a tfjs-layers entry's mainFile must be model.json.");

        if (LabelsFile is not null && Labels is not null) Fail("give labelsFile or labels, not both.");
        if (LabelsFile is not null && !labelFileExists(LabelsFile)) Fail($"labelsFile '{LabelsFile}' is not in the catalog's labelFiles.");
        if (Labels is not null && ClassCount is int n && Labels.Length != n) Fail($"labels has {Labels.Length} names but classCount is {n}.");
        if (Labels is not null && Labels.Any(l => string.IsNullOrWhiteSpace(l) || l.Contains('\n'))) Fail("labels must be non-empty single-line names.");

        try { ToSpec().Validate(); }
        catch (MlNetTransferException e) { Fail(e.Message); }
    }

    internal static bool IsPlainFileName(string name) =>
        !string.IsNullOrWhiteSpace(name) && name == Path.GetFileName(name) && !name.StartsWith('.') && name.IndexOfAny(['/', '\\']) < 0;

    internal static bool IsSha256(string hex) => Sha256Hex().IsMatch(hex);

    internal static bool IsHttpsUrl(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme == Uri.UriSchemeHttps;

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
    internal static partial Regex SafeName();

    [GeneratedRegex(@"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")]
    private static partial Regex ExactVersion();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();
}
