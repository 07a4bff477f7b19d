namespace MlNetTransfer.Tests.Importers;

/// <summary>
/// Small tfjs-layers models written by tests/js/tfjs-reference.cjs (one folder per case: model.json, shards,
/// reference.json with TensorFlow.js' outputs), generated once per test class into a temporary folder.
/// </summary>
public sealed class TfjsTinyModelsFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "mlnet-transfer-tfjs-" + Guid.NewGuid().ToString("N"));

    public TfjsTinyModelsFixture()
    {
        TfjsNode.Run("tiny", Root);
    }

    public string ModelJson(string name) => Path.Combine(Root, name, "model.json");

    public TfjsReference Reference(string name) => TfjsReference.Load(Path.Combine(Root, name, "reference.json"));

    /// <summary>A fresh copy of a case's folder that a test may modify.</summary>
    public string CopyCase(string name)
    {
        var dest = Path.Combine(Root, name + "-copy-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dest);
        foreach (var f in Directory.GetFiles(Path.Combine(Root, name))) File.Copy(f, Path.Combine(dest, Path.GetFileName(f)));
        return dest;
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
