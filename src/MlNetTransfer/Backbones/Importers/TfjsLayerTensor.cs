namespace MlNetTransfer.Backbones.Importers;

/// <summary>
/// Where a Keras layer's output lives in the imported ONNX graph. Each layer's output tensor is named by the layer
/// (a layer called more than once gets <c>name/call1</c>, … for the later calls); 4-D feature maps stay NCHW inside the
/// graph, so for them <see cref="Layout"/> is <c>NCHW</c> and <see cref="Shape"/> is the NCHW shape.
/// </summary>
/// <param name="LayerName">Keras layer name.</param>
/// <param name="ClassName">Keras class, e.g. <c>GlobalAveragePooling2D</c>.</param>
/// <param name="TensorName">ONNX tensor holding the layer's output.</param>
/// <param name="Shape">Shape of that tensor; the batch dimension is -1.</param>
/// <param name="Layout"><c>NCHW</c> for 4-D feature maps kept channels-first in the graph, <c>NHWC</c> for 4-D tensors in
/// Keras layout, empty for other ranks (which always match Keras).</param>
public sealed record TfjsLayerTensor(string LayerName, string ClassName, string TensorName, long[] Shape, string Layout);
