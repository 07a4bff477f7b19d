using MlNetTransfer.Data;

namespace MlNetTransfer.Tests.Data;

public sealed class StratifiedSplitterTests
{
    private static List<ImageExample> Examples(params (string Label, int Count)[] classes) =>
        classes.SelectMany(c => Enumerable.Range(0, c.Count).Select(i => new ImageExample($"/data/{c.Label}/{i:D3}.jpg", c.Label))).ToList();

    [Theory]
    [InlineData(1, 0.1, 0.1, 1, 0, 0)]
    [InlineData(2, 0.1, 0.1, 1, 1, 0)]
    [InlineData(3, 0.1, 0.1, 2, 1, 0)]
    [InlineData(4, 0.1, 0.1, 3, 1, 0)]
    [InlineData(5, 0.1, 0.1, 3, 1, 1)]   // 0.5 rounds up for both held-out splits
    [InlineData(10, 0.1, 0.1, 8, 1, 1)]
    [InlineData(15, 0.1, 0.1, 11, 2, 2)]
    [InlineData(20, 0.1, 0.1, 16, 2, 2)]
    [InlineData(10, 0.2, 0.0, 8, 2, 0)]
    [InlineData(3, 0.4, 0.3, 1, 1, 1)]
    [InlineData(2, 0.45, 0.45, 1, 1, 0)] // training keeps 1: test gives its image back first
    [InlineData(0, 0.1, 0.1, 0, 0, 0)]
    public void Counts_follow_the_documented_rounding_rule(int n, double val, double test, int eTrain, int eVal, int eTest)
    {
        Assert.Equal((eTrain, eVal, eTest), StratifiedSplitter.Counts(n, val, test));
    }

    [Fact]
    public void Split_is_stratified_complete_and_disjoint()
    {
        var examples = Examples(("cat", 20), ("dog", 10), ("eel", 2));
        var split = StratifiedSplitter.Split(examples, new DatasetOptions());

        int Count(IEnumerable<ImageExample> part, string label) => part.Count(e => e.Label == label);
        Assert.Equal((16, 2, 2), (Count(split.Train, "cat"), Count(split.Validation, "cat"), Count(split.Test, "cat")));
        Assert.Equal((8, 1, 1), (Count(split.Train, "dog"), Count(split.Validation, "dog"), Count(split.Test, "dog")));
        Assert.Equal((1, 1, 0), (Count(split.Train, "eel"), Count(split.Validation, "eel"), Count(split.Test, "eel")));
        var all = split.Train.Concat(split.Validation).Concat(split.Test).Select(e => e.Path).ToList();
        Assert.Equal(examples.Count, all.Distinct().Count());
        Assert.Equal(examples.Select(e => e.Path).Order(), all.Order());
    }

    [Fact]
    public void Split_is_deterministic_for_a_seed_whatever_the_input_order()
    {
        var examples = Examples(("a", 30), ("b", 25));
        var shuffled = examples.OrderBy(e => e.Path.GetHashCode()).Reverse().ToList();
        var first = StratifiedSplitter.Split(examples, 0.1, 0.1, seed: 7);
        var second = StratifiedSplitter.Split(shuffled, 0.1, 0.1, seed: 7);
        Assert.Equal(first.Train, second.Train);
        Assert.Equal(first.Validation, second.Validation);
        Assert.Equal(first.Test, second.Test);

        var other = StratifiedSplitter.Split(examples, 0.1, 0.1, seed: 8);
        Assert.NotEqual(first.Validation, other.Validation);
    }

    [Fact]
    public void A_class_split_does_not_depend_on_other_classes()
    {
        var alone = StratifiedSplitter.Split(Examples(("a", 30)), 0.2, 0.1, seed: 3);
        var withOthers = StratifiedSplitter.Split(Examples(("a", 30), ("b", 12), ("c", 7)), 0.2, 0.1, seed: 3);
        Assert.Equal(alone.Validation, withOthers.Validation.Where(e => e.Label == "a"));
        Assert.Equal(alone.Test, withOthers.Test.Where(e => e.Label == "a"));
    }

    [Fact]
    public void Split_actually_shuffles_within_a_class()
    {
        var split = StratifiedSplitter.Split(Examples(("a", 100)), 0.1, 0.1, seed: 42);
        // Without shuffling, validation would be the 10 consecutive paths after the first 80.
        var indices = split.Validation.Select(e => int.Parse(Path.GetFileNameWithoutExtension(e.Path))).ToList();
        Assert.True(indices.Max() - indices.Min() > 20, string.Join(",", indices));
    }

    [Fact]
    public void Bad_fractions_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => StratifiedSplitter.Counts(10, -0.1, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => StratifiedSplitter.Counts(10, 0.1, 1.0));
        var ex = Assert.Throws<MlNetTransferException>(() => StratifiedSplitter.Split(Examples(("a", 3)), new DatasetOptions { TestFraction = 0 }));
        Assert.Contains("TestFraction (0)", ex.Message);
        Assert.Contains("add up to 1", ex.Message);
    }
}
