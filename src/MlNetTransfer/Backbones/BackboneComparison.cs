using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MlNetTransfer.Backbones.Catalog;
using MlNetTransfer.Data;

namespace MlNetTransfer.Backbones;

/// <summary>
/// Measures candidate backbones on the user's own images, the decision half of transfer learning: for each, the
/// feature extractor's head (regularisation tuned by cross-validation on the training split) is trained on its embeddings
/// (computed once into the embedding cache, so a later <c>train</c> with any of them featurizes nothing), its model zip
/// saved and loaded back as <see cref="ImageClassifier"/>, and timed one image at a time and in bulk. Ranking uses the
/// cross-validated accuracy alone; the validation split is reported, never used to choose.
/// </summary>
public sealed class BackboneComparison
{
    /// <summary>What <c>--backbone</c> takes to compare the candidates and train with the winner.</summary>
    public const string AutoName = "auto";

    /// <summary>Accuracies closer than this are equal; the faster backbone then wins.</summary>
    internal const double Tie = 1e-9;

    private readonly MLContext _ml;

    public BackboneComparison(MLContext ml) => _ml = ml ?? throw new ArgumentNullException(nameof(ml));

    /// <summary>Whether <paramref name="backbone"/> asks for the choice by measurement.</summary>
    public static bool IsAuto(string? backbone) => string.Equals(backbone?.Trim(), AutoName, StringComparison.OrdinalIgnoreCase);

