using MlNetTransfer.Backbones.Catalog;

namespace MlNetTransfer.Tests.Catalog;

/// <summary>npm-sourced entries when the npm command is absent: the registry tarball is downloaded (from
/// <see cref="FakeHttpServer"/>), checked against its integrity string and unpacked with System.Formats.Tar.</summary>
public sealed class NpmInstallTests : IDisposable
{
    private readonly CatalogTestBed _bed = new();
    private readonly FakeHttpServer _server = new();

    public void Dispose()
    {
        _server.Dispose();
        _bed.Dispose();
    }

    private InstallOptions NpmOptions()
    {
        var options = _bed.Options();
        options.AllowNpm = true;
        options.AllowDownload = true;
        options.HttpClient = _server.Client();
        return options;
    }

    [Fact]
    public void Without_the_npm_command_the_registry_tarball_is_downloaded_verified_and_unpacked()
    {
        _server.Serve(CatalogTestBed.TarballUrl, _bed.TarballBytes);

        var installed = _bed.Installer(NpmOptions()).Install("fake_npm");

        Assert.Equal(_bed.NpmFiles["dist/models/small/model.min.js"], File.ReadAllBytes(installed.MainPath));
        Assert.Equal(_bed.NpmFiles["dist/models/small/group1-shard1of1.min.js"], File.ReadAllBytes(Path.Combine(installed.Directory, "group1-shard1of1.min.js")));
        Assert.Contains(_bed.Log, l => l.Contains("from npm fake-pkg@1.2.3"));
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, ".partial", ".npm")) && Directory.EnumerateFiles(Path.Combine(_bed.Cache, ".partial", ".npm")).Any(),
            "the downloaded tarball is removed after unpacking");
    }

    [Fact]
    public void A_tarball_that_fails_the_integrity_check_is_refused()
    {
        var other = CatalogTestBed.MakeTarball(new Dictionary<string, byte[]> { ["dist/models/small/model.min.js"] = [1, 2, 3] });
        _server.Serve(CatalogTestBed.TarballUrl, other);

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(NpmOptions()).Install("fake_npm"));

        Assert.Contains("integrity", error.Message);
        Assert.Contains("no-such-npm", error.Message); // says the npm command was not found
        Assert.Contains("npm pack fake-pkg@1.2.3", error.Message);
        Assert.Contains("mlnet-transfer backbones import fake-pkg-1.2.3.tgz --name fake_npm", error.Message);
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, "fake_npm")));
    }

    [Fact]
    public void With_npm_disabled_nothing_is_fetched()
    {
        _server.Serve(CatalogTestBed.TarballUrl, _bed.TarballBytes);
        var options = NpmOptions();
        options.AllowNpm = false;

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(options).Install("fake_npm"));

        Assert.Empty(_server.Requests);
        Assert.Contains("npm is disabled", error.Message);
    }
}
