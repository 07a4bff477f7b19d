using System.Security.Cryptography;

namespace MlNetTransfer.Backbones.Catalog;

/// <summary>SHA-256 of files, computed while they are copied so big files are read once.</summary>
internal static class FileHashing
{
    private const int BufferSize = 1 << 16;

    public static string Sha256OfFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    /// <summary>Copies <paramref name="source"/> into a new file <paramref name="destination"/>, reporting bytes written,
    /// and returns the SHA-256 (lower-case hex) of what was written.</summary>
    public static async Task<string> CopyAndHashAsync(Stream source, string destination, Action<long>? progress, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, useAsync: true);
        var buffer = new byte[BufferSize];
        long done = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            await output.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            done += read;
            progress?.Invoke(done);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Copies a file (see <see cref="CopyAndHashAsync(Stream,string,Action{long},CancellationToken)"/>).</summary>
    public static async Task<string> CopyAndHashAsync(string source, string destination, Action<long>? progress, CancellationToken ct)
    {
        await using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true);
        return await CopyAndHashAsync(input, destination, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Whether a file matches an npm Subresource-Integrity string (<c>sha512-BASE64</c>, possibly several).</summary>
    public static bool MatchesIntegrity(string path, string integrity)
    {
        foreach (var part in integrity.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var dash = part.IndexOf('-');
            if (dash <= 0) continue;
            HashAlgorithmName? algorithm = part[..dash] switch
            {
                "sha512" => HashAlgorithmName.SHA512,
                "sha384" => HashAlgorithmName.SHA384,
                "sha256" => HashAlgorithmName.SHA256,
                _ => null,
            };
            if (algorithm is null) continue;
            using var fs = File.OpenRead(path);
            using var h = IncrementalHash.CreateHash(algorithm.Value);
            var buffer = new byte[BufferSize];
            int read;
            while ((read = fs.Read(buffer)) > 0) h.AppendData(buffer, 0, read);
            if (Convert.ToBase64String(h.GetHashAndReset()) == part[(dash + 1)..]) return true;
        }
        return false;
    }
}