    /// <summary>Compares the backbones of <paramref name="comparison"/> (default: every catalog backbone installed or in a
    /// mirror) on <see cref="TransferLearningOptions.DataPath"/> with the run's head, split, seed and featurizer. A backbone
    /// that cannot be installed or read is listed as skipped with the reason; none measured is an error.</summary>
    public BackboneComparisonResult Compare(TransferLearningOptions run, BackboneComparisonOptions? comparison = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        comparison ??= run.BackboneChoice;
        comparison.Validate();
        run.Head.Validate();
        if (string.IsNullOrWhiteSpace(run.DataPath)) throw new MlNetTransferException("No data given: set DataPath (--data) to an image folder or a CSV/TSV manifest.");
        if (!run.Head.CrossValidatesRegularisation)
            throw new MlNetTransferException("Backbones are ranked by the head's cross-validated accuracy on the training split: " +
                                             "leave --head-cv at 2 or more and drop --l2/--l1 (HeadOptions.CrossValidationFolds, L2Regularization, L1Regularization).");
        if (run.EmbeddingTensor is not null)
            throw new MlNetTransferException("--embedding names one backbone's tensor; it cannot apply to every backbone compared. Leave it out.");
        var clock = Stopwatch.StartNew();

        var skipped = new List<SkippedBackbone>();
        var names = comparison.Backbones.Count > 0
            ? comparison.Backbones.Select(b => b.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList()
            : DefaultCandidates(run.Mirrors, skipped);
        if (names.Count == 0)
            throw new MlNetTransferException("No backbone to compare: none of the catalog's is installed or in a mirror folder. " +
                                             "Give --mirror DIR, install one (mlnet-transfer backbones install NAME) or name them with --backbones a,b.");

        progress?.Report(new TrainingProgress(TrainingProgress.Loading, 0, 0, $"Reading {run.DataPath}"));
        var loadClock = Stopwatch.StartNew();
        var dataset = ImageDatasetLoader.Load(run.DataPath, run.Dataset,
            progress is null ? null : new InlineProgress<int>(n => progress.Report(new TrainingProgress(TrainingProgress.Loading, n, 100))));
        var loadSeconds = loadClock.Elapsed.TotalSeconds;
        var timed = dataset.Validation.Count > 0 ? dataset.Validation : dataset.Train;

        var temporary = comparison.ModelsDirectory is null;
        var zipFolder = comparison.ModelsDirectory is { } keep ? Path.GetFullPath(keep)
            : Path.Combine(Path.GetTempPath(), $"mlnet-transfer-compare-{Guid.NewGuid():N}");
        Directory.CreateDirectory(zipFolder);
        var rows = new List<BackboneMeasurement>();
        var zipNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var results = new Dictionary<string, TransferLearningResult>(StringComparer.OrdinalIgnoreCase);
        try
        {
            for (int i = 0; i < names.Count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                var name = names[i];
                progress?.Report(new TrainingProgress(TrainingProgress.Comparing, i, names.Count, $"{name} ({i + 1}/{names.Count})"));
                try
                {
                    var stem = SafeFileName(name);
                    for (int k = 2; !zipNames.Add(stem); k++) stem = $"{SafeFileName(name)}-{k}";
                    var (row, result) = Measure(run, comparison, name, dataset, loadSeconds, timed, Path.Combine(zipFolder, stem + ".zip"), temporary, progress, cancel);
                    rows.Add(row);
                    results[name] = result;
                }
                catch (MlNetTransferException e)
                {
                    skipped.Add(new SkippedBackbone(name, e.Message));
                }
            }
            progress?.Report(new TrainingProgress(TrainingProgress.Comparing, names.Count, names.Count, "done"));
        }
        finally
        {
            if (temporary) TryDelete(zipFolder);
        }
        if (rows.Count == 0)
            throw new MlNetTransferException("No backbone could be measured: " + string.Join("; ", skipped.Select(s => $"{s.Backbone}: {s.Reason}")));

        var report = new BackboneComparisonReport
        {
            Data = dataset.Source,
            TrainImages = dataset.Train.Count,
            ValidationImages = dataset.Validation.Count,
            Head = run.Head.Trainer.ToString().ToLowerInvariant(),
            CrossValidationFolds = run.Head.CrossValidationFolds,
            Seed = run.Seed,
            Method =
                $"Per backbone: the {run.Head.Trainer.ToString().ToLowerInvariant()} head's regularisation chosen by {run.Head.CrossValidationFolds}-fold stratified cross-validation " +
                $"on the training split's embeddings (its best mean held-out accuracy is the ranking measure), then trained on the whole training split and scored on validation. " +
                $"The model zip is saved, loaded with ImageClassifier and timed: {comparison.LatencyWarmup} untimed then {comparison.LatencyRuns} timed one-image predictions on " +
                $"{(dataset.Validation.Count > 0 ? "validation" : "training")} images (decode, resize, network, head), and {comparison.ThroughputImages} images " +
                $"{run.Featurizer.DegreeOfParallelism} at a time for images/s. {Environment.ProcessorCount} processors.",
            Backbones = rows,
            Skipped = skipped,
            ParetoFront = ParetoFront(rows),
            Seconds = clock.Elapsed.TotalSeconds,
        };
        return new BackboneComparisonResult(report, results);
    }

    /// <summary>Trains, saves, loads and times one backbone.</summary>
    private (BackboneMeasurement, TransferLearningResult) Measure(TransferLearningOptions run, BackboneComparisonOptions comparison, string name,
        ImageDataset dataset, double loadSeconds, IReadOnlyList<ImageExample> timed, string zip, bool temporary,
        IProgress<TrainingProgress>? progress, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var options = run.Copy();
        options.Backbone = name;
        options.Strategy = TransferLearningOptions.FeatureExtractor;
        options.Head = run.Head.Clone();
        var trainer = new TransferLearningTrainer(new MLContext(run.Seed));
        var result = trainer.TrainOnLoaded(options, dataset, loadSeconds, progress, cancel);
        var report = result.Report;

        progress?.Report(new TrainingProgress(TrainingProgress.Saving, 0, 1, $"{name}: model zip"));
        result.Save(zip);
        var zipBytes = new FileInfo(zip).Length;

        double p50, p95, perSecond;
        int throughputImages;
        using (var classifier = ImageClassifier.Load(new MLContext(run.Seed), zip))
        {
            var paths = timed.Select(e => e.Path).ToList();
            progress?.Report(new TrainingProgress(TrainingProgress.Timing, 0, comparison.LatencyWarmup + comparison.LatencyRuns, $"{name}: one-image latency"));
            for (int w = 0; w < comparison.LatencyWarmup; w++) classifier.Predict(paths[w % paths.Count]);
            var latencies = new double[comparison.LatencyRuns];
            var sw = new Stopwatch();
            for (int k = 0; k < latencies.Length; k++)
            {
                cancel.ThrowIfCancellationRequested();
                sw.Restart();
                classifier.Predict(paths[k % paths.Count]);
                latencies[k] = sw.Elapsed.TotalMilliseconds;
                progress?.Report(new TrainingProgress(TrainingProgress.Timing, comparison.LatencyWarmup + k + 1, comparison.LatencyWarmup + comparison.LatencyRuns, $"{name}: one-image latency"));
            }
            (p50, p95) = (Percentile(latencies, 0.50), Percentile(latencies, 0.95));

            var pool = dataset.Train.Concat(dataset.Validation).Select(e => e.Path).ToList();
            throughputImages = Math.Min(comparison.ThroughputImages, pool.Count);
            var parts = Math.Max(1, run.Featurizer.DegreeOfParallelism);
            progress?.Report(new TrainingProgress(TrainingProgress.Timing, 0, 0, $"{name}: {throughputImages} images, {parts} at a time"));
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = parts, CancellationToken = cancel };
            // The batch path has its own one-time costs (JIT, each thread's engine); untimed, so the first backbone compared is not charged for them.
            Parallel.For(0, parts, parallel, p => classifier.PredictBatch([pool[p % pool.Count]]));
            sw.Restart();
            Parallel.For(0, parts, parallel, p => classifier.PredictBatch(pool.Take(throughputImages).Where((_, k) => k % parts == p)));
            perSecond = throughputImages / Math.Max(sw.Elapsed.TotalSeconds, 1e-9);
        }

        var cv = report.Trainer.CrossValidation;
        var best = cv?.Grid.FirstOrDefault(g => g.L2Regularization == cv.L2Regularization && g.L1Regularization == cv.L1Regularization);
        var row = new BackboneMeasurement
        {
            Backbone = name,
            Source = report.Backbone.Source,
            EmbeddingSize = report.Backbone.EmbeddingSize,
            InputSize = report.Backbone.InputWidth,
            CrossValidationAccuracy = cv?.Score,
            CrossValidationStandardDeviation = best?.StandardDeviation,
            L2Regularization = report.Trainer.L2Regularization,
            L1Regularization = report.Trainer.L1Regularization,
            ValidationAccuracy = report.ValidationMetrics?.Accuracy,
            TestAccuracy = report.TestMetrics?.Accuracy,
            ImagesPerSecond = perSecond,
            ThroughputImages = throughputImages,
            ThroughputParallelism = Math.Max(1, run.Featurizer.DegreeOfParallelism),
            FeaturizeImagesPerSecond = report.Featurization.CacheHits < report.Featurization.Images ? report.Featurization.ImagesPerSecond : null,
            FeaturizeCacheHits = report.Featurization.CacheHits,
            LatencyP50Milliseconds = p50,
            LatencyP95Milliseconds = p95,
            LatencyRuns = comparison.LatencyRuns,
            ModelFileBytes = ModelFileBytes(name, run.Mirrors),
            ZipBytes = zipBytes,
            ZipPath = temporary ? null : zip,
            Seconds = clock.Elapsed.TotalSeconds,
        };
        return (row, result);
    }

