namespace MlNetTransfer.Heads;

/// <summary>The ML.NET multiclass trainers that learn a classifier on cached embeddings.</summary>
public enum HeadTrainer
{
    /// <summary><c>SdcaMaximumEntropy</c>: stochastic dual coordinate ascent, fast, calibrated probabilities.</summary>
    Sdca,

    /// <summary><c>LbfgsMaximumEntropy</c>: multinomial logistic regression by L-BFGS, the classic linear probe.</summary>
    Lbfgs,

    /// <summary>One-versus-all over <c>LinearSvm</c>, Platt-calibrated so log-loss is meaningful.</summary>
    Svm,

    /// <summary><c>LightGbmMulticlass</c>: gradient-boosted trees on the embeddings (softmax over one tree per class per
    /// round), with defaults sized for a few hundred rows of ~1000-d dense features (<see cref="HeadEstimator"/>).</summary>
    LightGbm,
}
