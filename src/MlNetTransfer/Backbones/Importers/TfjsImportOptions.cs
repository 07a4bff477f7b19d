namespace MlNetTransfer.Backbones.Importers;

/// <summary>Options for <see cref="TfjsLayersImporter.Import"/>.</summary>
public sealed class TfjsImportOptions
{
    /// <summary>Input height in pixels; overrides the model's. Default null: the model's own
    /// (<c>batch_input_shape</c>), which must then be fixed, since 'same' padding is computed from it.</summary>
    public int? InputHeight { get; set; }

    /// <summary>Input width in pixels; overrides the model's. Default null: the model's own.</summary>
    public int? InputWidth { get; set; }

    /// <summary>Name of the ONNX graph input. Default null: the Keras input layer's name (e.g. <c>input_1</c>).</summary>
    public string? InputName { get; set; }

    /// <summary>Name given to the model and to <see cref="BackboneSpec.Name"/>. Default null: the Keras model's name.</summary>
    public string? ModelName { get; set; }
}
