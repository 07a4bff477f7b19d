using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;

namespace MlNetTransfer.Strategy;

/// <summary>Options of the <c>auto</c> strategy: what it measures and which candidates it may try. The budget itself is
/// <see cref="TransferLearningOptions.Budget"/>.</summary>
public sealed class AutoSearchOptions
{
    /// <summary>Heads tried on the cached embeddings, in order, before any fine-tuning. Default sdca, lbfgs, svm, lightgbm:
    /// the trees last, being the dearest per fit, so under a tight budget the rule "a later head only if the last one's
    /// time fits" drops them first.</summary>
    public IList<HeadTrainer> Heads { get; set; } = new List<HeadTrainer> { HeadTrainer.Sdca, HeadTrainer.Lbfgs, HeadTrainer.Svm, HeadTrainer.LightGbm };

    /// <summary>Share of the budget left after featurization that the heads, regularisation searches included, may take
    /// together when fine-tuning candidates follow; each head's search gets an equal part of what is still left of it, and a
    /// head that would not fit is skipped (its row says so). Default 0.2: on the Fashion-MNIST 100/class subset (10 classes,
    /// 1000 images) the four heads' full searches took 126 s of a 5-minute budget and left no fine-tuning candidate room for
    /// its epochs; with a fifth, the heads still search the middle of each grid first (<see cref="HeadCrossValidation.L2Grid"/>).
    /// Without fine-tuning to follow the heads share the whole budget.</summary>
    public double HeadShare { get; set; } = 0.2;

    /// <summary>Whether fine-tuning candidates are tried after the heads, by successive halving. Default true.</summary>
    public bool FineTune { get; set; } = true;

    /// <summary>Successive halving (Jamieson and Talwalkar 2016): after each rung the best 1/<c>HalvingRate</c> of its
    /// candidates go on, each to <c>HalvingRate</c> times the epochs it had. Default 3: the best third continue.</summary>
    public int HalvingRate { get; set; } = 3;

    /// <summary>Fine-tuning epochs every candidate gets in the first rung (the head's warm-up or probe comes on top, whole).
    /// Default 1: the cheapest look that ranks candidates, and the budget then goes to those that look best.</summary>
    public int RungEpochs { get; set; } = 1;

    /// <summary>Fine-tuning epochs the last candidate left is given at least: fewer candidates enter rung 1 (and fewer go on
    /// after a rung) when, at the epoch time measured so far, the budget could not give it these. Default 8: on a few hundred
    /// images the pretrained layers need several passes to move, and a search that ranks many candidates on one epoch each
    /// but trains none of them further loses to a single candidate trained properly. Measured with 5-minute budgets: at 5
    /// the last run on hds_shapes stopped at 5 epochs and 0.938, at 8 it entered one candidate fewer in rung 1 and trained
    /// 10 epochs to 0.946; on the Fashion-MNIST subset 0.854 (test 0.848) became 0.860 (0.850). Capped by
    /// <see cref="MaximumEpochs"/>.</summary>
    public int MinimumFinalEpochs { get; set; } = 8;

    /// <summary>The most fine-tuning epochs a candidate's learning-rate schedule is planned over: the last one left trains to
    /// what the budget fits, up to this. Default 20. Auto's own cap rather than <see cref="FineTuning.FineTuneOptions.Epoch"/>
    /// (10, a single run's length): with few candidates the last one reached those 10 epochs with a sixth of the budget
    /// unspent (hds_shapes: 50–80 s of 300). At 20 the budget is spent (290–300 s); validation moved within its noise and the
    /// hds_shapes three-way split's test accuracy went from 0.931 to 0.944 (two seeds).</summary>
    public int MaximumEpochs { get; set; } = 20;

    /// <summary>The smallest area the random crop keeps for auto's fine-tuning candidates, in place of
    /// <see cref="ImageAugmentation.MinCropArea"/> (0.35, a single run's default); null keeps that one. Default 0.7: auto's
    /// schedules are short (8–20 epochs in 5 minutes on a few hundred images), and transfer recipes fine-tune with mild crops
    /// (BiT's HyperRule) where 0.35 comes from long training from scratch. Measured with 5-minute budgets, validation (test):
    /// Fashion-MNIST 100/class 0.860 (0.849) → 0.882 (0.862), 0.870 (0.833) → 0.880 (0.856) and 0.874 (0.850) → 0.868 (0.841)
    /// at seeds 42, 2 and 1;
    /// hds_shapes 0.938 / 0.950 / 0.946 → 0.950 / 0.954 / 0.942 at seeds 3 / 42 / 1; its three-way split 0.983 (0.933) →
    /// 0.967 (0.938).</summary>
    public float? MinCropArea { get; set; } = 0.7f;

