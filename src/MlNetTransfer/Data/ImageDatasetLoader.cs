using System.Globalization;

namespace MlNetTransfer.Data;

/// <summary>Loads a labelled image dataset from a folder of class sub-folders, a pre-split folder
/// (train/ val/ [test/]), or a CSV/TSV manifest, validates every image, and splits it.</summary>
/// <remarks>
/// <para><b>Folder of classes</b>: <c>root/&lt;class&gt;/**/*</c>. Every file under a class folder (at any depth) belongs to
/// that class. The dataset is split by <see cref="StratifiedSplitter"/> with <see cref="DatasetOptions"/>' fractions and seed.</para>
/// <para><b>Pre-split folder</b>: a root holding <c>train/</c> and <c>val/</c> (or <c>validation/</c>), optionally <c>test/</c>
/// (names matched case-insensitively), each with class sub-folders, is used as given. A root with <c>train/</c> but no
/// val folder gets its validation images carved out of <c>train/</c> (stratified, share ValidationFraction / (TrainFraction
/// + ValidationFraction)); a given <c>test/</c> is kept as is. Classes in val/ or test/ must also exist in train/.</para>
/// <para><b>Manifest</b>: a .csv/.tsv/.txt file of <c>path,label</c> rows (see the format rules on ImageManifest): header
/// optional, quoted fields, paths relative to the manifest's folder.</para>
/// <para><b>Nothing is dropped silently</b>: every file found is either used or listed in <see cref="ImageDataset.Skipped"/>
/// with a reason (not an image, unsupported format, empty, corrupt or truncated, or not inside a class folder). Hidden
/// folders (".git", ".ipynb_checkpoints") and "__MACOSX" next to class folders are listed once as ignored folders.</para>
/// <para>Problems the user must fix throw <see cref="MlNetTransferException"/>: a missing path, no class folders, an empty
/// class folder, fewer than 2 classes, a class with fewer than <see cref="DatasetOptions.MinImagesPerClass"/> usable images,
/// a malformed manifest row or one naming a missing file, a val/test class unknown to train/.</para>
/// </remarks>
public static class ImageDatasetLoader
{
    private static readonly EnumerationOptions AllFiles = new()
    {
        RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false, MatchType = MatchType.Simple,
    };

    private static readonly EnumerationOptions TopLevel = new() { AttributesToSkip = 0, IgnoreInaccessible = false };

    /// <summary>A file found while listing a dataset, before it is opened: its class and, in a pre-split folder, its split
    /// folder ("train", "val" or "test"; "" otherwise).</summary>
    internal sealed record Candidate(string Path, string Label, string Split);

    /// <summary>What listing a dataset finds before any image is opened: enough to validate any subset of its files (one
    /// shard's) and to assemble the dataset from the validated ones (<see cref="Assemble"/>).</summary>
    internal sealed record DatasetListing
    {
        /// <summary>Absolute path of the folder or manifest.</summary>
        public required string Source { get; init; }

        public required bool IsManifest { get; init; }

        /// <summary>The class folders (train/'s when pre-split) or the manifest's labels, sorted ordinal.</summary>
        public required IReadOnlyList<string> Classes { get; init; }

        /// <summary>The split folders of a pre-split dataset (absolute); null otherwise or when absent.</summary>
        public string? TrainRoot { get; init; }
        public string? ValRoot { get; init; }
        public string? TestRoot { get; init; }

        public required IReadOnlyList<Candidate> Candidates { get; init; }

        /// <summary>Files and folders skipped while listing (stray files, hidden folders).</summary>
        public required IReadOnlyList<SkippedFile> Skipped { get; init; }

        public bool IsPreSplit => TrainRoot is not null;

        /// <summary>The folder image paths are relative to: the dataset folder, or the manifest's folder.</summary>
        public string Root => IsManifest ? Path.GetDirectoryName(Source)! : Source;
    }

    /// <summary>Loads, validates and splits the dataset at <paramref name="path"/> (a folder or a manifest file).</summary>
    /// <param name="path">A folder of class sub-folders, a pre-split folder, or a .csv/.tsv/.txt manifest.</param>
    /// <param name="options">Split fractions, seed and checks; defaults when null.</param>
    /// <param name="progress">Receives the percentage (0–100) of files validated, from worker threads, each time it grows.</param>
    public static ImageDataset Load(string path, DatasetOptions? options = null, IProgress<int>? progress = null)
    {
        options ??= new DatasetOptions();
        options.Validate();
        var listing = List(path);
        var skipped = listing.Skipped.ToList();
        var examples = Validate(listing.Candidates, skipped, options, progress);
        return Assemble(listing, examples, skipped, options);
    }