    /// <summary>
    /// The most accurate backbone by cross-validated accuracy among those within the limits (median latency, zip size);
    /// a tie goes to the faster, then the smaller. No backbone within the limits is an error naming each limit and the best
    /// value measured against it.
    /// </summary>
    public static BackboneChoice Choose(IReadOnlyList<BackboneMeasurement> rows, double? maxLatencyMilliseconds = null, double? maxModelMegabytes = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var excluded = new List<SkippedBackbone>();
        var eligible = new List<BackboneMeasurement>();
        foreach (var r in rows)
        {
            var why = new List<string>();
            if (r.CrossValidationAccuracy is null) why.Add("no cross-validated accuracy (a class with fewer than 2 training images)");
            if (maxLatencyMilliseconds is { } ms && r.LatencyP50Milliseconds > ms) why.Add(Invariant($"median latency {r.LatencyP50Milliseconds:0.0} ms > --max-latency-ms {ms:0.###}"));
            if (maxModelMegabytes is { } mb && r.ZipBytes / 1e6 > mb) why.Add(Invariant($"zip {r.ZipBytes / 1e6:0.00} MB > --max-model-mb {mb:0.###}"));
            if (why.Count > 0) excluded.Add(new SkippedBackbone(r.Backbone, string.Join("; ", why)));
            else eligible.Add(r);
        }
        if (eligible.Count == 0)
        {
            var limits = new List<string>();
            if (maxLatencyMilliseconds is { } ms && rows.Count > 0)
            {
                var fastest = rows.MinBy(r => r.LatencyP50Milliseconds)!;
                limits.Add(Invariant($"--max-latency-ms {ms:0.###} (the fastest, {fastest.Backbone}, has a median latency of {fastest.LatencyP50Milliseconds:0.0} ms)"));
            }
            if (maxModelMegabytes is { } mb && rows.Count > 0)
            {
                var smallest = rows.MinBy(r => r.ZipBytes)!;
                limits.Add(Invariant($"--max-model-mb {mb:0.###} (the smallest zip, {smallest.Backbone}'s, is {smallest.ZipBytes / 1e6:0.00} MB)"));
            }
            throw new MlNetTransferException(limits.Count > 0
                ? $"No backbone of the {rows.Count} measured meets {string.Join(" and ", limits)}. Raise the limit, or compare smaller backbones (--backbones)."
                : $"No backbone of the {rows.Count} measured can be ranked: {string.Join("; ", excluded.Select(e => $"{e.Backbone}: {e.Reason}"))}.");
        }
        var ranked = eligible.OrderByDescending(r => r.CrossValidationAccuracy!.Value).ToList();
        var top = ranked[0].CrossValidationAccuracy!.Value;
        var winner = ranked.Where(r => top - r.CrossValidationAccuracy!.Value <= Tie)
            .OrderBy(r => r.LatencyP50Milliseconds).ThenBy(r => r.ZipBytes).ThenBy(r => r.Backbone, StringComparer.Ordinal).First();
        var others = ranked.Where(r => r != winner).Select(r => Invariant($"{r.Backbone} {r.CrossValidationAccuracy:0.000}")).ToList();
        var tied = ranked.Count(r => top - r.CrossValidationAccuracy!.Value <= Tie) > 1;
        var reason = Invariant($"{winner.Backbone} has the highest cross-validated accuracy ({winner.CrossValidationAccuracy:0.000}) of the {eligible.Count} backbone(s) ")
                     + (excluded.Count > 0 ? "within the limits" : "measured")
                     + (others.Count > 0 ? $" (then {string.Join(", ", others)})" : "")
                     + (tied ? "; tied on accuracy, it is the fastest of those tied" : "")
                     + Invariant($"; median latency {winner.LatencyP50Milliseconds:0.0} ms, zip {winner.ZipBytes / 1e6:0.00} MB")
                     + (excluded.Count > 0 ? "; ruled out: " + string.Join("; ", excluded.Select(e => $"{e.Backbone} ({e.Reason})")) : "")
                     + ".";
        return new BackboneChoice
        {
            Winner = winner.Backbone,
            Rule = "highest cross-validated accuracy of the head on the training split (never the validation split) among the backbones within " +
                   "--max-latency-ms (median one-image latency through the loaded zip) and --max-model-mb (zip size); a tie goes to the lower latency, then the smaller zip",
            Reason = reason,
            MaxLatencyMilliseconds = maxLatencyMilliseconds,
            MaxModelMegabytes = maxModelMegabytes,
            Excluded = excluded,
        };
    }

