using System.Diagnostics;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;

namespace MlNetTransfer;

public sealed partial class TransferLearningTrainer
{
    /// <summary>
    /// <c>--backbone auto</c>: compares the candidates (<see cref="BackboneComparison"/>), chooses the most accurate within the
    /// limits (<see cref="BackboneComparison.Choose"/>), then returns the winner's feature-extractor model as measured, or, for
    /// another strategy, trains it with that strategy on the embeddings the comparison cached (the auto strategy's budget
    /// loses what the comparison took). The report's <see cref="Reporting.TrainingReport.BackboneComparison"/> says what was
    /// compared and why the winner won.
    /// </summary>
    private TransferLearningResult TrainWithBackboneChoice(TransferLearningOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var choice = options.BackboneChoice;
        choice.Validate();
        var compared = new BackboneComparison(_ml).Compare(options, choice, progress, cancel);
        var decision = BackboneComparison.Choose(compared.Report.Backbones, choice.MaxLatencyMilliseconds, choice.MaxModelMegabytes);
        var report = compared.Report with { Choice = decision };

        TransferLearningResult winner;
        if (options.Strategy == TransferLearningOptions.FeatureExtractor)
            winner = compared.Results[decision.Winner];
        else
        {
            var chosen = options.Copy();
            chosen.Backbone = decision.Winner;
            if (options.Strategy == TransferLearningOptions.AutoStrategy)
                chosen.Budget = options.Budget - clock.Elapsed > TimeSpan.FromSeconds(1) ? options.Budget - clock.Elapsed : TimeSpan.FromSeconds(1);
            winner = Train(chosen, progress, cancel);
        }
        return new TransferLearningResult(_ml, winner.Model, winner.Metadata, winner.Report with
        {
            BackboneComparison = report,
            Timings = winner.Report.Timings with { TotalSeconds = clock.Elapsed.TotalSeconds },
        }, winner.HeldOut);
    }

    /// <summary>One strategy's run on data already loaded (the backbone comparison loads the images once for every backbone).</summary>
    internal TransferLearningResult TrainOnLoaded(TransferLearningOptions options, ImageDataset dataset, double loadSeconds,
        IProgress<TrainingProgress>? progress, CancellationToken cancel)
    {
        options.Head.Validate();
        var run = new RunContext { Options = options, Progress = progress, Cancel = cancel, Dataset = dataset, LoadSeconds = loadSeconds };
        progress?.Report(new TrainingProgress(TrainingProgress.Preparing, 0, 0, $"Preparing backbone {options.Backbone}"));
        run.Resolved = BackboneResolver.Resolve(options.Backbone, new BackboneResolveOptions { Mirrors = options.Mirrors, EmbeddingTensor = options.EmbeddingTensor });
        return options.Strategy switch
        {
            TransferLearningOptions.FeatureExtractor => TrainFeatureExtractor(run),
            TransferLearningOptions.AutoStrategy => TrainAuto(run),
            _ => TrainFineTuned(run),
        };
    }
}