    /// <summary>Finds every file of the dataset and checks its layout, without opening any image. Throws for the
    /// problems that stop a run before validation (missing path, no or empty class folders, one class, bad manifest).</summary>
    internal static DatasetListing List(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new MlNetTransferException("No dataset path was given.");
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (Directory.Exists(full)) return ListFolderDataset(full);
        if (File.Exists(full)) return ListManifest(full);
        throw new MlNetTransferException($"Dataset path '{full}' does not exist.");
    }

    /// <summary>The validated images and skipped files of a listing → the dataset: the per-class minimum, then the split
    /// (stratified with the options' seed, or the pre-split folders as given). The one place the split rules are applied,
    /// whether the images were just validated or come back from featurized shards.</summary>
    internal static ImageDataset Assemble(DatasetListing listing, IReadOnlyList<(ImageExample Example, string Split)> examples,
        List<SkippedFile> skipped, DatasetOptions options)
    {
        if (!listing.IsPreSplit)
        {
            var byClass = examples.GroupBy(e => e.Example.Label, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            RequireMinimum(byClass, listing.Classes, skipped, options, where: listing.Source, splitName: null);
            var split = StratifiedSplitter.Split(examples.Select(e => e.Example), options);
            return new ImageDataset(split.Train, split.Validation, split.Test, skipped, listing.Source, isPreSplit: false, Describe(options));
        }

        var (trainRoot, valRoot, testRoot) = (listing.TrainRoot!, listing.ValRoot, listing.TestRoot);
        var trainByClass = examples.Where(e => e.Split == "train").GroupBy(e => e.Example.Label, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        RequireMinimum(trainByClass, listing.Classes, skipped.Where(s => s.Path.StartsWith(trainRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal)).ToList(),
            options, where: trainRoot, splitName: "train/");

        var train = examples.Where(e => e.Split == "train").Select(e => e.Example).ToList();
        var validation = examples.Where(e => e.Split == "val").Select(e => e.Example).ToList();
        var test = examples.Where(e => e.Split == "test").Select(e => e.Example).ToList();
        var given = string.Join(", ", new[] { trainRoot, valRoot, testRoot }.OfType<string>().Select(d => Path.GetFileName(d) + "/"));
        var description = $"pre-split folders {given} used as given";
        if (valRoot is null)
        {
            var share = options.ValidationFraction / (options.TrainFraction + options.ValidationFraction);
            var carved = StratifiedSplitter.Split(train, share, 0, options.Seed);
            (train, validation) = (carved.Train.ToList(), carved.Validation.ToList());
            description += $"; no val/ folder, so validation is {Percent(share)}% of train/ per class (stratified, seed {options.Seed})";
        }
        // Shards come back in any order: the folders' lists are sorted as listing (and the splitter) orders them.
        (train, validation, test) = (Sorted(train), Sorted(validation), Sorted(test));
        return new ImageDataset(train, validation, test, skipped, listing.Source, isPreSplit: true, description);
    }

    private static List<ImageExample> Sorted(List<ImageExample> list) =>
        list.OrderBy(e => e.Label, StringComparer.Ordinal).ThenBy(e => e.Path, StringComparer.Ordinal).ToList();

    private static DatasetListing ListFolderDataset(string root)
    {
        var skipped = new List<SkippedFile>();
        var dirs = ListFolder(root, skipped, "the dataset root");
        var splitDirs = dirs.Where(d => SplitName(d) is not null).ToList();
        if (splitDirs.Count > 0) return ListPreSplit(root, dirs, splitDirs, skipped);

        if (dirs.Count == 0)
        {
            var fileCount = skipped.Count(s => File.Exists(s.Path));
            throw new MlNetTransferException(fileCount == 0
                ? $"Dataset folder '{root}' is empty; put each class's images in its own sub-folder ('{root}/<class>/image.jpg') or pass a CSV manifest of path,label rows."
                : $"Dataset folder '{root}' has no class sub-folders (it holds {fileCount} file(s) directly); put each class's images in its own sub-folder ('{root}/<class>/image.jpg') or pass a CSV manifest of path,label rows.");
        }
        var candidates = ClassFiles(root, dirs, "", skipped);
        var classes = dirs.Select(d => Path.GetFileName(d)!).ToList();
        RequireTwoClasses(classes, $"folder '{root}'");
        return new DatasetListing { Source = root, IsManifest = false, Classes = classes, Candidates = candidates, Skipped = skipped };
    }

    private static DatasetListing ListPreSplit(string root, List<string> dirs, List<string> splitDirs, List<SkippedFile> skipped)
    {
        var others = dirs.Except(splitDirs).Select(d => Path.GetFileName(d) + "/").ToList();
        if (others.Count > 0)
            throw new MlNetTransferException(
                $"Dataset folder '{root}' mixes split folders ({string.Join(", ", splitDirs.Select(d => Path.GetFileName(d) + "/"))}) with other folders " +
                $"({string.Join(", ", others)}); use either train/ val/ [test/] folders each holding class folders, or class folders only.");
        var bySplit = splitDirs.GroupBy(d => SplitName(d)!).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (name, group) in bySplit.Where(kv => kv.Value.Count > 1))
            throw new MlNetTransferException(
                $"Dataset folder '{root}' has several {name} folders ({string.Join(", ", group.Select(d => Path.GetFileName(d) + "/"))}); keep only one.");
        if (!bySplit.TryGetValue("train", out var trainDirs))
            throw new MlNetTransferException(
                $"Dataset folder '{root}' has {string.Join(" and ", splitDirs.Select(d => Path.GetFileName(d) + "/"))} but no train/ folder; a pre-split dataset needs train/ and val/ (test/ optional).");

        var trainRoot = trainDirs[0];
        var valRoot = bySplit.GetValueOrDefault("val")?[0];
        var testRoot = bySplit.GetValueOrDefault("test")?[0];

        var candidates = new List<Candidate>();
        var trainClasses = ClassDirs(trainRoot, skipped);
        RequireTwoClasses(trainClasses.Select(d => Path.GetFileName(d)!).ToList(), $"folder '{trainRoot}'");
        var known = trainClasses.Select(d => Path.GetFileName(d)!).ToHashSet(StringComparer.Ordinal);
        candidates.AddRange(ClassFiles(trainRoot, trainClasses, "train", skipped));
        foreach (var (splitRoot, split) in new[] { (valRoot, "val"), (testRoot, "test") })
        {
            if (splitRoot is null) continue;
            var classDirs = ClassDirs(splitRoot, skipped);
            var unknown = classDirs.Select(d => Path.GetFileName(d)!).Where(c => !known.Contains(c)).ToList();
            if (unknown.Count > 0)
                throw new MlNetTransferException(
                    $"Folder '{splitRoot}' has class folder(s) {string.Join(", ", unknown.Select(c => $"'{c}'"))} that '{trainRoot}' does not have; " +
                    $"every class in {Path.GetFileName(splitRoot)}/ must also be in train/ (train/ has {string.Join(", ", known.Order(StringComparer.Ordinal).Select(c => $"'{c}'"))}).");
            candidates.AddRange(ClassFiles(splitRoot, classDirs, split, skipped));
        }
        return new DatasetListing
        {
            Source = root, IsManifest = false, Classes = known.Order(StringComparer.Ordinal).ToList(),
            TrainRoot = trainRoot, ValRoot = valRoot, TestRoot = testRoot, Candidates = candidates, Skipped = skipped,
        };
    }

    private static DatasetListing ListManifest(string manifest)
    {
        var extension = Path.GetExtension(manifest).ToLowerInvariant();
        if (extension is not (".csv" or ".tsv" or ".txt"))
        {
            var asImage = ImageFileValidator.Validate(manifest);
            throw new MlNetTransferException(asImage.Format != ImageFormat.Unknown
                ? $"Dataset path '{manifest}' is a single image; pass the folder holding one sub-folder per class, or a CSV manifest of path,label rows."
                : $"Dataset path '{manifest}' is a file but not a .csv/.tsv/.txt manifest; pass a folder of class sub-folders or a manifest of path,label rows.");
        }
        var rows = ImageManifest.Read(manifest);
        var labels = rows.Select(r => r.Label).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        RequireTwoClasses(labels, $"manifest '{manifest}'");
        return new DatasetListing
        {
            Source = manifest, IsManifest = true, Classes = labels,
            Candidates = rows.Select(r => new Candidate(r.Path, r.Label, "")).ToList(), Skipped = [],
        };
    }

    /// <summary>Sub-folders of <paramref name="folder"/> that can be classes; its own files and ignored folders go to <paramref name="skipped"/>.</summary>
    private static List<string> ListFolder(string folder, List<SkippedFile> skipped, string what)
    {
        foreach (var file in Directory.EnumerateFiles(folder, "*", TopLevel).Order(StringComparer.Ordinal))
            skipped.Add(new SkippedFile(file, $"not inside a class folder (a file directly in {what})"));
        var dirs = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories(folder, "*", TopLevel).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            if (name.StartsWith('.')) skipped.Add(new SkippedFile(dir, "hidden folder ignored (not a class)"));
            else if (name == "__MACOSX") skipped.Add(new SkippedFile(dir, "macOS archive metadata folder ignored (not a class)"));
            else dirs.Add(dir);
        }
        return dirs;
    }

