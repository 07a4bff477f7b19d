using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The probe that starts fine-tuning: ML.NET's head fitted on embeddings and folded into one linear layer.</summary>
public sealed class LinearProbeTests
{
    private const int Width = 12, Classes = 3;

    /// <summary>Three Gaussian clusters whose dimensions have very different scales and offsets, so a folded standardisation
    /// that is wrong in either shows.</summary>
    private static (List<float[]> X, List<int> Y) Blobs(int perClass, int seed)
    {
        var random = new Random(seed);
        var centres = Enumerable.Range(0, Classes).Select(c => Enumerable.Range(0, Width).Select(j => (float)(random.NextDouble() * 4 - 2)).ToArray()).ToArray();
        float Scale(int j) => MathF.Pow(10, j % 4 - 1);   // 0.1 .. 100
        float Offset(int j) => 5f * j;
        var x = new List<float[]>();
        var y = new List<int>();
        for (int c = 0; c < Classes; c++)
            for (int i = 0; i < perClass; i++)
            {
                x.Add(Enumerable.Range(0, Width).Select(j => Offset(j) + Scale(j) * (centres[c][j] + 0.3f * (float)Gaussian(random))).ToArray());
                y.Add(c);
            }
        return (x, y);
    }

    private static double Gaussian(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    private sealed class Row
    {
        [VectorType(Width)] public float[] Features { get; set; } = [];
    }

    private sealed class Scored
    {
        public float[] Score { get; set; } = [];
    }

    /// <summary>Class probabilities of the probe's ML.NET head.</summary>
    private static float[][] MlNetScores(ITransformer head, List<float[]> test)
    {
        var ml = new MLContext(1);
        var scored = head.Transform(ml.Data.LoadFromEnumerable(test.Select(f => new Row { Features = f })));
        return ml.Data.CreateEnumerable<Scored>(scored, reuseRowObject: false).Select(s => s.Score).ToArray();
    }

    private static float[] Softmax(float[][] w, float[] b, float[] x)
    {
        var logits = w.Select((row, c) => b[c] + row.Zip(x, (a, v) => (double)a * v).Sum()).ToArray();
        var max = logits.Max();
        var exp = logits.Select(l => Math.Exp(l - max)).ToArray();
        return exp.Select(e => (float)(e / exp.Sum())).ToArray();
    }

    [Theory]
    [InlineData(HeadTrainer.Sdca, EmbeddingNormalization.MeanVariance)]
    [InlineData(HeadTrainer.Lbfgs, EmbeddingNormalization.MeanVariance)]
    [InlineData(HeadTrainer.Lbfgs, EmbeddingNormalization.None)]
    public void TheFoldedLayerScoresExactlyWhatMlNetsHeadScores(HeadTrainer trainer, EmbeddingNormalization normalization)
    {
        var (x, y) = Blobs(perClass: 40, seed: 1);
        var (test, testLabels) = Blobs(perClass: 10, seed: 2);
        var options = new HeadOptions { Trainer = trainer, Normalization = normalization };

        var (w, b, head) = LinearProbe.Fit(x, y, Classes, options, seed: 5);
        var expected = MlNetScores(head, test);

        Assert.Equal(Classes, w.Length);
        Assert.All(w, row => Assert.Equal(Width, row.Length));
        for (int i = 0; i < test.Count; i++)
        {
            var p = Softmax(w, b, test[i]);
            for (int c = 0; c < Classes; c++) Assert.True(Math.Abs(p[c] - expected[i][c]) < 1e-4, $"row {i} class {c}: {p[c]} vs ML.NET {expected[i][c]}");
        }
        // And it learned something: the clusters are well apart (standardised; raw, L-BFGS's L2 of 1 holds it back).
        if (normalization == EmbeddingNormalization.None) return;
        var accuracy = test.Select((t, i) => Array.IndexOf(Softmax(w, b, t), Softmax(w, b, t).Max()) == testLabels[i]).Average(ok => ok ? 1.0 : 0.0);
        Assert.True(accuracy > 0.8, $"accuracy {accuracy}");   // chance: 1/3
    }

    [Fact]
    public void TheProbesRegularisationIsCrossValidatedLikeTheFeatureExtractorsHeadUnlessGivenOrOff()
    {
        var (x, y) = Blobs(perClass: 20, seed: 4);
        var tuned = LinearProbe.Fit(x, y, Classes, new HeadOptions { Trainer = HeadTrainer.Lbfgs }, seed: 1);
        var cv = Assert.IsType<HeadCrossValidationReport>(tuned.CrossValidation);
        Assert.Equal(5, cv.Folds);
        Assert.True(cv.Grid.Count > 1, "a grid of values was scored");
        // The layer is the head fitted at the chosen values: the same as a probe given them outright.
        var given = LinearProbe.Fit(x, y, Classes, new HeadOptions { Trainer = HeadTrainer.Lbfgs, L2Regularization = cv.L2Regularization, L1Regularization = cv.L1Regularization, CrossValidationFolds = 0 }, seed: 1);
        Assert.Null(given.CrossValidation);
        Assert.Equal(given.Bias, tuned.Bias);
        // Given an L2, nothing is searched.
        Assert.Null(LinearProbe.Fit(x, y, Classes, new HeadOptions { Trainer = HeadTrainer.Lbfgs, L2Regularization = 0.5f }, seed: 1).CrossValidation);
        Assert.Null(LinearProbe.Fit(x, y, Classes, new HeadOptions { Trainer = HeadTrainer.Lbfgs, CrossValidationFolds = 0 }, seed: 1).CrossValidation);
    }

    [Fact]
    public void AClassWithNoTrainingRowsStillGetsItsRow()
    {
        var (x, y) = Blobs(perClass: 30, seed: 3);
        var kept = Enumerable.Range(0, x.Count).Where(i => y[i] != 1).ToList();
        var (w, b, _) = LinearProbe.Fit(kept.Select(i => x[i]).ToList(), kept.Select(i => y[i]).ToList(), Classes, new HeadOptions(), seed: 1);
        Assert.Equal(Classes, w.Length);
        Assert.Equal(Classes, b.Length);
        Assert.All(kept, i => Assert.Equal(y[i], Array.IndexOf(Softmax(w, b, x[i]), Softmax(w, b, x[i]).Max())));
    }

    [Theory]
    [InlineData(HeadTrainer.Svm, EmbeddingNormalization.MeanVariance, "sdca or lbfgs")]
    [InlineData(HeadTrainer.Sdca, EmbeddingNormalization.L2, "L2 normalisation")]
    public void ProbesThatAreNotOneSoftmaxLayerAreRefused(HeadTrainer trainer, EmbeddingNormalization normalization, string message)
    {
        var options = new FineTuneOptions { LinearProbe = new HeadOptions { Trainer = trainer, Normalization = normalization } };
        var error = Assert.Throws<MlNetTransferException>(() => new FineTuner(options));
        Assert.Contains(message, error.Message);
    }
}
