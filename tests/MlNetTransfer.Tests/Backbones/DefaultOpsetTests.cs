using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Tests.Backbones;

/// <summary>The one lookup of a model's default-domain opset, which the baker, the dequantizer, the cutter and the
/// TorchSharp converter all read operator semantics from.</summary>
public sealed class DefaultOpsetTests
{
    private static ModelProto Model(long irVersion, params (string Domain, long Version)[] imports)
    {
        var model = new ModelProto { IrVersion = irVersion, Graph = new GraphProto { Name = "g" } };
        foreach (var (domain, version) in imports) model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        return model;
    }

    [Fact]
    public void ReadsTheDefaultDomainUnderEitherNameAndIgnoresOthers()
    {
        Assert.Equal(13, OnnxGraphEditing.DefaultOpset(Model(8, ("com.microsoft", 1), ("", 13))));
        Assert.Equal(11, OnnxGraphEditing.DefaultOpset(Model(8, ("ai.onnx", 11), ("com.microsoft", 20))));
        // Listed twice (once per spelling): the higher one.
        Assert.Equal(17, OnnxGraphEditing.DefaultOpset(Model(8, ("", 9), ("ai.onnx", 17))));
    }

    [Fact]
    public void AnOldModelWithoutImportsIsOpset1AsOnnxReadsIt()
    {
        Assert.Equal(1, OnnxGraphEditing.DefaultOpset(Model(2)));
    }

    [Fact]
    public void AModelThatMustImportTheDefaultSetAndDoesNotIsRefused()
    {
        var none = Assert.Throws<MlNetTransferException>(() => OnnxGraphEditing.DefaultOpset(Model(8)));
        Assert.Contains("'g'", none.Message);
        Assert.Contains("ai.onnx", none.Message);
        Assert.Throws<MlNetTransferException>(() => OnnxGraphEditing.DefaultOpset(Model(2, ("com.microsoft", 1))));
    }
}
