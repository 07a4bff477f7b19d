using MlNetTransfer.Backbones.Onnx.Proto;
using static MlNetTransfer.Backbones.Onnx.OnnxNodes;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>
/// Moves a backbone's input preprocessing into its graph, so the model takes exactly what ML.NET's
/// <c>ExtractPixels</c> emits with default options: float [N, 3, H, W], planes R, G, B, raw values 0..255.
/// The graph then reorders to BGR if the spec says so, computes <c>(p * PixelScale - Mean[c]) / Std[c]</c> with one
/// Mul and one Add, and transposes to NHWC if the spec says so, feeding the network's original image input.
/// </summary>
internal static class PreprocessingBaker
{
    /// <summary>Name of the new image input.</summary>
    public const string PixelsInput = "pixels";

    /// <summary>Returns a new model whose image input is <c>pixels</c>; the original image input becomes an inner tensor.</summary>
    /// <param name="model">The network (typically already cut); it is not changed.</param>
    /// <param name="spec">Size, layout, channel order and normalisation the network was trained with.</param>
    public static ModelProto Bake(ModelProto model, BackboneSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        if (model?.Graph is null) throw new MlNetTransferException($"Backbone '{spec.Name}': the ONNX model has no graph.");

        var result = model.Clone();
        var graph = result.Graph;
        var imageInput = ResolveImageInput(new OnnxGraphIndex(graph), spec).Name;
        if (imageInput == PixelsInput)
        {
            var renamed = new OnnxNamer(graph).Fresh(PixelsInput + "_original");
            OnnxGraphEditing.RenameTensor(graph, PixelsInput, renamed);
            imageInput = renamed;
        }
        else OnnxGraphEditing.Reserve(graph, PixelsInput);

        var input = graph.Input.First(i => i.Name == imageInput);
        var declared = input.Type?.TensorType?.ElemType ?? 0;
        var inputType = declared > 0 ? (DataType)declared : DataType.Float;
        long batch = CheckInputShape(input, spec);

        var namer = new OnnxNamer(graph);
        var nodes = new List<NodeProto>();
        var current = PixelsInput;
        string Step(string op, string name, IEnumerable<string> extraInputs, params AttributeProto[] attrs)
        {
            var unique = namer.Fresh(name);
            var node = Node(op, unique, [current, .. extraInputs], [unique], attrs);
            nodes.Add(node);
            return current = node.Output[0];
        }

        if (spec.ResizeWidth != spec.InputWidth || spec.ResizeHeight != spec.InputHeight)
        {
            // Centre crop of the resized image (ML.NET's resize has no crop-after-resize).
            long top = (spec.ResizeHeight - spec.InputHeight) / 2, left = (spec.ResizeWidth - spec.InputWidth) / 2;
            long[] starts = [top, left], ends = [top + spec.InputHeight, left + spec.InputWidth], axes = [2, 3];
            var opset = OnnxGraphEditing.DefaultOpset(result);
            if (opset >= 10)
            {
                string Const(string name, long[] v) { var n = namer.Fresh(name); graph.Initializer.Add(OnnxTensors.FromInt64s(n, v, v.Length)); return n; }
                Step("Slice", "preprocess/center_crop", [Const("preprocess/crop_starts", starts), Const("preprocess/crop_ends", ends), Const("preprocess/crop_axes", axes)]);
            }
            else Step("Slice", "preprocess/center_crop", [], Attr("starts", starts), Attr("ends", ends), Attr("axes", axes));
        }

        if (string.Equals(spec.ChannelOrder, "BGR", StringComparison.OrdinalIgnoreCase))
        {
            var order = namer.Fresh("preprocess/bgr_order");
            graph.Initializer.Add(OnnxTensors.FromInt64s(order, [2, 1, 0], 3));
            Step("Gather", "preprocess/to_bgr", [order], Attr("axis", 1L));
        }

        // (p * s - m) / sd == p * (s / sd) + (-m / sd), per channel of the network's own order.
        var factor = new float[3];
        var offset = new float[3];
        for (int c = 0; c < 3; c++)
        {
            factor[c] = (float)((double)spec.PixelScale / spec.Std[c]);
            offset[c] = (float)(-(double)spec.Mean[c] / spec.Std[c]);
        }
        var factorName = namer.Fresh("preprocess/factor");
        var offsetName = namer.Fresh("preprocess/offset");
        graph.Initializer.Add(OnnxTensors.FromFloats(factorName, factor, 1, 3, 1, 1));
        graph.Initializer.Add(OnnxTensors.FromFloats(offsetName, offset, 1, 3, 1, 1));
        Step("Mul", "preprocess/scale", [factorName]);
        Step("Add", "preprocess/normalize", [offsetName]);

        if (spec.IsChannelsLast) Step("Transpose", "preprocess/to_nhwc", [], Attr("perm", 0L, 2, 3, 1));
        if (inputType != DataType.Float) Step("Cast", "preprocess/cast", [], Attr("to", (long)inputType));

        // The last step writes the original input's name, so every consumer reads the normalised image unchanged.
        nodes[^1].Output[0] = imageInput;
        for (int i = nodes.Count - 1; i >= 0; i--) graph.Node.Insert(0, nodes[i]);

        graph.Input.Remove(input);
        graph.ValueInfo.Add(input);
        graph.Input.Insert(0, TensorValue(PixelsInput, DataType.Float, batch, 3, spec.ResizeHeight, spec.ResizeWidth));
        return result;
    }

