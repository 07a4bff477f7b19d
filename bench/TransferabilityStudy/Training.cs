using MlNetTransfer.FineTuning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace TransferabilityStudy;

/// <summary>Per-epoch training loss and test accuracy of one run (index 0 = after the first epoch).</summary>
public sealed record LearningCurve(double[] TrainLoss, double[] TestAccuracy, double Seconds);

/// <summary>
/// Plain supervised training of an <see cref="OnnxTorchModule"/> on in-memory tensors, the same recipe for every network
/// of the study: AdamW (decay on weights, not on biases and batch-norm parameters) over the trainable groups only, the
/// rate decayed to zero on a cosine over the run, shuffled mini-batches, no augmentation; the test set is scored after
/// every epoch. Driven directly on tensors (as bench/FineTuneBench does) because the data already sits in memory.
/// </summary>
public sealed class Training(StudyOptions options)
{
    public LearningCurve Run(OnnxTorchModule module, LabelledTensors train, LabelledTensors test, int epochs, int seed)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var trainable = module.ParameterGroups.Where(g => g.Trainable).SelectMany(g => g.Parameters).ToList();
        var groups = new List<AdamW.ParamGroup>
        {
            new(trainable.Where(p => p.dim() > 1), lr: options.LearningRate, weight_decay: options.WeightDecay),
            new(trainable.Where(p => p.dim() <= 1), lr: options.LearningRate, weight_decay: 0),
        };
        using var optimizer = torch.optim.AdamW(groups, options.LearningRate);
        using var generator = new Generator((ulong)seed, CPU);

        var n = train.Count;
        var batches = BatchesPerEpoch(n, options.BatchSize);
        long totalSteps = (long)batches * epochs, step = 0;
        var losses = new double[epochs];
        var accuracies = new double[epochs];
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            module.train();
            using var order = torch.randperm(n, generator: generator);
            double lossSum = 0;
            for (int b = 0; b < batches; b++)
            {
                using var scope = torch.NewDisposeScope();
                var factor = LearningRateSchedules.Factor(LearningRateSchedule.WarmupCosine, step++, totalSteps, warmupFraction: 0);
                foreach (var g in groups) g.LearningRate = options.LearningRate * factor;
                var index = order.narrow(0, b * n / batches, (b + 1) * n / batches - b * n / batches);
                var loss = F.cross_entropy(module.forward(train.Images.index_select(0, index)), train.Labels.index_select(0, index));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>();
            }
            losses[epoch] = lossSum / batches;
            accuracies[epoch] = Accuracy(module, test);
        }
        return new LearningCurve(losses, accuracies, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Equal-sized batches of about <paramref name="batchSize"/> (no straggler of one or two images, which would upset
    /// batch norm's statistics).</summary>
    public static int BatchesPerEpoch(long images, int batchSize) => (int)Math.Max(1, Math.Round(images / (double)batchSize));

    public static double Accuracy(OnnxTorchModule module, LabelledTensors data, int batch = 500)
    {
        module.eval();
        using var noGrad = torch.no_grad();
        long correct = 0;
        for (long start = 0; start < data.Count; start += batch)
        {
            using var scope = torch.NewDisposeScope();
            var length = Math.Min(batch, data.Count - start);
            var predicted = module.forward(data.Images.narrow(0, start, length)).argmax(1);
            correct += predicted.eq(data.Labels.narrow(0, start, length)).sum().item<long>();
        }
        return correct / (double)data.Count;
    }
}
