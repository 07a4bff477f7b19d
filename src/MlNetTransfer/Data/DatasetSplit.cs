namespace MlNetTransfer.Data;

/// <summary>The three parts of a split dataset.</summary>
public sealed record DatasetSplit(IReadOnlyList<ImageExample> Train, IReadOnlyList<ImageExample> Validation, IReadOnlyList<ImageExample> Test);
