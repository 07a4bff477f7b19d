using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Reporting;

namespace MlNetTransfer.Heads;

/// <summary>
/// Chooses a head's regularisation by stratified k-fold cross-validation on the training split's embeddings: the
/// trainer's default and an L2 grid around it, then (SDCA, L-BFGS) an L1 grid at the best L2. The point with the highest
/// mean held-out accuracy wins; a tie goes to the stronger regularisation (higher L2, then higher L1), the safer choice
/// on a few hundred rows. Embeddings are already computed, so this costs head fits, not network passes: each fold's
/// scaled embeddings are computed and cached once, and the fits of a stage run in parallel, each on its own seeded
/// <see cref="MLContext"/> so the result does not depend on the thread schedule.
/// </summary>
public static class HeadCrossValidation
{
    /// <summary>Share of the auto budget still left that one head's search may take (<see cref="TimeLimitWithin"/>):
    /// the heads are the cheap candidates, fine-tuning needs the rest.</summary>
    public const double BudgetShare = 0.1;

    /// <summary>The <see cref="HeadOptions.CrossValidationTimeLimit"/> a budgeted search gives a head with
    /// <paramref name="remaining"/> of its budget left: <see cref="BudgetShare"/> of it (zero once it is spent, which skips the search).</summary>
    public static TimeSpan TimeLimitWithin(TimeSpan remaining) => remaining > TimeSpan.Zero ? remaining * BudgetShare : TimeSpan.Zero;

    /// <summary>The L2 values tried for a trainer after its default (null); log-spaced around it, measured on hds_shapes
    /// to keep the best value inside the grid (SDCA at 1 scored 0.27; L-BFGS and the SVM were best at the old top value).
    /// Listed, and fitted, from the middle of the range outwards: a search its time limit cuts short has still spanned the
    /// range rather than one end of it.</summary>
    public static IReadOnlyList<float> L2Grid(HeadTrainer trainer) => trainer switch
    {
        HeadTrainer.Sdca => [1e-3f, 1e-2f, 1e-4f, 1e-1f],             // 1e-4..1e-1; default: about 0.4 / training rows
        HeadTrainer.Lbfgs => [1f, 10f, 1e-1f, 100f, 1e-2f, 1000f],    // 1e-2..1e3; default 1 (with L1 1)
        HeadTrainer.LightGbm => [1f, 10f],                             // default 0.01 on leaf values; trees cost more per fit
        _ => [1e-2f, 1e-4f, 1e-1f, 1e-5f, 1f],                       // SVM lambda 1e-5..1, default 1e-3
    };

    /// <summary>The L1 at which the L2 grid is tried: null (the trainer's default) for SDCA; 0 for L-BFGS, whose default L1
    /// of 1 turns it into OWL-QN, several times slower per fit, so the L2 path is plain ridge logistic regression.</summary>
    public static float? L2StageL1(HeadTrainer trainer) => trainer == HeadTrainer.Lbfgs ? 0f : null;

    /// <summary>The L1 values tried at the best L2 (none for the SVM). SDCA's is its soft threshold L1/L2 (ML.NET's
    /// suggested sweep; default 0.5 on 1000-9999 dimensions), L-BFGS's a weight (default 1).</summary>
    public static IReadOnlyList<float> L1Grid(HeadTrainer trainer) => trainer switch
    {
        HeadTrainer.Sdca => [0f, 0.25f, 1f],
        HeadTrainer.Lbfgs => [1e-1f, 1f],
        _ => [], // the SVM has no L1; LightGBM keeps to one stage, each fit being a forest
    };

