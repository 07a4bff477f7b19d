using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Reporting;

namespace MlNetTransfer.Heads;

/// <summary>
/// Chooses a head's regularisation by stratified k-fold cross-validation on the training split's embeddings: every
/// value of an L2 grid around the trainer's default, then (SDCA, L-BFGS) an L1 grid at the best L2; the point with the
/// highest mean held-out accuracy wins, ties to the one tried first (the default comes first). Embeddings are already
/// computed, so this costs head fits, not network passes.
/// </summary>
public static class HeadCrossValidation
{
    /// <summary>The L2 values tried for a trainer after its default (null); log-spaced around it.</summary>
    public static IReadOnlyList<float> L2Grid(HeadTrainer trainer) => trainer switch
    {
        HeadTrainer.Sdca => [1e-4f, 1e-3f, 1e-2f, 1e-1f, 1f],    // default: chosen from the data
        HeadTrainer.Lbfgs => [1e-2f, 1e-1f, 10f, 100f],          // default 1
        _ => [1e-5f, 1e-4f, 1e-2f, 1e-1f],                      // SVM lambda, default 1e-3
    };

    /// <summary>The L1 values tried at the best L2 after the default (none for the SVM).</summary>
    public static IReadOnlyList<float> L1Grid(HeadTrainer trainer) => trainer switch
    {
        HeadTrainer.Sdca => [1e-3f, 1e-2f, 1e-1f],   // default: chosen from the data
        HeadTrainer.Lbfgs => [0f, 1e-1f],             // default 1
        _ => [],
    };

    /// <summary>The tuned options and what the search measured; null when some class has fewer than 2 training rows
    /// (no fold could hold it out and train on it too).</summary>
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
        var features = keyedTrain.GetColumn<float[]>(featureColumn).ToArray();
        var smallest = labels.GroupBy(l => l).Min(g => g.Count());
        var folds = Math.Min(options.CrossValidationFolds, smallest);
        if (folds < 2) return null;

        var fold = StratifiedFolds(labels, folds, seed);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Label)].ColumnType = labelType;
        schema[nameof(Row.Label)].ColumnName = HeadEstimator.LabelColumn;
        schema[nameof(Row.Features)].ColumnType = featureType;
        schema[nameof(Row.Features)].ColumnName = featureColumn;
        IDataView Rows(Func<int, bool> keep) => ml.Data.LoadFromEnumerable(
            Enumerable.Range(0, labels.Length).Where(keep).Select(i => new Row { Label = labels[i], Features = features[i] }).ToArray(), schema);
        var splits = Enumerable.Range(0, folds).Select(k => (Train: ml.Data.Cache(Rows(i => fold[i] != k)), Held: Rows(i => fold[i] == k))).ToList();

        var grid = new List<HeadCrossValidationPoint>();
        HeadCrossValidationPoint Evaluate(float? l2, float? l1)
        {
            var candidate = options.Clone();
            candidate.L2Regularization = l2;
            candidate.L1Regularization = l1;
            var scores = new double[folds];
            for (int k = 0; k < folds; k++)
            {
                cancel.ThrowIfCancellationRequested();
                var scorer = HeadEstimator.CreateScorer(ml, featureColumn, candidate).Fit(splits[k].Train);
                scores[k] = ml.MulticlassClassification.Evaluate(scorer.Transform(splits[k].Held), HeadEstimator.LabelColumn).MicroAccuracy;
                fitted?.Report(grid.Count * folds + k + 1);
            }
            var mean = scores.Average();
            var point = new HeadCrossValidationPoint(l2, l1, mean, Math.Sqrt(scores.Sum(s => (s - mean) * (s - mean)) / folds));
            grid.Add(point);
            return point;
        }
        static HeadCrossValidationPoint Best(IEnumerable<HeadCrossValidationPoint> points) =>
            points.Aggregate((best, p) => p.MeanAccuracy > best.MeanAccuracy ? p : best);

        var bestL2 = Best(new float?[] { null }.Concat(L2Grid(options.Trainer).Select(v => (float?)v)).Select(l2 => Evaluate(l2, null)).ToList());
        foreach (var l1 in L1Grid(options.Trainer)) Evaluate(bestL2.L2Regularization, l1);
        var best = Best(grid);

        var tuned = options.Clone();
        tuned.L2Regularization = best.L2Regularization;
        tuned.L1Regularization = best.L1Regularization;
        return (tuned, new HeadCrossValidationReport
        {
            Folds = folds,
            Grid = grid,
            L2Regularization = best.L2Regularization,
            L1Regularization = best.L1Regularization,
            Score = best.MeanAccuracy,
            Seconds = clock.Elapsed.TotalSeconds,
        });
    }

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
