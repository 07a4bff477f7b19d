using System.Text.Json.Serialization;

namespace MlNetTransfer.Strategy;

/// <summary>The four cells of the scenario matrix (dataset size × domain similarity): how much of the pretrained network to reuse.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TransferScenario>))]
public enum TransferScenario
{
    /// <summary>Small + similar: freeze the whole backbone, train a head on its embeddings.</summary>
    FeatureExtractor,

    /// <summary>Large + similar: fine-tune the top part, freezing about 60–80% of the network.</summary>
    FineTuneTop,

    /// <summary>Small + different: fine-tune from earlier layers, freezing only about ⅓–½ of the network.</summary>
    FineTuneFromEarlierLayers,

    /// <summary>Large + different: fine-tune the whole network.</summary>
    FineTuneAll,
}
