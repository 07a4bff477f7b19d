namespace MlNetTransfer;

/// <summary>Writes files so that a reader never sees a half-written one: write beside, then rename.</summary>
public static class AtomicFile
{
    /// <summary>Runs <paramref name="write"/> against a temporary file next to <paramref name="path"/>, then moves it into place.
    /// On any failure the temporary file is deleted and <paramref name="path"/> is left as it was.</summary>
    public static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            write(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, tmp => File.WriteAllBytes(tmp, bytes));

    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));

    public static void WriteStream(string path, Action<Stream> write) => Write(path, tmp =>
    {
        using var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write);
        write(fs);
    });
}
