using MlNetTransfer.Backbones.Catalog;

namespace MlNetTransfer.Tests.Catalog;

public sealed class CatalogValidationTests
{
    private const string Hash = "0000000000000000000000000000000000000000000000000000000000000000";

    private static string Catalog(string entry, string extra = "") => $$"""
        {
          "schemaVersion": 1,
          {{extra}}
          "backbones": [ {{entry}} ]
        }
        """;

    private static string Entry(string files = $$"""[{ "name": "m.onnx", "sha256": "{{Hash}}", "size": 10, "url": "https://example.test/m.onnx" }]""",
        string more = "") => $$"""
        { "name": "m", "format": "onnx", "mainFile": "m.onnx", "files": {{files}} {{more}} }
        """;

    private static MlNetTransferException Fails(string json) =>
        Assert.Throws<MlNetTransferException>(() => BackboneCatalog.Parse(json, "/x/catalog.json"));

    [Fact]
    public void A_minimal_catalog_parses_with_defaults()
    {
        var catalog = BackboneCatalog.Parse(Catalog(Entry()), "/x/catalog.json");

        Assert.Equal("m", catalog.DefaultName);
        Assert.Equal("m", catalog.Find("M").Name); // names are case-insensitive
        Assert.Equal("m", catalog.Default.InstallDirectoryName);
        Assert.Equal(Path.GetDirectoryName(Path.GetFullPath("/x/catalog.json")), catalog.BaseDirectory);
    }

    [Fact]
    public void A_misspelt_field_is_an_error_not_a_silently_missing_hash()
    {
        var e = Fails(Catalog(Entry($$"""[{ "name": "m.onnx", "sha265": "{{Hash}}", "size": 10, "url": "https://example.test/m.onnx" }]""")));
        Assert.Contains("sha265", e.Message);
        Assert.Contains("/x/catalog.json", e.Message);
    }

    [Theory]
    [InlineData("""[{ "name": "m.onnx", "sha256": "abc", "size": 10, "url": "https://example.test/m.onnx" }]""", "sha256")]
    [InlineData("""[{ "name": "m.onnx", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 0, "url": "https://example.test/m.onnx" }]""", "size")]
    [InlineData("""[{ "name": "m.onnx", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 10, "url": "http://example.test/m.onnx" }]""", "https")]
    [InlineData("""[{ "name": "m.onnx", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 10 }]""", "neither a url nor an npmPath")]
    [InlineData("""[{ "name": "../m.onnx", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 10, "url": "https://example.test/m.onnx" }]""", "plain file name")]
    public void Bad_file_entries_are_named(string files, string expected)
    {
        var e = Fails(Catalog(Entry(files)));
        Assert.Contains(expected, e.Message);
        Assert.Contains("backbone 'm'", e.Message);
    }

    [Fact]
    public void Unknown_formats_layouts_defaults_and_label_files_are_errors()
    {
        Assert.Contains("format 'pt'", Fails(Catalog(Entry().Replace("\"onnx\"", "\"pt\""))).Message);
        Assert.Contains("NCWH", Fails(Catalog(Entry(more: """, "layout": "NCWH" """))).Message);
        Assert.Contains("default 'other'", Fails(Catalog(Entry(), """ "default": "other", """)).Message);
        Assert.Contains("labels.txt", Fails(Catalog(Entry(more: """, "labelsFile": "labels.txt" """))).Message);
        Assert.Contains("range", Fails(Catalog(Entry(more: """, "npm": { "package": "p", "version": "^1.0.0" } """))).Message);
        Assert.Contains("schemaVersion 2", Fails(Catalog(Entry()).Replace("\"schemaVersion\": 1", "\"schemaVersion\": 2")).Message);
    }

    [Fact]
    public void A_missing_catalog_file_is_named()
    {
        var path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "catalog.json");
        var e = Assert.Throws<MlNetTransferException>(() => BackboneCatalog.Load(path));
        Assert.Contains(path, e.Message);
    }
}
