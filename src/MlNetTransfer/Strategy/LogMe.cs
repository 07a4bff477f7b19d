using System.Numerics.Tensors;
using MathNet.Numerics.LinearAlgebra;

namespace MlNetTransfer.Strategy;

/// <summary>Options of <see cref="LogMe"/>.</summary>
public sealed class LogMeOptions
{
    /// <summary>Cap on the fixed-point iterations per class. Default 100 (it typically converges in 3–10).</summary>
    public int MaximumIterations { get; set; } = 100;

    /// <summary>Stop when α/β changes by less than this fraction. Default 1e-6.</summary>
    public double Tolerance { get; set; } = 1e-6;

    /// <summary>Larger sets are subsampled (stratified) to this many rows: the cost is an eigendecomposition of a
    /// min(N, D)-square matrix. Default 2000.</summary>
    public int MaximumExamples { get; set; } = 2000;

    /// <summary>Seed of the subsampling. Default 0.</summary>
    public int Seed { get; set; }
}

/// <summary>One class's one-vs-rest evidence maximisation.</summary>
/// <param name="Label">The class label as given.</param>
/// <param name="Evidence">Maximised log evidence divided by the number of rows.</param>
/// <param name="Alpha">Prior precision of the weights at the maximum.</param>
/// <param name="Beta">Noise precision at the maximum.</param>
/// <param name="Iterations">Fixed-point iterations run.</param>
public sealed record LogMeClassResult(int Label, double Evidence, double Alpha, double Beta, int Iterations);

/// <summary>The LogME score: the mean over classes of the per-class maximised evidence (per row).</summary>
public sealed record LogMeResult
{
    public double Score { get; init; }
    public int Examples { get; init; }
    public int Dimension { get; init; }

    /// <summary>Numerical rank of the feature matrix (eigenvalues above 1e-10 of the largest).</summary>
    public int Rank { get; init; }

    public IReadOnlyList<LogMeClassResult> PerClass { get; init; } = [];
}

/// <summary>
/// LogME (You et al., ICML 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning"): how well
/// features F [N×D] explain labels through Bayesian linear regression, y = F·w + noise, w ~ N(0, α⁻¹I), noise
/// ~ N(0, β⁻¹), with α and β chosen to maximise the marginal likelihood ("evidence") p(y | F, α, β). Each class is a
/// 0/1 one-vs-rest target; the score is the mean of the per-class log evidence divided by N. Higher means the labels
/// are (more nearly) a linear function of the features, i.e. the features suit the task. It is invariant to a
/// global rescaling of F, but not comparable across tasks with different numbers of classes.
/// </summary>
/// <remarks>
/// One spectral decomposition serves every class (the paper's trick): from F = U·diag(s)·Vᵀ with σ = s², the
/// projections x = Uᵀy give every term of the evidence in O(rank) per iteration. The fixed-point updates are those of
/// the authors' later formulation (You et al. 2022, "Ranking and Tuning Pre-trained Models"):
/// γ = Σσ/(σ+t), m² = Σσx²/(σ+t)², r² = Σ(t·x/(σ+t))² + (‖y‖² − ‖x‖²), α = γ/m², β = (N−γ)/r², t = α/β.
/// The evidence counts all D eigenvalues of FᵀF (zeros included, as in the ICML algorithm), so with N &lt; D it
/// includes (D − rank)·log α, the log-determinant term of the weights the data do not constrain.
/// The decomposition is MathNet's symmetric eigensolver on the smaller Gram matrix (FFᵀ or FᵀF).
/// </remarks>
public static class LogMe
{
    private const double Guard = 1e-12; // keeps α and β finite when a target is fitted exactly

    public static LogMeResult Compute(float[][] features, int[] labels, LogMeOptions? options = null)
    {
        options ??= new LogMeOptions();
        var data = LabelledFeatures.Check(features, labels, "LogME features").Subsample(options.MaximumExamples, options.Seed);
        var originalLabels = labels.Distinct().Order().ToArray();
        int n = data.Count, d = data.Dimension;
        var spectrum = Spectrum.Of(data.Rows);

        var perClass = new List<LogMeClassResult>();
        for (int c = 0; c < data.ClassCount; c++)
        {
            var y = new double[n];
            for (int i = 0; i < n; i++) y[i] = data.ClassOf[i] == c ? 1 : 0;
            var (x, residual) = spectrum.Project(y);
            var (alpha, beta, iterations) = Maximise(spectrum.Sigma, x, residual, n, options);
            perClass.Add(new LogMeClassResult(originalLabels[c], Evidence(spectrum.Sigma, x, residual, n, d, alpha, beta) / n, alpha, beta, iterations));
        }
        return new LogMeResult
        {
            Score = perClass.Average(p => p.Evidence),
            Examples = n,
            Dimension = d,
            Rank = spectrum.Sigma.Length,
            PerClass = perClass,
        };
    }

    /// <summary>The log evidence ln p(y | F, α, β) (not divided by N) of a 0/1 or real target <paramref name="y"/>.
    /// Exposed so that a caller can check a maximum or compare with a direct Gaussian likelihood.</summary>
    public static double LogEvidence(float[][] features, double[] y, double alpha, double beta)
    {
        if (features.Length != y.Length) throw new MlNetTransferException($"LogME: {features.Length} rows but {y.Length} targets.");
        var spectrum = Spectrum.Of(features);
        var (x, residual) = spectrum.Project(y);
        return Evidence(spectrum.Sigma, x, residual, features.Length, features[0].Length, alpha, beta);
    }

