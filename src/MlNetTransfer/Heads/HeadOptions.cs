namespace MlNetTransfer.Heads;

/// <summary>Options of the classifier head trained on embeddings.</summary>
public sealed class HeadOptions
{
    /// <summary>Which ML.NET trainer. Default <see cref="HeadTrainer.Sdca"/>: the most accurate of the three on
    /// mobilenet_v2 embeddings of hymenoptera (0.967 validation accuracy against 0.948 L-BFGS, 0.928 SVM; README).</summary>
    public HeadTrainer Trainer { get; set; } = HeadTrainer.Sdca;

    /// <summary>L2 regularisation weight; null means each trainer's own default
    /// (SDCA: chosen from the data; L-BFGS: 1; SVM: lambda 0.001; LightGBM: 0.01 on its leaf values).</summary>
    public float? L2Regularization { get; set; }

    /// <summary>L1 regularisation weight of SDCA, L-BFGS and LightGBM (its leaf values; the SVM has none); null means the trainer's own default
    /// (SDCA: chosen from the data; L-BFGS: 1).</summary>
    public float? L1Regularization { get; set; }

    /// <summary>Folds of the stratified cross-validation on the training embeddings that picks the regularisation
    /// (<see cref="HeadCrossValidation"/>): the L2 weight from a grid around the trainer's default, then for SDCA and
    /// L-BFGS the L1 weight at that L2; the highest mean held-out accuracy wins, ties to the stronger regularisation.
    /// Only when neither <see cref="L2Regularization"/> nor <see cref="L1Regularization"/> is set. Default 5; 0 trains with
    /// the trainer's defaults. It costs (grid points x folds) head fits on the cached embeddings, run in parallel, with the
    /// scaled embeddings cached per fold: measured at 3-11 times one head fit on 244-1000 training images, and it moved
    /// validation accuracy by +1.8 (sdca), +0.5 (lbfgs), +0.2 (svm) points on average over three sets (README, Heads).</summary>
    public int CrossValidationFolds { get; set; } = 5;

    /// <summary>Whether the regularisation is to be chosen by cross-validation: folds on, and neither L2 nor L1 given.</summary>
    internal bool CrossValidatesRegularisation => CrossValidationFolds > 0 && L2Regularization is null && L1Regularization is null;

    /// <summary>Most wall time the cross-validation may take; null (default) means no limit. When it runs out, no new fit
    /// starts and the values whose folds all finished are compared (the trainer's default is tried first); when it is
    /// zero or less the search is skipped. The report's <c>crossValidation.note</c> says which. The auto strategy sets it
    /// from its budget (<see cref="HeadCrossValidation.TimeLimitWithin"/>).</summary>
    public TimeSpan? CrossValidationTimeLimit { get; set; }

    /// <summary>Iteration cap: SDCA passes over the data (default 100 — its own default is unbounded
    /// and can run for minutes on wide embeddings), L-BFGS iterations (default 200), SVM epochs (default 50), LightGBM
    /// boosting rounds (default 100).</summary>
    public int? MaximumIterations { get; set; }

    /// <summary>How embeddings are scaled before the head (the normaliser becomes part of the saved model).
    /// Default <see cref="EmbeddingNormalization.MeanVariance"/>: SDCA and the SVM converge far faster on standardised inputs.</summary>
    public EmbeddingNormalization Normalization { get; set; } = EmbeddingNormalization.MeanVariance;

    /// <summary>Throws a message naming the setting when one is out of range.</summary>
    public void Validate()
    {
        if (CrossValidationFolds is < 0 or 1)
            throw new MlNetTransferException($"Head CrossValidationFolds is {CrossValidationFolds}; use 0 (off) or at least 2.");
        if (L2Regularization is < 0 || L1Regularization is < 0 || L2Regularization is float.NaN || L1Regularization is float.NaN)
            throw new MlNetTransferException($"Head regularisation must be 0 or more (L2 {L2Regularization}, L1 {L1Regularization}).");
        if (L1Regularization is not null && Trainer == HeadTrainer.Svm)
            throw new MlNetTransferException("The SVM head has no L1 regularisation; set L2Regularization (its lambda) or use sdca or lbfgs.");
    }

    /// <summary>A copy with the same settings.</summary>
    public HeadOptions Clone() => (HeadOptions)MemberwiseClone();

    /// <summary>A per-example weight column the trainer reads while fitting (class weighting); not needed to predict.</summary>
    internal string? ExampleWeightColumnName { get; set; }

    /// <summary>ML.NET's own defaults where they are constants (SDCA chooses its from the data).</summary>
    internal const float LbfgsDefaultL2 = 1f, LbfgsDefaultL1 = 1f, SvmDefaultLambda = 1e-3f;

    /// <summary>LightGBM's defaults as this project sets them (<see cref="HeadEstimator"/> says why): L2 on leaf values
    /// 0.01 (ML.NET's), no L1, 100 boosting rounds.</summary>
    internal const float LightGbmDefaultL2 = 0.01f, LightGbmDefaultL1 = 0f;
    internal const int LightGbmDefaultRounds = 100;

    /// <summary>The names <see cref="Parse"/> takes, one per trainer, as the CLI's <c>--trainer</c> lists them.</summary>
    public static IReadOnlyList<string> TrainerNames { get; } = ["sdca", "lbfgs", "svm", "lightgbm"];

    internal int IterationsFor(HeadTrainer trainer) => MaximumIterations ?? trainer switch
    {
        HeadTrainer.Sdca => 100,
        HeadTrainer.Lbfgs => 200,
        HeadTrainer.LightGbm => LightGbmDefaultRounds,
        _ => 50,
    };

    public static EmbeddingNormalization ParseNormalization(string name) => name.Trim().ToLowerInvariant() switch
    {
        "meanvar" or "meanvariance" or "standardize" => EmbeddingNormalization.MeanVariance,
        "l2" or "unit" => EmbeddingNormalization.L2,
        "none" => EmbeddingNormalization.None,
        _ => throw new MlNetTransferException($"Unknown normalization '{name}': use meanvar, l2 or none."),
    };

    public static HeadTrainer Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "sdca" or "sdcamaximumentropy" => HeadTrainer.Sdca,
        "lbfgs" or "lbfgsmaximumentropy" or "logistic" => HeadTrainer.Lbfgs,
        "svm" or "linearsvm" => HeadTrainer.Svm,
        "lightgbm" or "lgbm" => HeadTrainer.LightGbm,
        _ => throw new MlNetTransferException($"Unknown trainer '{name}': use {string.Join(", ", TrainerNames)}."),
    };
}
