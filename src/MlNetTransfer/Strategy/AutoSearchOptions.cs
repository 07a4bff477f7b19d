using MlNetTransfer.Heads;

namespace MlNetTransfer.Strategy;

/// <summary>Options of the <c>auto</c> strategy: what it measures and which candidates it may try. The budget itself is
/// <see cref="TransferLearningOptions.Budget"/>.</summary>
public sealed class AutoSearchOptions
{
    /// <summary>Heads tried on the cached embeddings, in order, before any fine-tuning. Default sdca, lbfgs, svm.</summary>
    public IList<HeadTrainer> Heads { get; set; } = new List<HeadTrainer> { HeadTrainer.Sdca, HeadTrainer.Lbfgs, HeadTrainer.Svm };

    /// <summary>Whether fine-tuning depths are tried after the heads (in the scenario matrix's order). Default true.</summary>
    public bool FineTune { get; set; } = true;

    /// <summary>Whether the backbone's own classifier (when it has a labels file) is run over the training images for the
    /// source-head confidence measurement. Default true; it costs one more pass over the images (cached like embeddings).</summary>
    public bool MeasureSourceHead { get; set; } = true;

    /// <summary>The size threshold.</summary>
    public DatasetSizeOptions Size { get; set; } = new();

    /// <summary>The similarity anchors.</summary>
    public DomainSimilarityOptions Similarity { get; set; } = new();

    /// <summary>The similarity cut-off.</summary>
    public ScenarioMatrixOptions Matrix { get; set; } = new();
}
