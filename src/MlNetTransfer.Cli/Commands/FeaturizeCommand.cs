using System.CommandLine;
using Microsoft.ML;
using MlNetTransfer.Featurization;

namespace MlNetTransfer.Cli.Commands;

/// <summary><c>featurize</c>: one shard of a data set → Parquet embeddings; the first step of a job array (train --embeddings gathers).</summary>
internal static class FeaturizeCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data", "-d")
        {
            Description = "Image folder with one sub-folder per class (or train/ val/ [test/] folders of those), or a CSV/TSV manifest of path,label rows, as for train.",
            Required = true,
        };
        var backbone = new Option<string>("--backbone", "-b")
        {
            Description = "Pretrained network, as for train (a catalog name, an .onnx file, or synthetic-cnn).",
            DefaultValueFactory = _ => new TransferLearningOptions().Backbone,
        };
        var output = new Option<string>("--out", "-o")
        {
            Description = "Folder for the shards (the same for every task of the run; on a cluster, a shared volume): embeddings-iiiii-of-nnnnn.parquet plus a .json completion marker each.",
            Required = true,
        };
        var embedding = new Option<string?>("--embedding") { Description = "Tensor to cut the backbone at (see mlnet-transfer inspect), as for train." };
        var mirrors = new Option<string[]>("--mirror") { Description = "Folder holding backbone files (an offline mirror), searched before any download; repeatable." };
        var threads = new Option<int>("--threads") { Description = "Images featurized at once (one ONNX Runtime thread each, so results do not depend on it).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Also read and write the embedding cache in this folder (off by default: the shards are the store)." };
        var shards = new ShardOptions();
        var command = new Command("featurize",
            "Featurize one shard of a data set with a pretrained backbone into Parquet (path, label, split, content SHA-256, backbone SHA-256, embedding). " +
            "Run it once per shard (a Slurm job array or a Kubernetes Indexed Job: --shard env), then 'train --embeddings DIR'. " +
            "A finished shard is skipped when run again; a half-written or damaged one is redone. Files that are not usable images are listed and skipped.")
        {
            data, backbone, output, embedding, mirrors, threads, cacheDir,
        };
        shards.AddTo(command);
        command.SetAction(Cli.Guard((parse, cancel) =>
        {
            var options = new ShardedFeaturizerOptions
            {
                DataPath = parse.GetValue(data)!,
                Backbone = parse.GetValue(backbone)!,
                EmbeddingTensor = parse.GetValue(embedding),
                Mirrors = parse.GetValue(mirrors)?.ToList() ?? [],
                OutputDirectory = parse.GetValue(output)!,
                Shard = shards.Resolve(parse),
            };
            options.Featurizer.DegreeOfParallelism = Math.Max(1, parse.GetValue(threads));
            options.Featurizer.CacheDirectory = parse.GetValue(cacheDir);
            var result = Cli.WithProgress(progress => new MLContext().TransferLearning().FeaturizeShard(options, progress, cancel));
            ShardOptions.Print(result, "embeddings");
            return 0;
        }));
        return command;
    }
}
