using MlNetTransfer.Backbones.Catalog;

namespace MlNetTransfer.Tests.Catalog;

public sealed class MirrorInstallTests : IDisposable
{
    private readonly CatalogTestBed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public void Install_from_mirror_copies_and_verifies_the_files_and_labels()
    {
        var installed = _bed.Installer(_bed.Options(_bed.Mirror)).Install("fake_onnx");

        Assert.Equal(Path.Combine(_bed.Cache, "fake_onnx"), installed.Directory);
        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(installed.MainPath));
        Assert.Equal(_bed.LabelsBytes, File.ReadAllBytes(installed.LabelsPath!));
        Assert.Equal(installed.LabelsPath, installed.Spec.LabelsFile);
        Assert.Equal("pool", installed.Spec.EmbeddingTensor);
        Assert.Contains(_bed.Log, l => l.Contains("copied from mirror") && l.Contains(Path.Combine(_bed.Mirror, "fake-net.onnx")));
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, ".staging")), "no work folder is left behind");
    }

    [Fact]
    public void Install_finds_multi_file_entries_in_a_mirror_subfolder_named_like_the_entry_directory()
    {
        var installed = _bed.Installer(_bed.Options(_bed.Mirror)).Install("fake_tfjs");

        Assert.Equal(Path.Combine(_bed.Cache, "fake_tfjs_224"), installed.Directory);
        Assert.Equal(3, installed.Files.Count);
        foreach (var (name, bytes) in _bed.TfjsFiles) Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(installed.Directory, name)));
        Assert.EndsWith("model.json", installed.MainPath);
        Assert.Null(installed.LabelsPath);
    }

    [Fact]
    public void A_tampered_mirror_file_is_refused_named_in_the_error_and_not_left_in_the_cache()
    {
        var tampered = Path.Combine(_bed.Mirror, "fake_tfjs_224", "group1-shard2of2");
        var bytes = File.ReadAllBytes(tampered);
        bytes[100] ^= 0xFF;
        File.WriteAllBytes(tampered, bytes);

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(_bed.Options(_bed.Mirror)).Install("fake_tfjs"));

        Assert.Contains(tampered, error.Message);
        Assert.Contains(CatalogTestBed.Sha256(_bed.TfjsFiles["group1-shard2of2"]), error.Message); // expected
        Assert.Contains(CatalogTestBed.Sha256(bytes), error.Message); // actual
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, "fake_tfjs_224")), "nothing half-installed");
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, ".staging")));
        Assert.Contains(_bed.Log, l => l.Contains("refused") && l.Contains(tampered));
    }

    [Fact]
    public void A_refused_copy_falls_through_to_a_later_mirror_that_has_the_right_file()
    {
        var bad = Path.Combine(_bed.Root, "bad-mirror");
        Directory.CreateDirectory(bad);
        File.WriteAllBytes(Path.Combine(bad, "fake-net.onnx"), CatalogTestBed.Bytes(99, _bed.OnnxBytes.Length));

        var installed = _bed.Installer(_bed.Options(bad, _bed.Mirror)).Install("fake_onnx");

        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(installed.MainPath));
        Assert.Contains(_bed.Log, l => l.Contains("refused") && l.Contains(bad));
    }

    [Fact]
    public void A_second_install_is_a_verified_cache_hit_that_needs_no_source()
    {
        _bed.Installer(_bed.Options(_bed.Mirror)).Install("fake_onnx");
        Directory.Delete(_bed.Mirror, recursive: true);
        _bed.Log.Clear();

        var installed = _bed.Installer(_bed.Options()).Install("fake_onnx");

        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(installed.MainPath));
        Assert.Contains(_bed.Log, l => l.Contains("verified in the cache"));
    }

    [Fact]
    public void A_damaged_cache_copy_is_detected_and_replaced()
    {
        var installer = _bed.Installer(_bed.Options(_bed.Mirror));
        var first = installer.Install("fake_onnx");
        var bytes = File.ReadAllBytes(first.MainPath);
        bytes[0] ^= 1;
        File.WriteAllBytes(first.MainPath, bytes);

        Assert.Null(installer.TryGetInstalled("fake_onnx"));
        Assert.Equal(BackboneStatus.Installed, installer.GetStatus(installer.Catalog.Find("fake_onnx"))); // same size: only the hash shows it
        var again = installer.Install("fake_onnx");

        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(again.MainPath));
        Assert.Contains(_bed.Log, l => l.Contains("damaged") && l.Contains("reinstalling"));
    }

    [Fact]
    public void Status_reports_missing_and_wrong_size_files_without_hashing()
    {
        var installer = _bed.Installer(_bed.Options(_bed.Mirror));
        var entry = installer.Catalog.Find("fake_tfjs");
        Assert.Equal(BackboneStatus.NotInstalled, installer.GetStatus(entry));

        var installed = installer.Install("fake_tfjs");
        Assert.Equal(BackboneStatus.Installed, installer.GetStatus(entry));

        File.Delete(installed.Files[1]);
        Assert.Equal(BackboneStatus.Damaged, installer.GetStatus(entry));
    }

    [Fact]
    public void Inline_labels_are_written_to_labels_txt()
    {
        var mirror = Path.Combine(_bed.Root, "npm-mirror");
        foreach (var (path, bytes) in _bed.NpmFiles)
        {
            var target = Path.Combine(mirror, "node_modules", "fake-pkg", path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.WriteAllBytes(target, bytes);
        }

        var installed = _bed.Installer(_bed.Options(mirror)).Install("fake_npm");

        Assert.Equal(["a", "b", "c"], File.ReadAllLines(installed.LabelsPath!));
        Assert.EndsWith(BackboneInstaller.InlineLabelsFileName, installed.LabelsPath);
    }

    [Fact]
    public void An_unknown_name_lists_the_catalog_and_says_how_to_import()
    {
        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(_bed.Options()).Install("nope"));

        Assert.Contains("fake_onnx", error.Message);
        Assert.Contains("mlnet-transfer backbones import", error.Message);
    }
}
