using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
torch.set_num_threads(2);
var x = torch.rand(16, 32, 112, 112); var w = torch.rand(32, 1, 3, 3); var w2 = torch.rand(16,32,1,1);
foreach (var (name, fn) in new (string, Func<Tensor>)[] { ("dw3x3", () => F.conv2d(x, w, padding: [1,1], groups: 32)), ("pw", () => F.conv2d(x, w2)), ("clip", () => x.clamp(0, 6)) })
{
  fn().Dispose();
  var sw = Stopwatch.StartNew();
  for (int i = 0; i < 5; i++) fn().Dispose();
  Console.WriteLine($"{name} {sw.Elapsed.TotalMilliseconds / 5:0.0} ms");
}
Console.WriteLine(torch.__version__);
