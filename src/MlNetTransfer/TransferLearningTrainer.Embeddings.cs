using System.Diagnostics;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;

namespace MlNetTransfer;

public sealed partial class TransferLearningTrainer
{
    /// <summary>Featurizes one shard of a data set into Parquet (see <see cref="ShardedFeaturizer"/>): the first half of a
    /// job array's work; <see cref="TransferLearningOptions.EmbeddingsPath"/> trains from the gathered shards.</summary>
    public ShardRunResult FeaturizeShard(ShardedFeaturizerOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
        => ShardedFeaturizer.Run(_ml, options, progress, cancel);

    /// <summary>The feature-extractor path on embeddings read from shards: same split, same head, and a model that still
    /// predicts from images (the featurizer comes from the backbone, which must be the one the shards were made with).</summary>
    private TransferLearningResult TrainFromEmbeddings(TransferLearningOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancel)
    {
        if (options.Strategy != TransferLearningOptions.FeatureExtractor)
            throw new MlNetTransferException(
                $"Strategy '{options.Strategy}' needs the images (fine-tuning runs the network on pixels; auto also measures pixels and fine-tunes); " +
                $"training from embeddings shards ({options.EmbeddingsPath}) trains a head: use --strategy {TransferLearningOptions.FeatureExtractor}, or --data with the images.");
        options.Head.Validate();
        var run = new RunContext { Options = options, Progress = progress, Cancel = cancel };
        var sw = Stopwatch.StartNew();
        progress?.Report(new TrainingProgress(TrainingProgress.Loading, 0, 0, $"Reading shards in {options.EmbeddingsPath}"));
        run.Gathered = GatheredEmbeddings.Load(options.EmbeddingsPath!, options.Dataset);
        run.Dataset = run.Gathered.Dataset;
        run.LoadSeconds = sw.Elapsed.TotalSeconds;

        var backbone = string.IsNullOrEmpty(options.Backbone) ? run.Gathered.Backbone : options.Backbone;
        progress?.Report(new TrainingProgress(TrainingProgress.Preparing, 0, 0, $"Preparing backbone {backbone}"));
        run.Resolved = BackboneResolver.Resolve(backbone, new BackboneResolveOptions { Mirrors = options.Mirrors, EmbeddingTensor = options.EmbeddingTensor });
        return TrainFeatureExtractor(run);
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
