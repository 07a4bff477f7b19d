using System.Text;

namespace MlNetTransfer.Data;

/// <summary>A labelled image dataset, split into train / validation / test, with every unusable file listed.</summary>
public sealed class ImageDataset
{
    /// <summary>Builds a dataset from already split examples; <see cref="Classes"/> is the sorted union of their labels.</summary>
    /// <param name="train">Training images.</param>
    /// <param name="validation">Validation images.</param>
    /// <param name="test">Test images (may be empty).</param>
    /// <param name="skipped">Files found but not used.</param>
    /// <param name="source">Where the dataset came from (a folder or manifest path); empty when built in memory.</param>
    /// <param name="isPreSplit">True when the split came from train/ val/ test/ folders rather than <see cref="StratifiedSplitter"/>.</param>
    /// <param name="splitDescription">One line saying how the split was made, for reports.</param>
    public ImageDataset(
        IEnumerable<ImageExample> train,
        IEnumerable<ImageExample> validation,
        IEnumerable<ImageExample> test,
        IEnumerable<SkippedFile>? skipped = null,
        string? source = null,
        bool isPreSplit = false,
        string? splitDescription = null)
    {
        Train = train.ToList();
        Validation = validation.ToList();
        Test = test.ToList();
        Skipped = (skipped ?? []).ToList();
        Source = source ?? "";
        IsPreSplit = isPreSplit;
        SplitDescription = splitDescription ?? (isPreSplit ? "pre-split" : "split");
        Classes = Train.Concat(Validation).Concat(Test).Select(e => e.Label).Distinct().Order(StringComparer.Ordinal).ToList();
    }

    public IReadOnlyList<ImageExample> Train { get; }
    public IReadOnlyList<ImageExample> Validation { get; }
    public IReadOnlyList<ImageExample> Test { get; }

    /// <summary>Class names, sorted ordinal. A class's index in this list is its stable id.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Every file that was found but is not used, with the reason.</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }

    /// <summary>Absolute path of the folder or manifest the dataset was loaded from.</summary>
    public string Source { get; }

    /// <summary>True when train/ and val/ (and test/) folders were used as given.</summary>
    public bool IsPreSplit { get; }

    /// <summary>How the split was made, e.g. "stratified split 80/10/10 with seed 42".</summary>
    public string SplitDescription { get; }

    /// <summary>All usable images: train, then validation, then test.</summary>
    public IEnumerable<ImageExample> All => Train.Concat(Validation).Concat(Test);

    /// <summary>Number of usable images.</summary>
    public int Count => Train.Count + Validation.Count + Test.Count;

    /// <summary>Per class (in <see cref="Classes"/> order): images in each split and files skipped.</summary>
    public IReadOnlyList<ClassCounts> CountsPerClass()
    {
        static Dictionary<string, int> Tally(IEnumerable<string?> labels) => labels
            .Where(l => l is not null).GroupBy(l => l!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var train = Tally(Train.Select(e => e.Label));
        var validation = Tally(Validation.Select(e => e.Label));
        var test = Tally(Test.Select(e => e.Label));
        var skipped = Tally(Skipped.Select(s => s.Label));
        return Classes.Select(c => new ClassCounts(c, train.GetValueOrDefault(c), validation.GetValueOrDefault(c),
            test.GetValueOrDefault(c), skipped.GetValueOrDefault(c))).ToList();
    }

    /// <summary>A short multi-line summary: source, split, per-class counts, skipped count.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine($"{Source} — {Classes.Count} classes, {Count} images ({Train.Count} train / {Validation.Count} validation / {Test.Count} test); {SplitDescription}");
        foreach (var c in CountsPerClass())
            text.AppendLine($"  {c.Label}: {c.Train} / {c.Validation} / {c.Test}{(c.Skipped > 0 ? $" ({c.Skipped} skipped)" : "")}");
        if (Skipped.Count > 0) text.AppendLine($"  {Skipped.Count} file(s) skipped");
        return text.ToString().TrimEnd();
    }
}
