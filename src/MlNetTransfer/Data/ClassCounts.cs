namespace MlNetTransfer.Data;

/// <summary>How many images of one class ended up in each split, and how many of its files were skipped.</summary>
public sealed record ClassCounts(string Label, int Train, int Validation, int Test, int Skipped)
{
    /// <summary>Usable images of the class (train + validation + test).</summary>
    public int Total => Train + Validation + Test;
}
