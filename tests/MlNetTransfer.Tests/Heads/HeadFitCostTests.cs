using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Heads;

namespace MlNetTransfer.Tests.Heads;

/// <summary>The cost probe a budgeted search runs before a boosted head: only the trees are probed, and the estimate grows
/// with the rounds the head will boost.</summary>
public sealed class HeadFitCostTests
{
    private static IDataView KeyedRows(int rows, int dimensions, int classes)
    {
        var ml = new MLContext(3);
        var random = new Random(3);
        var data = Enumerable.Range(0, rows).Select(i => new Row
        {
            Label = $"c{i % classes}",
            Features = Enumerable.Range(0, dimensions).Select(d => (float)(random.NextDouble() + (d % classes == i % classes ? 1 : 0))).ToArray(),
        }).ToList();
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dimensions);
        var view = ml.Data.LoadFromEnumerable(data, schema);
        return ml.Transforms.Conversion.MapValueToKey(HeadEstimator.LabelColumn).Fit(view).Transform(view);
    }

    [Theory]
    [InlineData(HeadTrainer.Sdca)]
    [InlineData(HeadTrainer.Lbfgs)]
    [InlineData(HeadTrainer.Svm)]
    public void TheLinearHeadsAreNotProbed(HeadTrainer trainer) =>
        Assert.Null(HeadFitCost.Estimate(KeyedRows(60, 16, 3), nameof(Row.Features), new HeadOptions { Trainer = trainer }, seed: 1));

    [Fact]
    public void TheTreesAreProbedAndMoreRoundsCostMore()
    {
        var rows = KeyedRows(300, 64, 4);
        var few = HeadFitCost.Estimate(rows, nameof(Row.Features), new HeadOptions { Trainer = HeadTrainer.LightGbm, MaximumIterations = 10 }, seed: 1);
        var many = HeadFitCost.Estimate(rows, nameof(Row.Features), new HeadOptions { Trainer = HeadTrainer.LightGbm, MaximumIterations = 100_000 }, seed: 1);
        Assert.True(few > TimeSpan.Zero, $"{few}");
        // The same probes counted for 10 000 times the rounds: whatever the per-round time measured, far more in total.
        Assert.True(many > few, $"{few} for 10 rounds, {many} for 100 000");
    }

    private sealed class Row
    {
        public string Label { get; set; } = "";
        public float[] Features { get; set; } = [];
    }
}