    /// <summary>
    /// The graph input that takes the image: <see cref="BackboneSpec.InputName"/>, or the only input fed at run time.
    /// </summary>
    internal static ValueInfoProto ResolveImageInput(OnnxGraphIndex graph, BackboneSpec spec)
    {
        var inputs = graph.RuntimeInputs;
        var listed = string.Join(", ", inputs.Select(i => $"'{i.Name}'"));
        if (spec.InputName is { } wanted)
            return inputs.FirstOrDefault(i => i.Name == wanted)
                ?? throw new MlNetTransferException($"Backbone '{spec.Name}': the model has no input named '{wanted}' (InputName); its inputs are {(inputs.Count > 0 ? listed : "none")}.");
        return inputs.Count switch
        {
            1 => inputs[0],
            0 => throw new MlNetTransferException($"Backbone '{spec.Name}': the model has no input to feed the image into."),
            _ => throw new MlNetTransferException(
                $"Backbone '{spec.Name}': the model has {inputs.Count} inputs ({listed}); set InputName in its spec to the one that takes the image."),
        };
    }

    /// <summary>Checks the original input's declared shape against the spec; returns its batch dimension (-1 if symbolic).</summary>
    private static long CheckInputShape(ValueInfoProto input, BackboneSpec spec)
    {
        var dims = Dims(input);
        if (dims is null) return -1;
        var shape = ShapeText(input);
        if (dims.Length != 4)
            throw new MlNetTransferException($"Backbone '{spec.Name}': image input '{input.Name}' has shape {shape}; a 4-D image tensor was expected.");
        var (c, h, w) = spec.IsChannelsLast ? (dims[3], dims[1], dims[2]) : (dims[1], dims[2], dims[3]);
        if (c >= 0 && c != 3)
            throw new MlNetTransferException(
                $"Backbone '{spec.Name}': image input '{input.Name}' has shape {shape}, which has no 3 colour channels where layout {spec.Layout} puts them; check Layout.");
        if ((h >= 0 && h != spec.InputHeight) || (w >= 0 && w != spec.InputWidth))
            throw new MlNetTransferException(
                $"Backbone '{spec.Name}': image input '{input.Name}' has shape {shape}, but the spec says {spec.InputWidth}x{spec.InputHeight} (width x height).");
        return dims[0];
    }

    private static string ShapeText(ValueInfoProto v) =>
        "[" + string.Join(",", v.Type.TensorType.Shape.Dim.Select(d =>
            d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString() : d.DimParam is { Length: > 0 } p ? p : "?")) + "]";
}
