using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;

namespace MlNetTransfer.Backbones.Catalog;

/// <summary>Gets an npm package tarball with the user's own <c>npm</c> (so their registry and proxy settings apply)
/// and extracts files from it with System.Formats.Tar.</summary>
internal static class NpmPackage
{
    /// <summary>Full path of the npm executable, or null when it is not installed.</summary>
    public static string? Find(string command)
    {
        if (command.IndexOfAny([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar]) >= 0)
            return File.Exists(command) ? Path.GetFullPath(command) : null;
        var names = OperatingSystem.IsWindows() ? new[] { command + ".cmd", command + ".exe", command } : [command];
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in names)
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>Runs <c>npm pack package@version</c> in <paramref name="workDirectory"/> and returns the tarball's path.</summary>
    public static async Task<string> PackAsync(string npm, NpmSource source, string workDirectory, CancellationToken ct)
    {
        Directory.CreateDirectory(workDirectory);
        var start = new ProcessStartInfo(npm)
        {
            WorkingDirectory = workDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "pack", source.Spec, "--ignore-scripts", "--no-fund", "--no-audit" }) start.ArgumentList.Add(arg);

        using var process = Process.Start(start) ?? throw new IOException($"could not start {npm}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var error = await stderr.ConfigureAwait(false);
        await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            var lastLines = string.Join(" / ", error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(3));
            throw new IOException($"`npm pack {source.Spec}` failed with exit code {process.ExitCode}: {lastLines}");
        }
        var tarballs = Directory.GetFiles(workDirectory, "*.tgz");
        return tarballs.Length == 1 ? tarballs[0] : throw new IOException($"`npm pack {source.Spec}` produced no single .tgz in {workDirectory}");
    }

    /// <summary>
    /// Extracts the entries of an npm tarball whose package-relative path is a key of <paramref name="wanted"/> into the
    /// mapped file, returning each extracted path's SHA-256. Paths not in the tarball are simply absent from the result.
    /// </summary>
    public static async Task<Dictionary<string, string>> ExtractAsync(string tarball, IReadOnlyDictionary<string, string> wanted,
        Action<string, long, long?>? progress, CancellationToken ct)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var file = File.OpenRead(tarball);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
            var path = PackageRelative(entry.Name);
            if (!wanted.TryGetValue(path, out var destination) || hashes.ContainsKey(path)) continue;
            long length = entry.Length;
            hashes[path] = await FileHashing.CopyAndHashAsync(entry.DataStream, destination, done => progress?.Invoke(path, done, length), ct).ConfigureAwait(false);
        }
        return hashes;
    }

    /// <summary>npm tarballs put everything under one top folder (normally <c>package/</c>); strip it.</summary>
    internal static string PackageRelative(string entryName)
    {
        var name = entryName.Replace('\\', '/').TrimStart('.', '/');
        var slash = name.IndexOf('/');
        return slash < 0 ? name : name[(slash + 1)..];
    }
}
