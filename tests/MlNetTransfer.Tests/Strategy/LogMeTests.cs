using MathNet.Numerics.LinearAlgebra;
using MlNetTransfer.Strategy;

namespace MlNetTransfer.Tests.Strategy;

public class LogMeTests
{
    /// <summary>12×4 features: a sine pattern plus 1 in the column of the row's class (labels i mod 3).</summary>
    private static (float[][] F, int[] Y) ReferenceCase()
    {
        var y = Enumerable.Range(0, 12).Select(i => i % 3).ToArray();
        var f = Enumerable.Range(0, 12).Select(i => Enumerable.Range(0, 4)
            .Select(j => (float)(Math.Sin(i * 1.3 + j * 0.7) + (j == y[i] ? 1.0 : 0.0))).ToArray()).ToArray();
        return (f, y);
    }

    [Fact]
    public void Matches_the_authors_algorithm_on_a_small_case()
    {
        // The authors' fixed-point LogME (github.com/thuml/LogME, LogME.py), run with numpy on this same matrix, gives
        // -0.6979265 (per class -0.7581296, -0.7352819, -0.6003679); iterated to convergence, -0.69792649.
        var (f, y) = ReferenceCase();
        var result = LogMe.Compute(f, y);
        Assert.Equal(-0.6979265, result.Score, 6);
        Assert.Equal([-0.7581296, -0.7352819, -0.6003679], result.PerClass.Select(p => Math.Round(p.Evidence, 7)).ToArray());
        Assert.Equal(4, result.Rank);
    }

    [Theory]
    [InlineData(40, 6)]   // N > D: decomposition of FᵀF
    [InlineData(8, 20)]   // N < D: decomposition of FFᵀ, rank N, D − N unconstrained weights
    public void Evidence_is_the_Gaussian_marginal_likelihood_of_the_labels(int n, int d)
    {
        var (f, y) = SyntheticFeatures.Clusters(n / 2, 2, d, noise: 1.0, seed: n);
        var result = LogMe.Compute(f, y);
        foreach (var c in result.PerClass)
        {
            var target = y.Select(l => l == c.Label ? 1.0 : 0.0).ToArray();
            // y ~ N(0, β⁻¹I + α⁻¹FFᵀ) when w ~ N(0, α⁻¹I) and the noise ~ N(0, β⁻¹): computed directly, no spectral trick.
            var F = Matrix<double>.Build.DenseOfRowArrays(f.Select(r => r.Select(v => (double)v).ToArray()));
            var cov = Matrix<double>.Build.DenseIdentity(n) / c.Beta + F * F.Transpose() / c.Alpha;
            var chol = cov.Cholesky();
            var v = Vector<double>.Build.DenseOfArray(target);
            var direct = -0.5 * (n * Math.Log(2 * Math.PI) + chol.DeterminantLn + v.DotProduct(chol.Solve(v)));
            Assert.Equal(direct, c.Evidence * n, 6);
            Assert.Equal(direct, LogMe.LogEvidence(f, target, c.Alpha, c.Beta), 6);
        }
    }

    [Fact]
    public void Alpha_and_beta_maximise_the_evidence()
    {
        var (f, y) = SyntheticFeatures.Clusters(30, 3, 10, noise: 0.8, seed: 4);
        var result = LogMe.Compute(f, y);
        foreach (var c in result.PerClass)
        {
            var target = y.Select(l => l == c.Label ? 1.0 : 0.0).ToArray();
            var best = LogMe.LogEvidence(f, target, c.Alpha, c.Beta);
            foreach (var (a, b) in new[] { (1.1, 1.0), (1 / 1.1, 1.0), (1.0, 1.1), (1.0, 1 / 1.1), (1.1, 1.1) })
                Assert.True(LogMe.LogEvidence(f, target, c.Alpha * a, c.Beta * b) < best, $"class {c.Label}: ×({a:0.00}, {b:0.00}) is not below the maximum");
        }
    }

    [Fact]
    public void Separable_labels_score_higher_than_shuffled_labels()
    {
        var (f, y) = SyntheticFeatures.Clusters(40, 4, 16, noise: 0.5, seed: 1);
        var separable = LogMe.Compute(f, y).Score;
        var random = LogMe.Compute(f, SyntheticFeatures.Shuffled(y, 2)).Score;
        Assert.True(separable > random + 0.3, $"separable {separable:0.000}, shuffled {random:0.000}");
    }

    [Fact]
    public void Is_invariant_to_rescaling_the_features()
    {
        var (f, y) = SyntheticFeatures.Clusters(20, 2, 8, noise: 1, seed: 3);
        var scaled = f.Select(r => r.Select(v => v * 50f).ToArray()).ToArray();
        Assert.Equal(LogMe.Compute(f, y).Score, LogMe.Compute(scaled, y).Score, 5);
    }

    [Fact]
    public void Subsamples_large_sets_per_class()
    {
        var (f, y) = SyntheticFeatures.Clusters(60, 2, 4, noise: 1, seed: 5);
        var result = LogMe.Compute(f, y, new LogMeOptions { MaximumExamples = 50 });
        Assert.Equal(50, result.Examples);
    }

    [Fact]
    public void Bad_input_is_reported_with_the_culprit()
    {
        var (f, y) = ReferenceCase();
        Assert.Contains("12 rows but 11 labels", Assert.Throws<MlNetTransferException>(() => LogMe.Compute(f, y[..11])).Message);
        var ragged = f.Select((r, i) => i == 5 ? r[..3] : r).ToArray();
        Assert.Contains("row 5 has 3 values", Assert.Throws<MlNetTransferException>(() => LogMe.Compute(ragged, y)).Message);
        var nan = f.Select(r => r.ToArray()).ToArray();
        nan[2][1] = float.NaN;
        Assert.Contains("row 2, value 1", Assert.Throws<MlNetTransferException>(() => LogMe.Compute(nan, y)).Message);
        Assert.Contains("at least two classes", Assert.Throws<MlNetTransferException>(() => LogMe.Compute(f, new int[12])).Message);
    }
}
