using Microsoft.ML;
using MlNetTransfer.FineTuning;

namespace MlNetTransfer.Tests.FineTuning;

public sealed class FineTuningTrainerTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    [Fact]
    public void Smoke()
    {
        var ml = new MLContext(1);
        var options = FineTuneFixture.Options(epochs: 3);
        var log = new List<string>();
        options.MetricsCallback = e => log.Add(e.ToString());
        using var result = new FineTuningTrainer(ml, options, FineTuneFixture.Backbone()).Train(data.Train, data.Validation, data.Classes);
        foreach (var l in log) Console.WriteLine(l);
        foreach (var g in result.Module.ParameterGroups) Console.WriteLine(g);
        Assert.Equal(3, result.Run.Epochs.Count);
    }
}
