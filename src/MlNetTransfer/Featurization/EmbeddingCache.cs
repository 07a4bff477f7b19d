using System.Security.Cryptography;

namespace MlNetTransfer.Featurization;

/// <summary>
/// On-disk embeddings keyed by (backbone hash, image content hash), so a second run with another head — or the
/// same images under other names — never decodes or runs the network again. One file per backbone:
/// <c>&lt;dir&gt;/&lt;backbone-sha&gt;.emb</c> holding fixed-size records (32-byte content SHA-256, then D float32).
/// </summary>
public sealed class EmbeddingCache
{
    // "MEM2": "MEMB" files hold embeddings of ML.NET 5's pixels; ML.NET 6 (SkiaSharp 3) shrinks images with a cubic filter
    // instead of mipmaps, so a photo's embedding changed and those files are read as foreign and rebuilt.
    private const uint Magic = 0x324D454D;
    private readonly string _file;
    private readonly Dictionary<string, float[]> _entries = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private int _dimension;
    private bool _dirty;

    /// <summary>The default cache folder: <c>$MLNET_TRANSFER_HOME/embeddings</c>, else <c>~/.cache/mlnet-transfer/embeddings</c>.</summary>
    public static string DefaultDirectory => Path.Combine(MlNetTransferPaths.Home, "embeddings");

    public EmbeddingCache(string directory, string backboneSha256)
    {
        Directory.CreateDirectory(directory);
        _file = Path.Combine(directory, backboneSha256 + ".emb");
        Load();
    }

    public string FilePath => _file;

    public int Count { get { lock (_gate) return _entries.Count; } }

    /// <summary>SHA-256 of a file's bytes, lower-case hex: the key an image is cached under.</summary>
    public static string ContentHash(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    public bool TryGet(string contentHash, out float[] embedding)
    {
        lock (_gate) return _entries.TryGetValue(contentHash, out embedding!);
    }

    public void Add(string contentHash, float[] embedding)
    {
        lock (_gate)
        {
            if (_dimension == 0) _dimension = embedding.Length;
            else if (embedding.Length != _dimension)
                throw new InvalidOperationException($"Embedding of {embedding.Length} values in a cache of dimension {_dimension}.");
            _entries[contentHash] = embedding;
            _dirty = true;
        }
    }

    /// <summary>Writes the cache atomically (a crash mid-write leaves the previous file intact).</summary>
    public void Flush()
    {
        lock (_gate)
        {
            if (!_dirty) return;
            AtomicFile.WriteStream(_file, s =>
            {
                using var w = new BinaryWriter(s);
                w.Write(Magic);
                w.Write(_dimension);
                w.Write(_entries.Count);
                foreach (var (hash, values) in _entries)
                {
                    w.Write(Convert.FromHexString(hash));
                    foreach (var v in values) w.Write(v);
                }
            });
            _dirty = false;
        }
    }

    private void Load()
    {
        if (!File.Exists(_file)) return;
        try
        {
            using var r = new BinaryReader(File.OpenRead(_file));
            if (r.ReadUInt32() != Magic) throw new InvalidDataException("bad magic");
            _dimension = r.ReadInt32();
            var count = r.ReadInt32();
            for (int i = 0; i < count; i++)
            {
                var hash = Convert.ToHexStringLower(r.ReadBytes(32));
                var values = new float[_dimension];
                for (int j = 0; j < values.Length; j++) values[j] = r.ReadSingle();
                _entries[hash] = values;
            }
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or IOException)
        {
            // A damaged cache is only a cache: start again rather than fail the run.
            _entries.Clear();
            _dimension = 0;
        }
    }
}
