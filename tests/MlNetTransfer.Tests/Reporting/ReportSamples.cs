using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;
using MlNetTransfer.Tests.Strategy;

namespace MlNetTransfer.Tests.Reporting;

/// <summary>A filled-in training report and experiment details, as a real run would produce them.</summary>
internal static class ReportSamples
{
    public static readonly string[] Classes = ["ants", "bees", "wasps"];

    public static TrainingReport Training()
    {
        long[][] counts = [[40, 3, 2], [4, 35, 1], [0, 2, 13]];
        var perClass = Classes.Select((c, i) =>
        {
            long tp = counts[i][i], support = counts[i].Sum(), predicted = counts.Sum(r => r[i]);
            double p = (double)tp / predicted, r = (double)tp / support;
            return new ClassMetrics { Class = c, Precision = p, Recall = r, F1 = 2 * p * r / (p + r), Support = support };
        }).ToList();
        var metrics = new ClassificationReport
        {
            Accuracy = 88 / 100.0, MacroF1 = perClass.Average(c => c.F1), MacroAccuracy = perClass.Average(c => c.Recall), LogLoss = 0.31,
            Examples = 100, PerClass = perClass, Confusion = new ConfusionMatrixReport { Classes = Classes, Counts = counts },
        };
        return new TrainingReport
        {
            Strategy = "auto",
            Metrics = metrics,
            EvaluatedOn = "test",
            ValidationMetrics = metrics with { Accuracy = 0.9 },
            TestMetrics = metrics,
            Data = new DataReport { Source = "/data/insects <&> \"quoted\"", Seed = 42, Fractions = [0.8, 0.1, 0.1], Classes = Classes },
            Counts = new SplitCounts
            {
                Train = 400, Validation = 100, Test = 100, Skipped = 1,
                PerClass = new Dictionary<string, int[]> { ["ants"] = [180, 45, 45], ["bees"] = [160, 40, 40], ["wasps"] = [60, 15, 15] },
            },
            Skipped = [new SkippedReport("/data/insects/ants/broken.jpg", "truncated JPEG")],
            Backbone = new BackboneReport { Name = "mobilenet_v2", Source = "catalog", Sha256 = new string('a', 64), EmbeddingTensor = "pooled", EmbeddingSize = 1280, InputWidth = 224, InputHeight = 224, SourceDomain = "ImageNet-1k natural photos" },
            Trainer = new TrainerReport { Name = "lbfgs", MlNetTrainer = "LbfgsMaximumEntropy", MaximumIterations = 200, Normalization = "MeanVariance" },
            Featurization = new FeaturizationReport { Images = 600, CacheHits = 100, ImagesPerSecond = 85.5, DegreeOfParallelism = 2 },
            Timings = new TimingsReport { LoadSeconds = 0.4, FeaturizeSeconds = 6.1, TrainSeconds = 2.3, EvaluateSeconds = 0.2, TotalSeconds = 9.0 },
        };
    }

    public static ExperimentDetails Details()
    {
        var (f, y) = SyntheticFeatures.Clusters(30, 3, 16, noise: 0.5, seed: 1);
        var pixels = SyntheticFeatures.Noise(90, 12, 2);
        var similarity = DomainSimilarity.Measure(f, y, pixels);
        var decision = ScenarioMatrix.Choose(DatasetSize.FromCounts([180, 160, 60]), similarity, sourceDomain: "ImageNet-1k natural photos");
        LearningCurve Curve(string name, double start, double rate) => new()
        {
            Candidate = name,
            Points = Enumerable.Range(1, 12).Select(e => new LearningCurvePoint(e, start * Math.Exp(-rate * e), start * Math.Exp(-rate * e * 0.8) + 0.05,
                1 - 0.6 * Math.Exp(-rate * e))).ToList(),
        };
        return new ExperimentDetails
        {
            Leaderboard = new Leaderboard
            {
                BudgetSeconds = 600, ElapsedSeconds = 612.5, Winner = "feature-extractor/lbfgs",
                Entries =
                [
                    new LeaderboardEntry { Candidate = "feature-extractor/lbfgs", Strategy = "feature-extractor", FreezeFraction = 1, Score = 0.93, MacroF1 = 0.91, WallSeconds = 8.5 },
                    new LeaderboardEntry { Candidate = "feature-extractor/sdca", Strategy = "feature-extractor", FreezeFraction = 1, Score = 0.91, MacroF1 = 0.9, WallSeconds = 5.2 },
                    new LeaderboardEntry { Candidate = "fine-tune-top/freeze-70", Strategy = "fine-tune-top", FreezeFraction = 0.7, Score = 0.925, MacroF1 = 0.92, WallSeconds = 240 },
                    new LeaderboardEntry { Candidate = "fine-tune-all", Strategy = "fine-tune-all", FreezeFraction = 0, Score = 0.89, MacroF1 = 0.87, WallSeconds = 358 },
                    new LeaderboardEntry { Candidate = "from-scratch", Strategy = "from-scratch", Status = CandidateStatus.StoppedAtBudget, WallSeconds = 0.8, Note = "budget spent" },
                ],
            },
            LearningCurves = [Curve("fine-tune-top/freeze-70", 1.1, 0.35), Curve("fine-tune-all", 1.2, 0.25), Curve("from-scratch", 1.4, 0.08)],
            Scenario = decision,
        };
    }
}
