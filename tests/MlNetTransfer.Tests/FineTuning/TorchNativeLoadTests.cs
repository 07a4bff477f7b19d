using TorchSharp;

namespace MlNetTransfer.Tests.FineTuning;

public class TorchNativeLoadTests
{
    [Fact]
    public void LibTorchSharpLoadsAndComputes()
    {
        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var b = torch.mm(a, a.t());
        Assert.Equal(new float[] { 5, 14, 14, 50 }, b.data<float>().ToArray());
    }
}