    /// <summary>Freeze depths tried: the one the scenario decision points to and its nearest neighbours
    /// (<see cref="AutoCandidate.Depths"/>). Default 3.</summary>
    public int FreezeDepths { get; set; } = 3;

    /// <summary>The learning-rate grid, as factors of <see cref="FineTuning.FineTuneOptions.LearningRate"/>; factors below 1 go
    /// to probe starts only (<see cref="AutoCandidate.FineTuneGrid"/>). Default 1 alone. Rung 1 ranks after one epoch, the
    /// horizon where a gentler step looks best and is not (short-horizon bias, Wu et al. 2018): a probe start at 0.3× barely
    /// leaves its probe, so it outranked the runs that went on to win and then stayed flat. Measured with 5-minute budgets
    /// (seed 42): on hds_shapes' three-way split such runs took rung 2 and ended at 0.883 (the L-BFGS head was kept, test
    /// 0.908); with 1 alone the random start trained 10 epochs to 0.975 (test 0.938); on hds_shapes 0.938–0.946 became 0.946
    /// with 9 epochs; on hymenoptera no 0.3× run ever ranked first at its end. <c>1,0.3</c> (train --lr-grid) restores the grid.</summary>
    public IList<float> LearningRateFactors { get; set; } = new List<float> { 1f };

    /// <summary>Which head starts are tried. Default <see cref="HeadStartMode.Auto"/>: chosen from the frozen head's accuracy
    /// and the domain similarity (<see cref="HeadStartChoice.Choose"/>); when every run of the chosen start ends before the
    /// budget (early stopping), the start left out gets what is left, in a halving of its own.</summary>
    public HeadStartMode HeadStart { get; set; } = HeadStartMode.Auto;

    /// <summary>From this validation accuracy of the best head on the frozen embeddings, the frozen features count as strong
    /// (for <see cref="HeadStartMode.Auto"/>). Default 0.9.</summary>
    public double StrongHeadAccuracy { get; set; } = 0.9;

    /// <summary>Whether the backbone's own classifier (when it has a labels file) is run over the training images for the
    /// source-head confidence measurement. Default true; it costs one more pass over the images (cached like embeddings).</summary>
    public bool MeasureSourceHead { get; set; } = true;

    /// <summary>The size threshold.</summary>
    public DatasetSizeOptions Size { get; set; } = new();

    /// <summary>The similarity anchors.</summary>
    public DomainSimilarityOptions Similarity { get; set; } = new();

    /// <summary>The similarity cut-off.</summary>
    public ScenarioMatrixOptions Matrix { get; set; } = new();

    /// <summary>The augmentation auto's fine-tuning candidates train with: <paramref name="fineTune"/>'s, with
    /// <see cref="MinCropArea"/> as its crop when set (a copy; the options given stay as they are).</summary>
    internal ImageAugmentation CandidateAugmentation(ImageAugmentation fineTune) =>
        MinCropArea is { } area ? fineTune.WithMinCropArea(area) : fineTune;

    internal void Validate()
    {
        if (HalvingRate < 2) throw new MlNetTransferException($"Auto search: HalvingRate (--halving-rate) is {HalvingRate}; it must be at least 2.");
        if (RungEpochs < 1) throw new MlNetTransferException($"Auto search: RungEpochs (--rung-epochs) is {RungEpochs}; it must be at least 1.");
        if (MinimumFinalEpochs < 1) throw new MlNetTransferException($"Auto search: MinimumFinalEpochs (--final-epochs) is {MinimumFinalEpochs}; it must be at least 1.");
        if (MaximumEpochs < 1) throw new MlNetTransferException($"Auto search: MaximumEpochs (--max-epochs) is {MaximumEpochs}; it must be at least 1.");
        if (MinCropArea is { } area && area is not (> 0 and <= 1))
            throw new MlNetTransferException($"Auto search: MinCropArea (--crop-min-area) is {area}; it must be in (0, 1], or null to keep the fine-tuning options' crop.");
        if (FreezeDepths < 1) throw new MlNetTransferException($"Auto search: FreezeDepths (--freeze-depths) is {FreezeDepths}; it must be at least 1.");
        if (LearningRateFactors.Count == 0 || LearningRateFactors.Any(f => !(f > 0) || !float.IsFinite(f)))
            throw new MlNetTransferException($"Auto search: LearningRateFactors (--lr-grid) is [{string.Join(", ", LearningRateFactors)}]; give one or more positive factors.");
        if (!(HeadShare > 0 && HeadShare <= 1))
            throw new MlNetTransferException($"Auto search: HeadShare (--head-share) is {HeadShare}; give a fraction above 0 and at most 1.");
        if (StrongHeadAccuracy is < 0 or > 1 || double.IsNaN(StrongHeadAccuracy))
            throw new MlNetTransferException($"Auto search: StrongHeadAccuracy is {StrongHeadAccuracy}; it must be between 0 and 1.");
    }
}
