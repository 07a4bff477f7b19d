namespace MlNetTransfer.FineTuning;

/// <summary>How a fine-tuning run went: the learning curve, which epoch's weights the module holds, how it ended.</summary>
public sealed record FineTuneRun
{
    /// <summary>Every epoch trained, in order.</summary>
    public IReadOnlyList<FineTuneEpoch> Epochs { get; init; } = [];

    /// <summary>The phases planned (planned by the engine from the module's parameter groups).</summary>
    public IReadOnlyList<FineTunePhase> Phases { get; init; } = [];

    /// <summary>1-based epoch whose weights the module holds at the end (the best on validation, or the last without early stopping).</summary>
    public int BestEpoch { get; init; }

    /// <summary>True when early stopping ended a phase before its last planned epoch.</summary>
    public bool StoppedEarly { get; init; }

    /// <summary>True when the run was cancelled; the module holds the best weights of the epochs completed before that.</summary>
    public bool Cancelled { get; init; }

    /// <summary>Pretrained parameter groups (layers with weights) in the network, the head excluded.</summary>
    public int PretrainedGroups { get; init; }

    /// <summary>Wall time of the run.</summary>
    public double Seconds { get; init; }

    /// <summary>Why the int8 prefix (<see cref="FrozenPrefixEngine.OnnxRuntimeInt8"/>) was asked for and the float twin ran
    /// instead (the first phase that fell back), else null.</summary>
    public string? Int8PrefixFallback { get; init; }

    /// <summary>Why channels-last order (<see cref="FineTuneOptions.ChannelsLast"/>) was asked for and the run kept NCHW order:
    /// libtorch's channels-last kernels did not compute what its NCHW ones compute on this machine; else null.</summary>
    public string? ChannelsLastFallback { get; init; }

    /// <summary>How the linear-probe start's regularisation was chosen, when cross-validation chose it; else null.</summary>
    public Reporting.HeadCrossValidationReport? ProbeCrossValidation { get; init; }

    /// <summary>True when the best epoch trained behind the backbone's int8 prefix, which the saved model then keeps.</summary>
    public bool KeepsInt8Prefix => Int8Prefix is not null;

    /// <summary>The int8 prefix the best epoch trained behind and the split it ends at.</summary>
    internal (Backbones.Onnx.Proto.ModelProto Model, OnnxForwardSplit Split)? Int8Prefix { get; init; }

    /// <summary>The epoch the module's weights come from.</summary>
    public FineTuneEpoch? Best => Epochs.FirstOrDefault(e => e.Epoch == BestEpoch);
}
