using MlNetTransfer.Data;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Data;

public sealed class ImageDatasetLoaderFolderTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Folder_of_classes_is_split_stratified_with_sizes_recorded()
    {
        var root = SyntheticImageDataset.Write(Path.Combine(_temp.Path, "shapes"), imagesPerClass: 20, size: 32);
        var dataset = ImageDatasetLoader.Load(root);

        Assert.Equal(root, dataset.Source);
        Assert.False(dataset.IsPreSplit);
        Assert.Equal(SyntheticImageDataset.Classes, dataset.Classes);
        Assert.Empty(dataset.Skipped);
        Assert.Equal(60, dataset.Count);
        Assert.All(dataset.CountsPerClass(), c => Assert.Equal((16, 2, 2, 0), (c.Train, c.Validation, c.Test, c.Skipped)));
        Assert.All(dataset.All, e =>
        {
            Assert.True(Path.IsPathRooted(e.Path));
            Assert.Equal(Path.GetFileName(Path.GetDirectoryName(e.Path)), e.Label);
            Assert.Equal((32, 32), (e.Width, e.Height));
        });
        Assert.Contains("stratified split 80/10/10", dataset.SplitDescription);
        Assert.Contains("seed 42", dataset.SplitDescription);
    }

    [Fact]
    public void Split_is_deterministic_and_follows_seed_and_fractions()
    {
        var root = SyntheticImageDataset.Write(_temp.Path, imagesPerClass: 20, size: 16);
        var a = ImageDatasetLoader.Load(root);
        var b = ImageDatasetLoader.Load(root);
        Assert.Equal(a.Train, b.Train);
        Assert.Equal(a.Validation, b.Validation);
        Assert.Equal(a.Test, b.Test);

        var trailingSlash = ImageDatasetLoader.Load(root + Path.DirectorySeparatorChar);
        Assert.Equal(root, trailingSlash.Source);
        Assert.Equal(a.Validation, trailingSlash.Validation);

        var reseeded = ImageDatasetLoader.Load(root, new DatasetOptions { Seed = 1 });
        Assert.NotEqual(a.Validation.Select(e => e.Path), reseeded.Validation.Select(e => e.Path));

        var custom = ImageDatasetLoader.Load(root, new DatasetOptions { TrainFraction = 0.6, ValidationFraction = 0.4, TestFraction = 0 });
        Assert.All(custom.CountsPerClass(), c => Assert.Equal((12, 8, 0), (c.Train, c.Validation, c.Test)));
        Assert.Empty(custom.Test);
    }

    [Fact]
    public void Files_in_nested_folders_belong_to_their_class_and_progress_reaches_100()
    {
        SyntheticImageDataset.Write(_temp.Path, imagesPerClass: 3, size: 16);
        _temp.File("red_circle/more/deeper/extra.png", TestImages.Png());
        var reports = new List<int>();
        var dataset = ImageDatasetLoader.Load(_temp.Path, progress: new SynchronousProgress(reports));
        Assert.Contains(dataset.All, e => e.Path.EndsWith("deeper/extra.png") && e.Label == "red_circle");
        Assert.Equal(10, dataset.Count);
        Assert.Equal(0, reports[0]);
        Assert.Equal(100, reports[^1]);
        Assert.Equal(reports.Order(), reports);
    }

    [Fact]
    public void Every_bad_file_is_listed_with_path_and_reason_and_the_rest_are_used()
    {
        SyntheticImageDataset.Write(_temp.Path, imagesPerClass: 4, size: 16);
        var bad = new Dictionary<string, string>
        {
            [_temp.File("red_circle/truncated.jpg", TestImages.Truncate(TestImages.Jpeg()))] = "corrupt or truncated JPEG",
            [_temp.File("red_circle/empty.jpg", [])] = "empty file (0 bytes)",
            [_temp.Text("green_square/readme.jpg", "this is text\n")] = "not an image: a text file",
            [_temp.File("green_square/anim.gif", TestImages.Gif())] = "GIF is not supported",
            [_temp.File("blue_triangle/.DS_Store", TestImages.DsStore())] = ".DS_Store",
            [_temp.File("blue_triangle/Thumbs.db", [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])] = "Thumbs.db",
            [_temp.File("blue_triangle/photo.heic", TestImages.Heic())] = "HEIC",
            [_temp.Text("LICENSE.txt", "MIT")] = "not inside a class folder",
            [_temp.Dir(".ipynb_checkpoints")] = "hidden folder ignored",
        };
        var goodBmp = _temp.File("green_square/fine.bmp", TestImages.Bmp());
        var goodWebp = _temp.File("blue_triangle/fine.webp", TestImages.WebP());

        var dataset = ImageDatasetLoader.Load(_temp.Path);

        Assert.Equal(bad.Count, dataset.Skipped.Count);
        foreach (var (path, reason) in bad)
        {
            var skipped = Assert.Single(dataset.Skipped, s => s.Path == path);
            Assert.Contains(reason, skipped.Reason);
        }
        Assert.Equal("red_circle", dataset.Skipped.Single(s => s.Path.EndsWith("truncated.jpg")).Label);
        Assert.Contains(dataset.All, e => e.Path == goodBmp && e.Width == 3 && e.Height == 2);
        Assert.Contains(dataset.All, e => e.Path == goodWebp);
        Assert.Equal(14, dataset.Count);
        Assert.Equal(2, dataset.CountsPerClass().Single(c => c.Label == "red_circle").Skipped);

        // Nothing dropped silently: every file under a class folder is used or skipped.
        var found = Directory.EnumerateFiles(_temp.Path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Where(f => Path.GetDirectoryName(f) != _temp.Path).Order().ToList();
        var accounted = dataset.All.Select(e => e.Path).Concat(dataset.Skipped.Select(s => s.Path)).Where(found.Contains).Order().ToList();
        Assert.Equal(found, accounted);
    }

    [Fact]
    public void Pre_split_folders_are_used_as_given()
    {
        foreach (var split in new[] { "train", "val", "test" })
            SyntheticImageDataset.Write(Path.Combine(_temp.Path, split), imagesPerClass: split == "train" ? 5 : 2, size: 16, seed: split.Length);
        var dataset = ImageDatasetLoader.Load(_temp.Path);

        Assert.True(dataset.IsPreSplit);
        Assert.Equal((15, 6, 6), (dataset.Train.Count, dataset.Validation.Count, dataset.Test.Count));
        Assert.All(dataset.Train, e => Assert.Contains($"{Path.DirectorySeparatorChar}train{Path.DirectorySeparatorChar}", e.Path));
        Assert.All(dataset.Validation, e => Assert.Contains($"{Path.DirectorySeparatorChar}val{Path.DirectorySeparatorChar}", e.Path));
        Assert.All(dataset.Test, e => Assert.Contains($"{Path.DirectorySeparatorChar}test{Path.DirectorySeparatorChar}", e.Path));
        Assert.Equal(SyntheticImageDataset.Classes, dataset.Classes);
        Assert.Contains("used as given", dataset.SplitDescription);
    }

    [Fact]
    public void Validation_folder_is_a_synonym_for_val_and_test_is_optional()
    {
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "train"), 4, 16);
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "Validation"), 1, 16);
        var dataset = ImageDatasetLoader.Load(_temp.Path);
        Assert.True(dataset.IsPreSplit);
        Assert.Equal((12, 3, 0), (dataset.Train.Count, dataset.Validation.Count, dataset.Test.Count));
        Assert.All(dataset.Validation, e => Assert.Contains("Validation", e.Path));
    }

    [Fact]
    public void Train_and_test_without_val_carves_validation_from_train()
    {
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "train"), 9, 16);
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "test"), 2, 16);
        var dataset = ImageDatasetLoader.Load(_temp.Path);
        // validation share of train/ = 0.1 / (0.8 + 0.1) = 1/9 → 1 image per class.
        Assert.Equal((24, 3, 6), (dataset.Train.Count, dataset.Validation.Count, dataset.Test.Count));
        Assert.All(dataset.Validation, e => Assert.Contains($"{Path.DirectorySeparatorChar}train{Path.DirectorySeparatorChar}", e.Path));
        Assert.Contains("no val/ folder", dataset.SplitDescription);
    }

    [Fact]
    public void Pre_split_val_class_unknown_to_train_is_an_error_naming_it()
    {
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "train"), 3, 16);
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "val"), 1, 16);
        _temp.File("val/purple_star/a.png", TestImages.Png());
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("'purple_star'", ex.Message);
        Assert.Contains(Path.Combine(_temp.Path, "val"), ex.Message);
    }

    [Fact]
    public void Split_folders_mixed_with_class_folders_is_an_error()
    {
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "train"), 3, 16);
        _temp.File("cats/a.png", TestImages.Png());
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("cats/", ex.Message);
    }

    [Fact]
    public void Val_without_train_is_an_error()
    {
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "val"), 3, 16);
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("no train/ folder", ex.Message);
    }

    [Fact]
    public void Pre_split_train_class_below_minimum_is_an_error()
    {
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "train"), 3, 16);
        SyntheticImageDataset.Write(Path.Combine(_temp.Path, "val"), 1, 16);
        foreach (var f in Directory.GetFiles(Path.Combine(_temp.Path, "train", "green_square")).Skip(1)) File.Delete(f);
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("class 'green_square' has 1 usable image in train/", ex.Message);
    }

    [Fact]
    public void Missing_path_names_it()
    {
        var missing = Path.Combine(_temp.Path, "nowhere");
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(missing));
        Assert.Contains(missing, ex.Message);
        Assert.Contains("does not exist", ex.Message);
    }

    [Fact]
    public void Empty_folder_is_an_error()
    {
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains($"'{_temp.Path}' is empty", ex.Message);
    }

    [Fact]
    public void Folder_with_images_but_no_class_sub_folders_is_an_error()
    {
        _temp.File("a.png", TestImages.Png());
        _temp.File("b.png", TestImages.Png());
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("no class sub-folders", ex.Message);
        Assert.Contains("2 file(s)", ex.Message);
    }

    [Fact]
    public void Class_folders_without_any_files_is_an_error()
    {
        _temp.Dir("cats");
        _temp.Dir("dogs/nested");
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("no files in any of them", ex.Message);
    }

    [Fact]
    public void An_empty_class_folder_is_an_error_naming_it()
    {
        SyntheticImageDataset.Write(_temp.Path, 3, 16);
        var empty = _temp.Dir("yellow_star");
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains($"'{empty}' is empty", ex.Message);
    }

    [Fact]
    public void Class_with_too_few_usable_images_names_class_count_and_skipped_files()
    {
        SyntheticImageDataset.Write(_temp.Path, 3, 16);
        foreach (var f in Directory.GetFiles(Path.Combine(_temp.Path, "red_circle")).Skip(1)) File.Delete(f);
        var broken = _temp.File("red_circle/broken.jpg", []);
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("class 'red_circle' has 1 usable image", ex.Message);
        Assert.Contains("1 file(s) were skipped", ex.Message);
        Assert.Contains(broken, ex.Message);
        Assert.Contains("MinImagesPerClass", ex.Message);

        // The minimum is configurable.
        var dataset = ImageDatasetLoader.Load(_temp.Path, new DatasetOptions { MinImagesPerClass = 1 });
        Assert.Equal(1, dataset.CountsPerClass().Single(c => c.Label == "red_circle").Train);
    }

    [Fact]
    public void A_single_class_is_an_error_naming_it()
    {
        _temp.File("cats/a.png", TestImages.Png());
        _temp.File("cats/b.png", TestImages.Png());
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path));
        Assert.Contains("Only 1 class ('cats')", ex.Message);
        Assert.Contains("at least 2 classes", ex.Message);
    }

    [Fact]
    public void Invalid_options_are_rejected_before_reading()
    {
        var ex = Assert.Throws<MlNetTransferException>(() => ImageDatasetLoader.Load(_temp.Path, new DatasetOptions { ValidationFraction = 0.3 }));
        Assert.Contains("add up to 1", ex.Message);
    }

    [Fact]
    public void Hundreds_of_images_are_all_validated_and_kept()
    {
        SyntheticImageDataset.Write(_temp.Path, imagesPerClass: 100, size: 64);
        var dataset = ImageDatasetLoader.Load(_temp.Path);
        Assert.Equal(300, dataset.Count);
        Assert.Empty(dataset.Skipped);
    }

    /// <summary>Records reports on the calling thread (Progress&lt;T&gt; would post them asynchronously).</summary>
    private sealed class SynchronousProgress(List<int> reports) : IProgress<int>
    {
        public void Report(int value)
        {
            lock (reports) reports.Add(value);
        }
    }
}