    /// <summary>The backbones no other one beats on both cross-validated accuracy (higher) and median latency (lower),
    /// fastest first.</summary>
    public static IReadOnlyList<string> ParetoFront(IReadOnlyList<BackboneMeasurement> rows)
    {
        var scored = rows.Where(r => r.CrossValidationAccuracy is not null).ToList();
        bool Dominates(BackboneMeasurement a, BackboneMeasurement b) =>
            a.CrossValidationAccuracy >= b.CrossValidationAccuracy - Tie && a.LatencyP50Milliseconds <= b.LatencyP50Milliseconds
            && (a.CrossValidationAccuracy > b.CrossValidationAccuracy + Tie || a.LatencyP50Milliseconds < b.LatencyP50Milliseconds);
        return scored.Where(b => !scored.Any(a => a != b && Dominates(a, b))).OrderBy(r => r.LatencyP50Milliseconds).Select(r => r.Backbone).ToList();
    }

    /// <summary>The catalog backbones installed in the cache or with every file in a mirror folder (given or from
    /// <c>MLNET_TRANSFER_MIRRORS</c>), in catalog order; each other one is added to <paramref name="skipped"/> with the reason.</summary>
    public static List<string> DefaultCandidates(IEnumerable<string> mirrors, List<SkippedBackbone> skipped, BackboneCatalog? catalog = null, string? cacheDirectory = null)
    {
        catalog ??= BackboneCatalog.LoadDefault();
        var install = new InstallOptions();
        install.Mirrors.AddRange(mirrors);
        if (cacheDirectory is not null) install.CacheDirectory = cacheDirectory;
        var installer = new BackboneInstaller(catalog, install);
        var names = new List<string>();
        foreach (var entry in catalog.All)
        {
            if (installer.GetStatus(entry) == BackboneStatus.Installed || installer.IsInMirrors(entry)) names.Add(entry.Name);
            else skipped.Add(new SkippedBackbone(entry.Name, "not installed and not in a mirror folder (install it, give --mirror DIR, or name it in --backbones)"));
        }
        return names;
    }

