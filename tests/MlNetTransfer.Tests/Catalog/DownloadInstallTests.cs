using MlNetTransfer.Backbones.Catalog;

namespace MlNetTransfer.Tests.Catalog;

/// <summary>HTTPS installs against <see cref="FakeHttpServer"/>: no real network.</summary>
public sealed class DownloadInstallTests : IDisposable
{
    private readonly CatalogTestBed _bed = new();
    private readonly FakeHttpServer _server = new();

    public DownloadInstallTests() => _server.Serve(CatalogTestBed.OnnxUrl, _bed.OnnxBytes);

    public void Dispose()
    {
        _server.Dispose();
        _bed.Dispose();
    }

    private InstallOptions Online()
    {
        var options = _bed.Options();
        options.AllowDownload = true;
        options.HttpClient = _server.Client();
        return options;
    }

    [Fact]
    public void Download_installs_the_verified_file()
    {
        var installed = _bed.Installer(Online()).Install("fake_onnx");

        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(installed.MainPath));
        Assert.Equal([(CatalogTestBed.OnnxUrl, (long?)null)], _server.Requests);
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, ".partial", "fake_onnx", "fake-net.onnx.partial")));
    }

    [Fact]
    public void An_interrupted_download_resumes_with_a_range_request()
    {
        const int half = 80_000;
        _server.BreakNextResponseAfter = half;
        var progress = new List<InstallProgress>();
        var options = Online();
        options.Progress = new SyncProgress(progress.Add);

        var first = Assert.Throws<MlNetTransferException>(() => _bed.Installer(options).Install("fake_onnx"));
        var partial = Path.Combine(_bed.Cache, ".partial", "fake_onnx", "fake-net.onnx.partial");
        Assert.Contains("resumes", first.Message);
        Assert.Equal(half, new FileInfo(partial).Length);
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, "fake_onnx")), "nothing half-installed");

        var installed = _bed.Installer(options).Install("fake_onnx");

        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(installed.MainPath));
        Assert.Equal([(CatalogTestBed.OnnxUrl, (long?)null), (CatalogTestBed.OnnxUrl, half)], _server.Requests);
        Assert.Equal(_bed.OnnxBytes.Length, _server.BytesSent); // the first half was not sent again
        Assert.False(File.Exists(partial));
        var last = progress.Last(p => p.File == "fake-net.onnx");
        Assert.Equal(_bed.OnnxBytes.Length, last.BytesDone);
        Assert.Contains(progress, p => p.File == "fake-net.onnx" && p.BytesDone == half && p.Source == CatalogTestBed.OnnxUrl);
    }

    [Fact]
    public void A_server_that_ignores_range_restarts_the_file_from_zero()
    {
        _server.BreakNextResponseAfter = 50_000;
        Assert.Throws<MlNetTransferException>(() => _bed.Installer(Online()).Install("fake_onnx"));
        _server.IgnoreRange = true;

        var installed = _bed.Installer(Online()).Install("fake_onnx");

        Assert.Equal(_bed.OnnxBytes, File.ReadAllBytes(installed.MainPath));
        Assert.Equal(50_000, _server.Requests[1].RangeFrom); // asked to resume, got the whole file
    }

    [Fact]
    public void A_download_with_the_wrong_content_is_deleted_and_reported_with_both_hashes()
    {
        var wrong = CatalogTestBed.Bytes(42, _bed.OnnxBytes.Length);
        _server.Serve(CatalogTestBed.OnnxUrl, wrong);

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(Online()).Install("fake_onnx"));

        Assert.Contains(CatalogTestBed.OnnxUrl, error.Message);
        Assert.Contains(CatalogTestBed.Sha256(wrong), error.Message);
        Assert.Contains(CatalogTestBed.Sha256(_bed.OnnxBytes), error.Message);
        Assert.False(File.Exists(Path.Combine(_bed.Cache, ".partial", "fake_onnx", "fake-net.onnx.partial")));
        Assert.False(Directory.Exists(Path.Combine(_bed.Cache, "fake_onnx")));
    }

    [Fact]
    public void Offline_the_error_names_the_url_and_the_commands_that_install_from_a_file()
    {
        _server.Offline = true;

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(Online()).Install("fake_onnx"));

        Assert.Contains(CatalogTestBed.OnnxUrl, error.Message);
        Assert.Contains("No such host", error.Message);
        Assert.Contains("mlnet-transfer backbones import PATH --name fake_onnx", error.Message);
        Assert.Contains("mlnet-transfer backbones install fake_onnx --mirror DIR", error.Message);
    }

    [Fact]
    public void Offline_a_multi_file_entry_stops_after_the_first_network_failure()
    {
        _server.Offline = true;

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(Online()).Install("fake_tfjs"));

        Assert.Single(_server.Requests);
        Assert.Contains(CatalogTestBed.TfjsBase, error.Message);
        Assert.Contains("mlnet-transfer backbones import FOLDER --name fake_tfjs", error.Message);
        Assert.Contains("DIR/fake_tfjs_224", error.Message);
    }

    [Fact]
    public void With_downloads_disabled_no_request_is_made()
    {
        var options = Online();
        options.AllowDownload = false;

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(options).Install("fake_onnx"));

        Assert.Empty(_server.Requests);
        Assert.Contains("downloads are disabled", error.Message);
        Assert.Contains(CatalogTestBed.OnnxUrl, error.Message);
    }

    private sealed class SyncProgress(Action<InstallProgress> report) : IProgress<InstallProgress>
    {
        public void Report(InstallProgress value) => report(value);
    }
}
