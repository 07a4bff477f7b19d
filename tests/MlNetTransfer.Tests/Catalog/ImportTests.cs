using MlNetTransfer.Backbones.Catalog;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Tests.Catalog;

public sealed class ImportTests : IDisposable
{
    private readonly CatalogTestBed _bed = new();
    private readonly string _downloads;

    public ImportTests()
    {
        _downloads = Path.Combine(_bed.Root, "downloads");
        Directory.CreateDirectory(_downloads);
    }

    public void Dispose() => _bed.Dispose();

    private BackboneInstaller Installer() => _bed.Installer(_bed.Options());

    [Fact]
    public void Importing_the_official_file_under_its_catalog_name_installs_it()
    {
        var file = Path.Combine(_downloads, "downloaded.onnx");
        File.WriteAllBytes(file, _bed.OnnxBytes);

        var installed = Installer().ImportFile(file, "fake_onnx");

        Assert.False(installed.IsCustom);
        Assert.Equal(Path.Combine(_bed.Cache, "fake_onnx", "fake-net.onnx"), installed.MainPath);
        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(installed.MainPath));
        Assert.Equal(_bed.LabelsBytes, File.ReadAllBytes(installed.LabelsPath!));
        Assert.NotNull(Installer().TryGetInstalled("fake_onnx"));
    }

    [Fact]
    public void Importing_a_different_file_under_a_catalog_name_is_refused_with_both_hashes()
    {
        var file = Path.Combine(_downloads, "fake-net.onnx");
        var wrong = CatalogTestBed.Bytes(7, 1000);
        File.WriteAllBytes(file, wrong);

        var error = Assert.Throws<MlNetTransferException>(() => Installer().ImportFile(file, "fake_onnx"));

        Assert.Contains(file, error.Message);
        Assert.Contains(CatalogTestBed.Sha256(wrong), error.Message);
        Assert.Contains(CatalogTestBed.Sha256(_bed.OnnxBytes), error.Message);
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, "fake_onnx")));
    }

    [Fact]
    public void Without_a_name_an_official_file_is_recognised_by_its_hash()
    {
        var file = Path.Combine(_downloads, "renamed.onnx");
        File.WriteAllBytes(file, _bed.OnnxBytes);

        var installed = Installer().ImportFile(file);

        Assert.Equal("fake_onnx", installed.Name);
        Assert.False(installed.IsCustom);
    }

    [Fact]
    public void A_folder_holding_a_multi_file_entry_is_imported_and_recognised()
    {
        var folder = Path.Combine(_bed.Mirror, "fake_tfjs_224");

        var named = Installer().ImportFile(folder, "fake_tfjs");
        Assert.Equal(3, named.Files.Count);
        Directory.Delete(named.Directory, recursive: true);

        var recognised = Installer().ImportFile(folder);
        Assert.Equal("fake_tfjs", recognised.Name);
        Assert.All(recognised.Files, f => Assert.True(File.Exists(f)));
    }

    [Fact]
    public void A_single_file_cannot_stand_for_a_multi_file_entry()
    {
        var error = Assert.Throws<MlNetTransferException>(() =>
            Installer().ImportFile(Path.Combine(_bed.Mirror, "fake_tfjs_224", "model.json"), "fake_tfjs"));

        Assert.Contains("3 files", error.Message);
        Assert.Contains("import the folder", error.Message);
    }

    [Fact]
    public void An_npm_tarball_is_unpacked_whatever_its_top_folder_is_called()
    {
        var tgz = Path.Combine(_downloads, "fake-pkg-1.2.3.tgz");
        File.WriteAllBytes(tgz, CatalogTestBed.MakeTarball(_bed.NpmFiles, topFolder: "fake-pkg"));

        var installed = Installer().ImportFile(tgz, "fake_npm");

        Assert.Equal(_bed.NpmFiles["dist/models/small/model.min.js"], File.ReadAllBytes(installed.MainPath));
        Assert.Equal(["a", "b", "c"], File.ReadAllLines(installed.LabelsPath!));
    }

    [Fact]
    public void A_corrupt_tarball_is_named()
    {
        var tgz = Path.Combine(_downloads, "fake-pkg-1.2.3.tgz");
        var bytes = CatalogTestBed.MakeTarball(_bed.NpmFiles);
        for (var i = 20; i < bytes.Length; i += 7) bytes[i] ^= 0x5A;
        File.WriteAllBytes(tgz, bytes);

        var error = Assert.Throws<MlNetTransferException>(() => Installer().ImportFile(tgz, "fake_npm"));

        Assert.Contains(tgz, error.Message);
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, "fake_npm")));
    }

    [Fact]
    public void A_users_own_onnx_model_is_stored_under_its_name_and_found_again()
    {
        var file = Path.Combine(_downloads, "my model.onnx");
        OnnxModelFile.Save(TinyModel(), file);

        var installer = Installer();
        var imported = installer.ImportFile(file);

        Assert.True(imported.IsCustom);
        Assert.Equal("my_model", imported.Name);
        Assert.Equal("onnx", imported.Entry.Format);
        Assert.Equal(CatalogTestBed.Sha256(File.ReadAllBytes(file)), imported.Entry.Files[0].Sha256);
        Assert.True(File.Exists(Path.Combine(imported.Directory, BackboneInstaller.ManifestFileName)));

        var again = installer.Install("my_model");
        Assert.Equal(imported.MainPath, again.MainPath);
        Assert.True(again.IsCustom);
        Assert.Equal("my_model", Assert.Single(installer.ListImported()).Name);

        File.AppendAllText(again.MainPath, "tampered");
        Assert.Null(installer.TryGetInstalled("my_model"));
        var damaged = Assert.Throws<MlNetTransferException>(() => installer.Install("my_model"));
        Assert.Contains("damaged", damaged.Message);
        Assert.Contains("backbones import PATH --name my_model", damaged.Message);
    }

    [Fact]
    public void A_file_that_is_not_onnx_is_refused_as_a_custom_model()
    {
        var file = Path.Combine(_downloads, "broken.onnx");
        File.WriteAllText(file, "this is not protobuf at all, just text pretending");

        var error = Assert.Throws<MlNetTransferException>(() => Installer().ImportFile(file, "broken"));

        Assert.Contains(file, error.Message);
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, "broken")));
    }

    [Fact]
    public void A_tfjs_folder_missing_a_weight_file_is_refused_naming_the_file()
    {
        var folder = Path.Combine(_downloads, "partial_tfjs");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "model.json"), _bed.TfjsFiles["model.json"]);
        File.WriteAllBytes(Path.Combine(folder, "group1-shard1of2"), _bed.TfjsFiles["group1-shard1of2"]);

        var error = Assert.Throws<MlNetTransferException>(() => Installer().ImportFile(folder, "partial"));

        Assert.Contains("group1-shard2of2", error.Message);
    }

    [Fact]
    public void A_custom_name_may_not_take_a_catalog_entrys_folder()
    {
        var file = Path.Combine(_downloads, "x.onnx");
        OnnxModelFile.Save(TinyModel(), file);

        var error = Assert.Throws<MlNetTransferException>(() => Installer().ImportFile(file, "fake_tfjs_224"));

        Assert.Contains("fake_tfjs_224", error.Message);
    }

    [Fact]
    public void A_missing_path_is_named()
    {
        var missing = Path.Combine(_downloads, "nothing-here.onnx");
        var error = Assert.Throws<MlNetTransferException>(() => Installer().ImportFile(missing));
        Assert.Contains("nothing-here.onnx", error.Message);
    }

    /// <summary>A one-node ONNX model (y = relu(x)).</summary>
    private static ModelProto TinyModel()
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Node.Add(OnnxNodes.Node("Relu", "relu", ["x"], ["y"]));
        graph.Input.Add(OnnxNodes.TensorValue("x", TensorProto.Types.DataType.Float, -1, 4));
        graph.Output.Add(OnnxNodes.TensorValue("y", TensorProto.Types.DataType.Float, -1, 4));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        return model;
    }
}
