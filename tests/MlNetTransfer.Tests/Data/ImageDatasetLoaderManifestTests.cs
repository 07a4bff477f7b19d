using MlNetTransfer.Data;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Data;

public sealed class ImageDatasetLoaderManifestTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Writes <paramref name="perClass"/> PNGs for cat and dog under images/ and returns their relative paths.</summary>
    private List<(string Rel, string Label)> Images(int perClass = 5, string folder = "images")
    {
        var rows = new List<(string, string)>();
        foreach (var label in new[] { "cat", "dog" })
            for (var i = 0; i < perClass; i++)
            {
                var rel = $"{folder}/{label}_{i}.png";
                _temp.File(rel, TestImages.Png(8 + i, 8, (byte)(label == "cat" ? 250 : 10)));
                rows.Add((rel, label));
            }
        return rows;
    }

    [Fact]
    public void Csv_with_header_relative_and_absolute_paths_and_quoted_fields()
    {
        var rows = Images();
        _temp.File("my, photos/odd \"name\".png", TestImages.Png());
        var absolute = _temp.File("elsewhere/abs.png", TestImages.Png(12, 10));
        var lines = new List<string> { "path,label" };
        lines.AddRange(rows.Select(r => $"{r.Rel},{r.Label}"));
        lines.Add("\"my, photos/odd \"\"name\"\".png\",\"cat\"");
        lines.Add("");
        lines.Add($"{absolute} , dog ");
        var manifest = _temp.Text("sets/../labels.csv", string.Join("\n", lines) + "\n");

        var dataset = ImageDatasetLoader.Load(manifest);

        Assert.Equal(Path.GetFullPath(manifest), dataset.Source);
        Assert.False(dataset.IsPreSplit);
        Assert.Equal(["cat", "dog"], dataset.Classes);
        Assert.Equal(12, dataset.Count);
        Assert.Empty(dataset.Skipped);
        Assert.Contains(dataset.All, e => e.Path == Path.Combine(_temp.Path, "my, photos", "odd \"name\".png") && e.Label == "cat");
        Assert.Contains(dataset.All, e => e.Path == absolute && e.Label == "dog" && e.Width == 12);
        Assert.Contains(dataset.All, e => e.Path == Path.Combine(_temp.Path, "images", "cat_3.png") && e.Width == 11);
        Assert.All(dataset.CountsPerClass(), c => Assert.Equal((4, 1, 1), (c.Train, c.Validation, c.Test)));
    }

    [Fact]
    public void Tsv_without_header_resolves_paths_against_the_manifest_folder()
    {
        var rows = Images(folder: "data/img");
        var manifest = _temp.Text("data/labels.tsv", string.Join("\r\n", rows.Select(r => $"{r.Rel["data/".Length..]}\t{r.Label}")));
        var dataset = ImageDatasetLoader.Load(manifest);
        Assert.Equal(10, dataset.Count);
        Assert.All(dataset.All, e => Assert.StartsWith(Path.Combine(_temp.Path, "data", "img"), e.Path));
    }

    [Fact]
    public void Tab_delimiter_is_detected_without_tsv_extension_even_with_commas_in_paths()
    {
        _temp.File("a, b/1.png", TestImages.Png());
        _temp.File("a, b/2.png", TestImages.Png());
        _temp.File("c/3.png", TestImages.Png());
        _temp.File("c/4.png", TestImages.Png());
        var manifest = _temp.Text("list.txt", "file\tclass\na, b/1.png\tx\na, b/2.png\tx\nc/3.png\ty\nc\\4.png\ty\n");
        var dataset = ImageDatasetLoader.Load(manifest, new DatasetOptions { MinImagesPerClass = 2 });
        Assert.Equal(["x", "y"], dataset.Classes);
        Assert.Equal(4, dataset.Count);
        Assert.Contains(dataset.All, e => e.Path == Path.Combine(_temp.Path, "c", "4.png")); // Windows separator accepted
    }

    [Fact]
    public void Bad_files_named_by_the_manifest_are_skipped_with_their_label()
    {
        var rows = Images(3);
        var gif = _temp.File("images/anim.gif", TestImages.Gif());
        var text = _temp.Text("images/fake.jpg", "nope");
        var manifest = _temp.Text("m.csv", string.Join("\n", rows.Select(r => $"{r.Rel},{r.Label}").Append("images/anim.gif,cat").Append("images/fake.jpg,dog")));
        var dataset = ImageDatasetLoader.Load(manifest);
        Assert.Equal(6, dataset.Count);
        Assert.Equal(2, dataset.Skipped.Count);
        Assert.Contains(dataset.Skipped, s => s.Path == gif && s.Label == "cat" && s.Reason.Contains("GIF"));
        Assert.Contains(dataset.Skipped, s => s.Path == text && s.Label == "dog" && s.Reason == "not an image: a text file");
    }

    [Fact]
    public void Row_naming_a_missing_file_is_an_error_with_line_and_path()
    {
        var rows = Images(2);
        var manifest = _temp.Text("m.csv", "path,label\n" + string.Join("\n", rows.Select(r => $"{r.Rel},{r.Label}")) + "\nimages/ghost.png,cat\n");
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(manifest));
        Assert.Contains("line 6", ex.Message);
        Assert.Contains("'images/ghost.png'", ex.Message);
        Assert.Contains(Path.Combine(_temp.Path, "images", "ghost.png"), ex.Message);
    }

    [Fact]
    public void First_row_naming_a_missing_file_is_not_mistaken_for_a_header()
    {
        Images(2);
        var manifest = _temp.Text("m.csv", "images/missing.png,cat\nimages/cat_0.png,cat\n");
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(manifest));
        Assert.Contains("line 1", ex.Message);
    }

    [Theory]
    [InlineData("images/cat_0.png,cat\nimages/cat_1.png\n", "line 2", "expected 2 columns")]
    [InlineData("path,label\nimages/cat_0.png,cat\n\n\"images/cat_1.png,cat\n", "line 4", "unterminated quoted field")]
    [InlineData("images/cat_0.png,cat,extra\n", "line 1", "found 3")]
    [InlineData("images/cat_0.png,\n", "line 1", "label column is empty")]
    [InlineData("\"images/cat_0.png\"x,cat\n", "line 1", "after the closing quote")]
    [InlineData("images/cat_0.png,cat\nimages/../images/cat_0.png,dog\n", "line 2", "already listed on line 1")]
    [InlineData("images,cat\n", "line 1", "is a folder")]
    public void Malformed_rows_are_errors_naming_the_line(string content, string line, string problem)
    {
        Images(2);
        var manifest = _temp.Text("bad.csv", content);
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(manifest));
        Assert.Contains($"{line} is malformed", ex.Message);
        Assert.Contains(problem, ex.Message);
        Assert.Contains(manifest, ex.Message);
    }

    [Fact]
    public void Empty_manifest_or_header_only_is_an_error()
    {
        Assert.Contains("is empty", Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Text("e.csv", "\n\n"))).Message);
        Assert.Contains("no image rows", Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Text("h.csv", "path,label\n"))).Message);
    }

    [Fact]
    public void Manifest_with_one_label_is_an_error_naming_it()
    {
        Images(2);
        var manifest = _temp.Text("m.csv", "images/cat_0.png,cat\nimages/cat_1.png,cat\n");
        Assert.Contains("Only 1 class ('cat')", Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(manifest)).Message);
    }

    [Fact]
    public void Manifest_class_below_minimum_names_class_and_skipped_file()
    {
        Images(2);
        _temp.File("images/empty.png", []);
        var manifest = _temp.Text("m.csv", "images/cat_0.png,cat\nimages/empty.png,cat\nimages/dog_0.png,dog\nimages/dog_1.png,dog\n");
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(manifest));
        Assert.Contains("class 'cat' has 1 usable image", ex.Message);
        Assert.Contains("empty.png", ex.Message);
        Assert.Contains("empty file (0 bytes)", ex.Message);
    }

    [Fact]
    public void A_single_image_or_other_file_as_dataset_path_is_an_error()
    {
        var image = _temp.File("one.png", TestImages.Png());
        Assert.Contains("is a single image", Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(image)).Message);
        var other = _temp.Text("notes.md", "# hi");
        Assert.Contains("not a .csv/.tsv/.txt manifest", Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(other)).Message);
    }
}