    /// <summary>Nearest-rank percentile of <paramref name="values"/> (q in 0..1).</summary>
    internal static double Percentile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Bytes of the backbone's files: the catalog's install, an .onnx file, a TF.js folder; 0 for a generated one.</summary>
    private static long ModelFileBytes(string name, IEnumerable<string> mirrors)
    {
        if (BackboneCatalog.LoadDefault().TryFind(name) is { } entry) return entry.TotalSize;
        if (File.Exists(name))
        {
            var file = new FileInfo(name);
            // A TF.js model.json's weights are the shard files beside it.
            return name.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                ? file.Directory!.EnumerateFiles().Sum(f => f.Length)
                : file.Length;
        }
        if (Directory.Exists(name)) return new DirectoryInfo(name).EnumerateFiles().Sum(f => f.Length);
        return 0;
    }

    private static string SafeFileName(string name)
    {
        var stem = File.Exists(name) || Directory.Exists(name) ? Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(name)) : name;
        if (stem == "model") stem = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(name))) ?? stem;
        return string.Concat(stem.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left behind is harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The comparison's report and each measured backbone's trained result (kept so <c>--backbone auto</c> need not
/// train the winner again).</summary>
public sealed class BackboneComparisonResult(BackboneComparisonReport report, IReadOnlyDictionary<string, TransferLearningResult> results)
{
    public BackboneComparisonReport Report { get; } = report;

    /// <summary>Each measured backbone's feature-extractor result, by the name it was given.</summary>
    public IReadOnlyDictionary<string, TransferLearningResult> Results { get; } = results;
}
