using System.Diagnostics;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Strategy;

namespace MlNetTransfer;

public sealed partial class TransferLearningTrainer
{
    /// <summary>Featurizes one shard of a data set into Parquet (see <see cref="ShardedFeaturizer"/>): the first half of a
    /// job array's work; <see cref="TransferLearningOptions.EmbeddingsPath"/> trains from the gathered shards.</summary>
    public ShardRunResult FeaturizeShard(ShardedFeaturizerOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
        => ShardedFeaturizer.Run(_ml, options, progress, cancel);

    /// <summary>The feature-extractor path, or auto's head candidates, on embeddings read from shards: same split, same heads,
    /// and a model that still predicts from images (the featurizer comes from the backbone, which must be the one the shards
    /// were made with). What needs the images — fine-tuning, the pixel side of the domain similarity — cannot run, and auto's
    /// report says so.</summary>
    private TransferLearningResult TrainFromEmbeddings(TransferLearningOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancel)
    {
        if (options.Strategy is not (TransferLearningOptions.FeatureExtractor or TransferLearningOptions.AutoStrategy))
            throw new MlNetTransferException(
                $"Strategy '{options.Strategy}' needs the images (fine-tuning runs the network on their pixels); training from embeddings shards ({options.EmbeddingsPath}) " +
                $"trains heads: use --strategy {TransferLearningOptions.FeatureExtractor} or {TransferLearningOptions.AutoStrategy} (its head candidates), or --data with the images.");
        options.Head.Validate();
        if (options.Strategy == TransferLearningOptions.AutoStrategy) options.Auto.Validate();
        var run = new RunContext { Options = options, Progress = progress, Cancel = cancel };
        var sw = Stopwatch.StartNew();
        progress?.Report(new TrainingProgress(TrainingProgress.Loading, 0, 0, $"Reading shards in {options.EmbeddingsPath}"));
        run.Gathered = GatheredEmbeddings.Load(options.EmbeddingsPath!, options.Dataset);
        run.Dataset = run.Gathered.Dataset;
        run.LoadSeconds = sw.Elapsed.TotalSeconds;
        run.Balance = ClassBalance.Measure(run.Dataset.Train, options.ClassWeights);

        var backbone = string.IsNullOrEmpty(options.Backbone) ? run.Gathered.Backbone : options.Backbone;
        progress?.Report(new TrainingProgress(TrainingProgress.Preparing, 0, 0, $"Preparing backbone {backbone}"));
        run.Resolved = BackboneResolver.Resolve(backbone, new BackboneResolveOptions { Mirrors = options.Mirrors, EmbeddingTensor = options.EmbeddingTensor });
        return options.Strategy == TransferLearningOptions.AutoStrategy ? TrainAuto(run) : TrainFeatureExtractor(run);
    }

    /// <summary>Why a search from shards leaves fine-tuning out, for its rows.</summary>
    private const string ImagesUnavailable = "fine-tuning needs the images (it trains the network on their pixels), and this run has only their embeddings";

    /// <summary>Where the embeddings came from, and the domain similarity's parts that they alone allow and the ones they do not.</summary>
    private static string DescribeSimilarityWithoutImages(RunContext run, FeaturizedData data)
    {
        var train = run.Dataset.Train;
        var classIndex = data.Classes.Select((c, k) => (c, k)).ToDictionary(p => p.c, p => p.k);
        run.Progress?.Report(new TrainingProgress(TrainingProgress.Measuring, 0, 0, "LogME and k-NN probe on the embeddings"));
        var similarity = DomainSimilarity.DescribeWithoutImages(data.Embeddings[..train.Count], train.Select(e => classIndex[e.Label]).ToArray(), run.Options.Auto.Similarity);
        return $"Trained from the embeddings shards in {Path.GetFullPath(run.Options.EmbeddingsPath!)}; train with --data to include what needs the images. {similarity}";
    }

    /// <summary>The saved model featurizes with this backbone, so it must be the one that computed the stored embeddings.</summary>
    private static void RequireBackbone(GatheredEmbeddings gathered, PreparedBackbone backbone)
    {
        if (gathered.BackboneSha256 != backbone.Sha256)
            throw new MlNetTransferException(
                $"The shards were featurized with backbone '{gathered.Backbone}' (prepared graph SHA-256 {gathered.BackboneSha256}), but backbone " +
                $"'{backbone.Spec.Name}' prepares to SHA-256 {backbone.Sha256}; give --backbone {gathered.Backbone} (with the same --embedding tensor), " +
                "since the saved model featurizes new images with it.");
    }
}