    private static List<string> ClassDirs(string splitRoot, List<SkippedFile> skipped)
    {
        var dirs = ListFolder(splitRoot, skipped, $"{Path.GetFileName(splitRoot)}/");
        if (dirs.Count == 0)
            throw new MlNetTransferException($"Folder '{splitRoot}' has no class sub-folders; it should hold one sub-folder per class ('{splitRoot}/<class>/image.jpg').");
        return dirs;
    }

    private static List<Candidate> ClassFiles(string root, List<string> classDirs, string split, List<SkippedFile> skipped)
    {
        var candidates = new List<Candidate>();
        var empty = new List<string>();
        foreach (var dir in classDirs)
        {
            var label = Path.GetFileName(dir)!;
            var files = Directory.EnumerateFiles(dir, "*", AllFiles).Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) empty.Add(dir);
            candidates.AddRange(files.Select(f => new Candidate(f, label, split)));
        }
        if (empty.Count == classDirs.Count)
            throw new MlNetTransferException(
                $"Folder '{root}' has class sub-folders ({string.Join(", ", classDirs.Select(d => Path.GetFileName(d) + "/"))}) but no files in any of them.");
        if (empty.Count > 0)
            throw new MlNetTransferException(
                $"Class folder{(empty.Count > 1 ? "s" : "")} {string.Join(", ", empty.Select(d => $"'{d}'"))} {(empty.Count > 1 ? "are" : "is")} empty; add images or remove {(empty.Count > 1 ? "them" : "it")}.");
        return candidates;
    }

    /// <summary>Opens every candidate's header: a usable image becomes an example (with its split folder), any other file is
    /// added to <paramref name="skipped"/> with the reason.</summary>
    internal static List<(ImageExample Example, string Split)> Validate(
        IReadOnlyList<Candidate> candidates, List<SkippedFile> skipped, DatasetOptions options, IProgress<int>? progress)
    {
        var results = new ImageValidationResult[candidates.Count];
        var done = 0;
        var reported = -1;
        var gate = new object();
        progress?.Report(0);
        Parallel.ForEach(Enumerable.Range(0, candidates.Count), new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism }, i =>
        {
            results[i] = ImageFileValidator.Validate(candidates[i].Path);
            if (progress is null) return;
            var percent = Interlocked.Increment(ref done) * 100 / candidates.Count;
            lock (gate)
            {
                if (percent <= reported) return;
                reported = percent;
                progress.Report(percent);
            }
        });
        if (candidates.Count == 0) progress?.Report(100);

        var examples = new List<(ImageExample, string)>();
        for (var i = 0; i < candidates.Count; i++)
        {
            var (c, r) = (candidates[i], results[i]);
            if (r.IsValid) examples.Add((new ImageExample(c.Path, c.Label) { Width = r.Width, Height = r.Height }, c.Split));
            else skipped.Add(new SkippedFile(c.Path, r.Reason!) { Label = c.Label });
        }
        return examples;
    }

    private static void RequireTwoClasses(IReadOnlyList<string> classes, string where)
    {
        if (classes.Count < 2)
            throw new MlNetTransferException(
                $"Only {classes.Count} class ({string.Join(", ", classes.Select(c => $"'{c}'"))}) found in {where}; an image classifier needs at least 2 classes.");
    }

    private static void RequireMinimum(Dictionary<string, int> usable, IEnumerable<string> classes, IReadOnlyList<SkippedFile> skipped,
        DatasetOptions options, string where, string? splitName)
    {
        var problems = new List<string>();
        foreach (var label in classes.Order(StringComparer.Ordinal))
        {
            var count = usable.GetValueOrDefault(label);
            if (count >= options.MinImagesPerClass) continue;
            var own = skipped.Where(s => s.Label == label).ToList();
            var skippedNote = own.Count == 0
                ? "no files were skipped"
                : $"{own.Count} file(s) were skipped as unusable, e.g. '{own[0].Path}': {own[0].Reason}; see the skipped-files list";
            problems.Add($"class '{label}' has {count} usable image{(count == 1 ? "" : "s")}{(splitName is null ? "" : $" in {splitName}")} ({skippedNote})");
        }
        if (problems.Count > 0)
            throw new MlNetTransferException(
                $"Dataset '{where}': {string.Join("; ", problems)}. Each class needs at least {options.MinImagesPerClass} usable images (DatasetOptions.MinImagesPerClass); add images or remove the class.");
    }

    /// <summary>"train", "val" or "test" for a split folder name (case-insensitive; "validation" means val), else null.</summary>
    private static string? SplitName(string dir) => Path.GetFileName(dir).ToLowerInvariant() switch
    {
        "train" => "train",
        "val" or "validation" => "val",
        "test" => "test",
        _ => null,
    };

    private static string Describe(DatasetOptions o) =>
        $"stratified split {Percent(o.TrainFraction)}/{Percent(o.ValidationFraction)}/{Percent(o.TestFraction)} (train/validation/test) with seed {o.Seed}";

    private static string Percent(double fraction) => (fraction * 100).ToString("0.#", CultureInfo.InvariantCulture);
}
