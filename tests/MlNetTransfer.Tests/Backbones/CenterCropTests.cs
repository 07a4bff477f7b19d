using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.Backbones;

public sealed class CenterCropTests
{
    // A network that returns its (normalised) input: what comes out is exactly what the baked preprocessing fed it.
    private static ModelProto IdentityNet(long opset, long size)
    {
        var m = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "identity" } };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        m.Graph.Input.Add(OnnxNodes.TensorValue("image", DataType.Float, -1, 3, size, size));
        m.Graph.Node.Add(OnnxNodes.Node("Identity", "id", ["image"], ["out"]));
        m.Graph.Output.Add(OnnxNodes.TensorValue("out", DataType.Float, -1, 3, size, size));
        return m;
    }

    [Theory]
    [InlineData(13L)]
    [InlineData(9L)] // Slice took its window as attributes before opset 10
    public void TheGraphSeesTheNormalisedCentreOfTheResizedImage(long opset)
    {
        var spec = new BackboneSpec { Name = "crop", InputWidth = 4, InputHeight = 4, CropFraction = 4f / 6f, Mean = [0.1f, 0.2f, 0.3f], Std = [0.5f, 0.25f, 2f] };
        Assert.Equal(6, spec.ResizeWidth);
        var baked = PreprocessingBaker.Bake(IdentityNet(opset, 4), spec);
        Assert.Equal([-1L, 3, 6, 6], OnnxNodes.Dims(baked.Graph.Input.Single(i => i.Name == PreprocessingBaker.PixelsInput))!);

        var pixels = Enumerable.Range(0, 3 * 6 * 6).Select(i => (float)(i % 256)).ToArray();
        var output = OrtRunner.Run(baked, (PreprocessingBaker.PixelsInput, new FloatTensor(pixels, [1, 3, 6, 6])))["out"];
        Assert.Equal([1L, 3, 4, 4], output.Dims);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++)
                {
                    var p = pixels[c * 36 + (y + 1) * 6 + (x + 1)];
                    var expected = (p / 255f - spec.Mean[c]) / spec.Std[c];
                    Assert.Equal(expected, output.Values[c * 16 + y * 4 + x], 4);
                }
    }

    [Fact]
    public void ACropFractionOutsideZeroToOneIsRefused()
    {
        var e = Assert.Throws<MlNetTransferException>(() => new BackboneSpec { Name = "bad", CropFraction = 1.5f }.Validate());
        Assert.Contains("crop fraction", e.Message);
    }
}