    private static (double Alpha, double Beta, int Iterations) Maximise(double[] sigma, double[] x, double residual, int n, LogMeOptions options)
    {
        double alpha = 1, beta = 1; // the authors' starting point
        int iteration = 0;
        while (iteration < options.MaximumIterations)
        {
            iteration++;
            var t = alpha / beta;
            var (gamma, m2, r2) = Terms(sigma, x, residual, t);
            alpha = gamma / (m2 + Guard);
            beta = (n - gamma) / (r2 + Guard);
            if (Math.Abs(alpha / beta - t) / t <= options.Tolerance) break;
        }
        return (alpha, beta, iteration);
    }

    private static (double Gamma, double M2, double R2) Terms(double[] sigma, double[] x, double residual, double t)
    {
        double gamma = 0, m2 = 0, r2 = residual;
        for (int i = 0; i < sigma.Length; i++)
        {
            var denominator = sigma[i] + t;
            gamma += sigma[i] / denominator;
            m2 += sigma[i] * x[i] * x[i] / (denominator * denominator);
            var r = t * x[i] / denominator;
            r2 += r * r;
        }
        return (gamma, m2, r2);
    }

    private static double Evidence(double[] sigma, double[] x, double residual, int n, int d, double alpha, double beta)
    {
        var (_, m2, r2) = Terms(sigma, x, residual, alpha / beta);
        double logDetA = (d - sigma.Length) * Math.Log(alpha);
        foreach (var s in sigma) logDetA += Math.Log(alpha + beta * s);
        return d / 2.0 * Math.Log(alpha) + n / 2.0 * Math.Log(beta) - 0.5 * logDetA
            - beta / 2.0 * r2 - alpha / 2.0 * m2 - n / 2.0 * Math.Log(2 * Math.PI);
    }

    /// <summary>The non-zero part of F's spectrum: σ (eigenvalues of FᵀF) and a projector onto F's left singular vectors.</summary>
    private sealed class Spectrum
    {
        private readonly double[][] _rows; // F, N×D
        private readonly Matrix<double> _vectors; // N×k (U) when N ≤ D, else D×k (V)
        private readonly bool _gramOfRows;

        private Spectrum(double[][] rows, double[] sigma, Matrix<double> vectors, bool gramOfRows)
        {
            _rows = rows;
            Sigma = sigma;
            _vectors = vectors;
            _gramOfRows = gramOfRows;
        }

        public double[] Sigma { get; }

        public static Spectrum Of(float[][] features)
        {
            int n = features.Length, d = features[0].Length;
            var rows = features.Select(r => Array.ConvertAll(r, v => (double)v)).ToArray();
            var gramOfRows = n <= d;
            // The Gram matrix by SIMD dot products: several times faster than MathNet's managed matrix product.
            var vectors = gramOfRows ? rows : Transpose(rows, d);
            var size = vectors.Length;
            var gram = new double[size, size];
            Parallel.For(0, size, i =>
            {
                for (int j = 0; j <= i; j++) gram[i, j] = gram[j, i] = TensorPrimitives.Dot<double>(vectors[i], vectors[j]);
            });
            var evd = Matrix<double>.Build.DenseOfArray(gram).Evd(Symmetricity.Symmetric);
            var values = evd.EigenValues.Select(v => v.Real).ToArray();
            var largest = values.Max();
            var keep = Enumerable.Range(0, values.Length).Where(i => values[i] > 1e-10 * largest).OrderByDescending(i => values[i]).ToArray();
            var eigenvectors = evd.EigenVectors;
            var kept = Matrix<double>.Build.Dense(size, keep.Length, (r, c) => eigenvectors[r, keep[c]]);
            return new Spectrum(rows, keep.Select(i => values[i]).ToArray(), kept, gramOfRows);
        }

        /// <summary>x = Uᵀy and the squared norm of y's part outside F's column space.</summary>
        public (double[] X, double Residual) Project(double[] y)
        {
            var x = new double[Sigma.Length];
            if (_gramOfRows)
            {
                for (int k = 0; k < x.Length; k++)
                    for (int i = 0; i < y.Length; i++) x[k] += _vectors[i, k] * y[i];
            }
            else
            {
                // U = F·V·diag(1/s), so Uᵀy = diag(1/s)·Vᵀ(Fᵀy).
                var d = _rows[0].Length;
                var fty = new double[d];
                for (int i = 0; i < y.Length; i++)
                    if (y[i] != 0) TensorPrimitives.MultiplyAdd<double>(_rows[i], y[i], fty, fty);
                for (int k = 0; k < x.Length; k++)
                {
                    double dot = 0;
                    for (int j = 0; j < d; j++) dot += _vectors[j, k] * fty[j];
                    x[k] = dot / Math.Sqrt(Sigma[k]);
                }
            }
            var residual = TensorPrimitives.Dot<double>(y, y) - TensorPrimitives.Dot<double>(x, x);
            return (x, Math.Max(0, residual));
        }

        private static double[][] Transpose(double[][] rows, int d)
        {
            var columns = new double[d][];
            for (int j = 0; j < d; j++)
            {
                columns[j] = new double[rows.Length];
                for (int i = 0; i < rows.Length; i++) columns[j][i] = rows[i][j];
            }
            return columns;
        }
    }
}
