namespace MlNetTransfer.Backbones.Importers;

/// <summary>
/// Imports a TensorFlow.js <em>layers</em> model (a Keras model converted by tfjs-converter or saved by tfjs-layers)
/// into ONNX, so it can serve as a backbone like any other ONNX network.
/// </summary>
/// <remarks>
/// Accepts <c>model.json</c> with its weight shards beside it, the bundled JavaScript form npm <c>nsfwjs</c> ships
/// (<c>model.min.js</c> + <c>group1-shardKofN.min.js</c>), or a folder holding either. Weights may be float32 or
/// quantized (uint8/uint16 with min and scale, float16). The ONNX graph takes NHWC float32 input as the original does
/// and reproduces Keras' channels-last arithmetic exactly; see <see cref="TfjsImportResult"/> for what comes back.
/// </remarks>
public static class TfjsLayersImporter
{
    /// <summary>Reads the model and converts it to an ONNX opset-13 model with a suggested <see cref="BackboneSpec"/>.</summary>
    /// <param name="modelJsonOrJsPath">A <c>model.json</c>, a bundled <c>model.min.js</c>, or a folder with one of them.</param>
    /// <param name="options">Input size/name overrides; null for the model's own.</param>
    /// <exception cref="MlNetTransferException">The files are missing or malformed, or a layer, activation or weight format is not supported (the message names it).</exception>
    public static TfjsImportResult Import(string modelJsonOrJsPath, TfjsImportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelJsonOrJsPath);
        var artifacts = TfjsModelArtifacts.Load(modelJsonOrJsPath);
        return new KerasToOnnxConverter(artifacts, options ?? new TfjsImportOptions()).Convert();
    }
}
