using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using MlNetTransfer.Backbones.Catalog;

namespace MlNetTransfer.Tests.Catalog;

/// <summary>
/// A temporary world for installer tests: a catalog JSON describing small fake backbones, a mirror folder holding
/// their files, an npm-style tarball, and an empty cache. Everything lives under one temp folder deleted on dispose.
/// </summary>
public sealed class CatalogTestBed : IDisposable
{
    public const string OnnxUrl = "https://models.example.test/zoo/fake-net.onnx";
    public const string TfjsBase = "https://models.example.test/tfjs/fake_tfjs_224/";
    public const string TarballUrl = "https://registry.example.test/fake-pkg/-/fake-pkg-1.2.3.tgz";

    public CatalogTestBed()
    {
        Root = Path.Combine(Path.GetTempPath(), "mlnet-transfer-catalog-tests", Guid.NewGuid().ToString("N"));
        Mirror = Path.Combine(Root, "mirror");
        Cache = Path.Combine(Root, "cache");
        Directory.CreateDirectory(Mirror);
        Directory.CreateDirectory(Path.Combine(Root, "catalog"));

        OnnxBytes = Bytes(1, 200_000);
        TfjsFiles = new Dictionary<string, byte[]>
        {
            ["model.json"] = """{"modelTopology":{},"weightsManifest":[{"paths":["group1-shard1of2","group1-shard2of2"],"weights":[]}]}"""u8.ToArray(),
            ["group1-shard1of2"] = Bytes(2, 50_000),
            ["group1-shard2of2"] = Bytes(3, 20_000),
        };
        NpmFiles = new Dictionary<string, byte[]>
        {
            ["dist/models/small/model.min.js"] = Bytes(4, 3_000),
            ["dist/models/small/group1-shard1of1.min.js"] = Bytes(5, 40_000),
        };
        LabelsBytes = "cat\ndog\n"u8.ToArray();

        File.WriteAllBytes(Path.Combine(Mirror, "fake-net.onnx"), OnnxBytes);
        Directory.CreateDirectory(Path.Combine(Mirror, "fake_tfjs_224"));
        foreach (var (name, bytes) in TfjsFiles) File.WriteAllBytes(Path.Combine(Mirror, "fake_tfjs_224", name), bytes);
        File.WriteAllBytes(Path.Combine(Root, "catalog", "fake_labels.txt"), LabelsBytes);

        TarballBytes = MakeTarball(NpmFiles);
        CatalogPath = Path.Combine(Root, "catalog", "catalog.json");
        File.WriteAllText(CatalogPath, CatalogJson());
    }

    public string Root { get; }
    public string Mirror { get; }
    public string Cache { get; }
    public string CatalogPath { get; }
    public byte[] OnnxBytes { get; }
    public Dictionary<string, byte[]> TfjsFiles { get; }
    public Dictionary<string, byte[]> NpmFiles { get; }
    public byte[] LabelsBytes { get; }
    public byte[] TarballBytes { get; }
    public List<string> Log { get; } = [];

    public BackboneCatalog LoadCatalog() => BackboneCatalog.Load(CatalogPath);

    /// <summary>Options isolated from the machine: this bed's cache, no environment mirrors, no npm, no downloads.</summary>
    public InstallOptions Options(params string[] mirrors)
    {
        var options = new InstallOptions
        {
            CacheDirectory = Cache,
            UseEnvironmentMirrors = false,
            AllowNpm = false,
            AllowDownload = false,
            NpmCommand = Path.Combine(Root, "no-such-npm"),
            Log = Log.Add,
        };
        options.Mirrors.AddRange(mirrors);
        return options;
    }

    public BackboneInstaller Installer(InstallOptions options) => new(LoadCatalog(), options);

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private string CatalogJson()
    {
        object FileEntry(string name, byte[] bytes, string? url = null, string? npmPath = null) =>
            new { name, sha256 = Sha256(bytes), size = bytes.Length, url, npmPath };

        var doc = new
        {
            schemaVersion = 1,
            @default = "fake_onnx",
            labelFiles = new[] { new { name = "fake_labels.txt", sha256 = Sha256(LabelsBytes), size = LabelsBytes.Length } },
            backbones = new object[]
            {
                new
                {
                    name = "fake_onnx", format = "onnx", mainFile = "fake-net.onnx",
                    files = new[] { FileEntry("fake-net.onnx", OnnxBytes, OnnxUrl) },
                    inputName = "input", layout = "NCHW", channelOrder = "RGB", pixelScale = 1 / 255.0,
                    mean = new[] { 0.485, 0.456, 0.406 }, std = new[] { 0.229, 0.224, 0.225 },
                    embeddingTensor = "pool", classifierTensor = "logits", classCount = 2, labelsFile = "fake_labels.txt",
                    sourceDomain = "test pictures",
                },
                new
                {
                    name = "fake_tfjs", format = "tfjs-layers", directory = "fake_tfjs_224", mainFile = "model.json",
                    files = TfjsFiles.Select(kv => FileEntry(kv.Key, kv.Value, TfjsBase + kv.Key)).ToArray(),
                    layout = "NHWC", pixelScale = 1 / 255.0, mean = new[] { 0.5, 0.5, 0.5 }, std = new[] { 0.5, 0.5, 0.5 },
                    sourceDomain = "test pictures",
                },
                new
                {
                    name = "fake_npm", format = "tfjs-umd", mainFile = "model.min.js",
                    files = NpmFiles.Select(kv => FileEntry(Path.GetFileName(kv.Key), kv.Value, npmPath: kv.Key)).ToArray(),
                    npm = new
                    {
                        package = "fake-pkg", version = "1.2.3", tarballUrl = TarballUrl,
                        integrity = "sha512-" + Convert.ToBase64String(SHA512.HashData(TarballBytes)),
                    },
                    layout = "NHWC", mean = new[] { 0.0, 0.0, 0.0 }, std = new[] { 1.0, 1.0, 1.0 },
                    labels = new[] { "a", "b", "c" }, classCount = 3, sourceDomain = "test pictures",
                },
            },
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });
    }

    /// <summary>An npm-style .tgz: every file under <c>package/</c>, plus a package.json.</summary>
    public static byte[] MakeTarball(IReadOnlyDictionary<string, byte[]> files, string topFolder = "package")
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            var all = files.Append(new("package.json", """{"name":"fake-pkg","version":"1.2.3"}"""u8.ToArray()));
            foreach (var (path, bytes) in all)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, topFolder + "/" + path) { DataStream = new MemoryStream(bytes) });
        }
        return buffer.ToArray();
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