    /// <summary>The tuned options and what the search measured; null when some class has fewer than 2 training rows
    /// (no fold could hold it out and train on it too). When <see cref="HeadOptions.CrossValidationTimeLimit"/> cuts the
    /// search short the report's note says so; when no value finished the options come back unchanged.</summary>
    public static (HeadOptions Tuned, HeadCrossValidationReport Report)? Tune(MLContext ml, IDataView keyedTrain, string featureColumn,
        HeadOptions options, int seed, IProgress<int>? fitted = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentNullException.ThrowIfNull(keyedTrain);
        ArgumentNullException.ThrowIfNull(options);
        if (options.CrossValidationFolds < 2)
            throw new MlNetTransferException($"Head cross-validation needs at least 2 folds (CrossValidationFolds is {options.CrossValidationFolds}; 0 turns it off).");
        var clock = Stopwatch.StartNew();
        var labelType = (KeyDataViewType)keyedTrain.Schema[HeadEstimator.LabelColumn].Type;
        var featureType = (VectorDataViewType)keyedTrain.Schema[featureColumn].Type;
        var labels = keyedTrain.GetColumn<uint>(HeadEstimator.LabelColumn).ToArray();
        var smallest = labels.GroupBy(l => l).Min(g => g.Count());
        var folds = Math.Min(options.CrossValidationFolds, smallest);
        if (folds < 2) return null;

        var planned = 1 + L2Grid(options.Trainer).Count + L1Grid(options.Trainer).Count;
        var limit = options.CrossValidationTimeLimit;
        string Limit() => string.Create(CultureInfo.InvariantCulture, $"{limit!.Value.TotalSeconds:0.0} s");
        if (limit is { } l && l <= TimeSpan.Zero)
            return (options.Clone(), new HeadCrossValidationReport
            {
                Folds = folds,
                PlannedValues = planned,
                TimeLimitSeconds = 0,
                Note = "skipped: no time left for it; the trainer's defaults were used",
            });

        var features = keyedTrain.GetColumn<float[]>(featureColumn).ToArray();
        var fold = StratifiedFolds(labels, folds, seed);
        var splits = Enumerable.Range(0, folds).Select(k => Split(ml, labels, features, fold, k, labelType, featureType, featureColumn, options)).ToArray();
        var trainRows = labels.Length - labels.Length / folds;

        var grid = new List<HeadCrossValidationPoint>();
        var done = 0;
        var progressGate = new object();
        var stopped = false;

        // Fits every (value, fold) pair of one stage; keeps the values whose folds all finished within the time limit.
        void Stage(IReadOnlyList<(float? L2, float? L1)> values)
        {
            var scores = new double[values.Count, folds];
            var finished = new bool[values.Count, folds];
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancel };
            try
            {
                // Taken one at a time in order (no range partitioning), so the values first in the grid finish first.
                var order = Partitioner.Create(Enumerable.Range(0, values.Count * folds), EnumerablePartitionerOptions.NoBuffering);
                Parallel.ForEach(order, parallel, (t, state) =>
                {
                    if (limit is { } max && clock.Elapsed >= max)
                    {
                        state.Stop();
                        return;
                    }
                    var (v, k) = (t / folds, t % folds);
                    var candidate = options.Clone();
                    (candidate.L2Regularization, candidate.L1Regularization) = values[v];
                    // A context per fit: the same draws whichever thread runs it.
                    var fitMl = new MLContext(seed);
                    var model = HeadEstimator.CreateTrainer(fitMl, featureColumn, candidate).Fit(splits[k].Train);
                    scores[v, k] = fitMl.MulticlassClassification.Evaluate(model.Transform(splits[k].Held), HeadEstimator.LabelColumn).MicroAccuracy;
                    finished[v, k] = true;
                    lock (progressGate) fitted?.Report(++done);
                });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1)
            {
                ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); // the fit's own error, as a sequential search would throw it
            }
            for (int v = 0; v < values.Count; v++)
            {
                if (Enumerable.Range(0, folds).Any(k => !finished[v, k]))
                {
                    stopped = true;
                    continue;
                }
                var s = Enumerable.Range(0, folds).Select(k => scores[v, k]).ToArray();
                var mean = s.Average();
                grid.Add(new HeadCrossValidationPoint(values[v].L2, values[v].L1, mean, Math.Sqrt(s.Sum(x => (x - mean) * (x - mean)) / folds)));
            }
        }
        HeadCrossValidationPoint? Best() => grid.Count == 0 ? null
            : grid.Aggregate((best, p) => Better(p, best, options, trainRows, featureType.Size) ? p : best);

        Stage([(null, null), .. L2Grid(options.Trainer).Select(v => ((float?)v, L2StageL1(options.Trainer)))]);
        var bestL2 = Best();
        if (!stopped && bestL2 is not null && L1Grid(options.Trainer).Count > 0)
            Stage(L1Grid(options.Trainer).Select(v => (bestL2.L2Regularization, (float?)v)).ToList());
        var best = Best();

        var tuned = options.Clone();
        tuned.L2Regularization = best?.L2Regularization;
        tuned.L1Regularization = best?.L1Regularization;
        return (tuned, new HeadCrossValidationReport
        {
            Folds = folds,
            Grid = grid,
            PlannedValues = planned,
            L2Regularization = best?.L2Regularization,
            L1Regularization = best?.L1Regularization,
            Score = best?.MeanAccuracy,
            Seconds = clock.Elapsed.TotalSeconds,
            TimeLimitSeconds = limit?.TotalSeconds,
            Note = !stopped ? null
                : best is null ? $"stopped: the time limit of {Limit()} ran out before any value finished; the trainer's defaults were used"
                : $"stopped after {grid.Count} of {planned} values: the time limit of {Limit()} ran out",
        });
    }

    /// <summary>Mean accuracies closer than this are equal.</summary>
    internal const double TieTolerance = 1e-9;

    /// <summary>Whether <paramref name="a"/> beats <paramref name="b"/>: a higher mean accuracy, or the same and stronger
    /// regularisation (L2, then L1, with the trainer's default resolved to its value).</summary>
    private static bool Better(HeadCrossValidationPoint a, HeadCrossValidationPoint b, HeadOptions options, int trainRows, int dimensions)
    {
        // Means of the same fold accuracies summed in another order differ in the last bits: that is a tie.
        if (Math.Abs(a.MeanAccuracy - b.MeanAccuracy) > TieTolerance) return a.MeanAccuracy > b.MeanAccuracy;
        var (aL2, aL1) = Strength(a, options, trainRows, dimensions);
        var (bL2, bL1) = Strength(b, options, trainRows, dimensions);
        return aL2 > bL2 || (aL2 == bL2 && aL1 > bL1);
    }

    /// <summary>A point's L2 and L1 with the trainer's default (null) resolved. SDCA's defaults follow ML.NET's
    /// <c>SdcaTrainerBase</c> on one thread: L2 = max(1e-6, 20 / (max(2, iterations / 2) x rows)), L1 threshold by width.</summary>
    internal static (double L2, double L1) Strength(HeadCrossValidationPoint p, HeadOptions options, int trainRows, int dimensions) => options.Trainer switch
    {
        HeadTrainer.Sdca => (p.L2Regularization ?? Math.Max(1e-6, 20.0 / (Math.Max(2, options.IterationsFor(HeadTrainer.Sdca) / 2) * (double)trainRows)),
                             p.L1Regularization ?? dimensions switch { < 100 => 0, < 1000 => 0.25, < 10000 => 0.5, _ => 1 }),
        HeadTrainer.Lbfgs => (p.L2Regularization ?? HeadOptions.LbfgsDefaultL2, p.L1Regularization ?? HeadOptions.LbfgsDefaultL1),
        HeadTrainer.LightGbm => (p.L2Regularization ?? HeadOptions.LightGbmDefaultL2, p.L1Regularization ?? HeadOptions.LightGbmDefaultL1),
        _ => (p.L2Regularization ?? HeadOptions.SvmDefaultLambda, 0),
    };

    /// <summary>Fold <paramref name="k"/>'s training and held-out rows, scaled by a normaliser fitted on its training rows
    /// alone and cached, so the grid's fits train on memory and never re-run the scaling.</summary>
    private static (IDataView Train, IDataView Held) Split(MLContext ml, uint[] labels, float[][] features, int[] fold, int k,
        KeyDataViewType labelType, VectorDataViewType featureType, string featureColumn, HeadOptions options)
    {
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Label)].ColumnType = labelType;
        schema[nameof(Row.Label)].ColumnName = HeadEstimator.LabelColumn;
        schema[nameof(Row.Features)].ColumnType = featureType;
        schema[nameof(Row.Features)].ColumnName = featureColumn;
        // LoadFromEnumerable reads a key-typed member as a 0-based index (it stores index + 1, and 0 for out of range), while
        // GetColumn gave the stored 1-based keys: without the - 1 every class shifts by one and the last becomes missing.
        IDataView Rows(bool held) => ml.Data.LoadFromEnumerable(
            Enumerable.Range(0, labels.Length).Where(i => (fold[i] == k) == held).Select(i => new Row { Label = labels[i] - 1, Features = features[i] }).ToArray(), schema);
        IDataView train = Rows(held: false), heldOut = Rows(held: true);
        if (HeadEstimator.CreateNormalizer(ml, featureColumn, options) is { } normalizer)
        {
            var scale = normalizer.Fit(train);
            (train, heldOut) = (scale.Transform(train), scale.Transform(heldOut));
        }
        (train, heldOut) = (ml.Data.Cache(train), ml.Data.Cache(heldOut));
        // Fill both caches here, once, rather than under the parallel fits' first cursors.
        _ = train.GetColumn<uint>(HeadEstimator.LabelColumn).Count();
        _ = heldOut.GetColumn<uint>(HeadEstimator.LabelColumn).Count();
        return (train, heldOut);
    }

    /// <summary>Fits a stage runs at once.</summary>
    private static int Parallelism => Environment.ProcessorCount;

    /// <summary>Wall time until the search has scored its first value, for a trainer whose one fit on all the training rows
    /// takes <paramref name="fitCost"/>: the value's folds run <see cref="Parallelism"/> at a time, each on (k - 1)/k of the
    /// rows. A fit once started runs to its end, so a time limit below this only overruns.</summary>
    internal static TimeSpan FirstValueTime(TimeSpan fitCost, int folds) =>
        fitCost * (Math.Ceiling(folds / (double)Parallelism) * (folds - 1) / Math.Max(1, folds));

    /// <summary>Number of head fits <see cref="Tune"/> makes for a trainer with k folds.</summary>
    internal static int Fits(HeadTrainer trainer, int folds) => folds * (1 + L2Grid(trainer).Count + L1Grid(trainer).Count);

    /// <summary>Fold of each row: each class's rows, shuffled with the seed, dealt round-robin, so every fold holds each
    /// class's share to within one row.</summary>
    internal static int[] StratifiedFolds(IReadOnlyList<uint> labels, int folds, int seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (folds < 2) throw new ArgumentOutOfRangeException(nameof(folds), folds, "at least 2 folds");
        var fold = new int[labels.Count];
        var random = new Random(seed);
        var next = 0;
        foreach (var rows in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var order = rows.ToArray();
            random.Shuffle(order);
            // Continue the deal where the last class stopped, so small classes do not all land in the first folds.
            foreach (var i in order) fold[i] = next++ % folds;
        }
        return fold;
    }

    private sealed class Row
    {
        public uint Label { get; set; }
        public float[] Features { get; set; } = [];
    }
}
