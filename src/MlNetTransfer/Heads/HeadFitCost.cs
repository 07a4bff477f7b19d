using System.Diagnostics;
using Microsoft.ML;

namespace MlNetTransfer.Heads;

/// <summary>
/// What one fit of a boosted head will cost, measured before it is paid: the linear heads fit in seconds, but LightGBM's
/// 100 rounds grow with rows x classes (measured here: about 35 s on the Fashion-MNIST subset's 1000 x 10, against 2 s for
/// a linear head), so a budgeted search asks before starting it.
/// </summary>
internal static class HeadFitCost
{
    private const int ShortRounds = 2, LongRounds = 6;

    /// <summary>Estimated wall time of one fit of <paramref name="options"/>' trainer on <paramref name="keyedTrain"/>, or null
    /// for the linear heads. Two short fits (2 and 6 rounds) separate the fixed cost (scaling, binning the features) from
    /// the cost per round, which is then counted for the trainer's full rounds.</summary>
    public static TimeSpan? Estimate(IDataView keyedTrain, string featureColumn, HeadOptions options, int seed)
    {
        if (options.Trainer != HeadTrainer.LightGbm) return null;
        double Seconds(int rounds)
        {
            var probe = options.Clone();
            probe.MaximumIterations = rounds;
            probe.CrossValidationFolds = 0;
            var sw = Stopwatch.StartNew();
            HeadEstimator.Create(new MLContext(seed), featureColumn, probe).Fit(keyedTrain);
            return sw.Elapsed.TotalSeconds;
        }
        var (shortFit, longFit) = (Seconds(ShortRounds), Seconds(LongRounds));
        // Timer noise can make the longer probe no slower; then all of its time counts as rounds, which overestimates:
        // a budget is better kept by skipping a head than by overrunning.
        var perRound = longFit > shortFit ? (longFit - shortFit) / (LongRounds - ShortRounds) : longFit / LongRounds;
        var fixedCost = Math.Max(0, shortFit - ShortRounds * perRound);
        return TimeSpan.FromSeconds(fixedCost + perRound * options.IterationsFor(options.Trainer));
    }
}
