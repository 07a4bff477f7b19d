namespace MlNetTransfer.FineTuning;

/// <summary>The optimizer that updates the trainable weights.</summary>
public enum FineTuneOptimizer
{
    /// <summary>Adam with decoupled weight decay (Loshchilov and Hutter): forgiving of the learning rate, the usual choice for fine-tuning.</summary>
    AdamW,

    /// <summary>Stochastic gradient descent with (heavy-ball) momentum: the classic ImageNet recipe; wants a larger learning rate.</summary>
    Sgd,
}
