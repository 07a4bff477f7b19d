namespace MlNetTransfer;

/// <summary>Writes files so that a reader never sees a half-written one: write beside, then rename.</summary>
public static class AtomicFile
{
    /// <summary>Runs <paramref name="write"/> against a temporary file next to <paramref name="path"/>, then moves it into place.
    /// On any failure the temporary file is deleted and <paramref name="path"/> is left as it was.</summary>
    public static void Write(string path, Action<string> write) => WriteAll((path, write));

    /// <summary>Writes several files that belong together: all are written to temporary files first, and only when
    /// every write succeeded are they moved into place, so a failure leaves none of them half-written or stale-mixed.</summary>
    public static void WriteAll(params (string Path, Action<string> Write)[] files)
    {
        var temps = new List<(string Tmp, string Final)>();
        var moved = new List<(string Final, string? Backup)>();
        try
        {
            foreach (var (path, write) in files)
            {
                var full = System.IO.Path.GetFullPath(path);
                if (Directory.Exists(full)) throw new IOException($"{path}: is a folder, cannot write a file there.");
                temps.Add((TempBeside(full), full));
                write(temps[^1].Tmp);
            }
            try
            {
                foreach (var (tmp, final) in temps)
                {
                    string? backup = null;
                    if (File.Exists(final)) File.Move(final, backup = TempBeside(final));
                    moved.Add((final, backup));
                    File.Move(tmp, final);
                }
            }
            catch
            {
                // Put back what was there before: the set of files changes together or not at all.
                foreach (var (final, backup) in Enumerable.Reverse(moved))
                {
                    if (File.Exists(final) && (backup is null || File.Exists(backup))) File.Delete(final);
                    if (backup is not null && File.Exists(backup)) File.Move(backup, final);
                }
                moved.Clear();
                throw;
            }
            foreach (var (_, backup) in moved)
                if (backup is not null) File.Delete(backup);
        }
        finally
        {
            foreach (var (tmp, _) in temps)
                if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static string TempBeside(string full)
    {
        var dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        return System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
    }

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, tmp => File.WriteAllBytes(tmp, bytes));

    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));

    public static void WriteStream(string path, Action<Stream> write) => Write(path, tmp =>
    {
        using var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write);
        write(fs);
    });
}
