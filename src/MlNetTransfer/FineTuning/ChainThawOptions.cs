namespace MlNetTransfer.FineTuning;

/// <summary>
/// Chain-thaw (Felbo et al. 2017, DeepMoji): train the new head alone, then each block of pretrained layers alone from the
/// input side to the output side, then the whole network — each phase starting from the best weights so far. Unfreezing
/// one block at a time keeps the new head's early, large gradients from wrecking pretrained features.
/// </summary>
public sealed class ChainThawOptions
{
    /// <summary>How many contiguous blocks the pretrained layers (parameter groups) are cut into, each thawed alone once.
    /// Felbo et al. thaw every layer; deep CNNs have dozens, so blocks of layers keep the run affordable. Default 4.</summary>
    public int Blocks { get; set; } = 4;

    /// <summary>Epochs for the head phase and for each block phase (early stopping may end a phase sooner). The final
    /// whole-network phase runs <see cref="FineTuneOptions.Epoch"/> epochs. Default 1.</summary>
    public int EpochsPerPhase { get; set; } = 1;
}
