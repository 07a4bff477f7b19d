using System.IO.Compression;
using System.Text.Json;

namespace MlNetTransfer;

/// <summary>What a saved model zip says about itself, readable without running a prediction.
/// Stored as the extra entry <c>MlNetTransfer/metadata.json</c>; ML.NET ignores entries it does not know.</summary>
public sealed record ModelMetadata
{
    public const string EntryName = "MlNetTransfer/metadata.json";

    public string Tool { get; init; } = "mlnet-transfer";
    public string Version { get; init; } = ProductVersion.Current;
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;
    public string Kind { get; init; } = "feature-extractor";
    public IReadOnlyList<string> Classes { get; init; } = [];
    public string Backbone { get; init; } = "";
    public string BackboneSha256 { get; init; } = "";
    public int InputWidth { get; init; }
    public int InputHeight { get; init; }
    public string Trainer { get; init; } = "";
    public string ImagePathColumn { get; init; } = "ImagePath";
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    public static ModelMetadata? Read(string zipPath)
    {
        using var file = File.OpenRead(zipPath);
        return Read(file);
    }

    /// <summary>Reads the entry from a model zip's bytes (the stream is left open); null when the zip has none.</summary>
    public static ModelMetadata? Read(Stream zipStream)
    {
        using var zip = new ZipArchive(zipStream, ZipArchiveMode.Read, leaveOpen: true);
        var entry = zip.GetEntry(EntryName);
        if (entry is null) return null;
        using var s = entry.Open();
        return JsonSerializer.Deserialize<ModelMetadata>(s, Reporting.TrainingReport.JsonOptions);
    }

    /// <summary>Adds (or replaces) the entry in a zip that is not yet in its final place.</summary>
    internal void WriteInto(string zipPath)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        zip.GetEntry(EntryName)?.Delete();
        using var s = zip.CreateEntry(EntryName, CompressionLevel.Optimal).Open();
        JsonSerializer.Serialize(s, this, Reporting.TrainingReport.JsonOptions);
    }
}
