using MlNetTransfer.Data;
using MlNetTransfer.FineTuning;
using TorchSharp;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>A fine-tuning run paused between epochs and resumed trains exactly as one that never paused: weights, batch-norm
/// statistics, optimizer state, schedule position, early stopping and libtorch's random generator all carry over.</summary>
[Collection(ExactTrainingCollection.Name)]
public sealed class FineTuneSessionTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private static OnnxTorchModule Module(FineTuneOptions options) => FineTuningTrainer.CreateModule(FineTuneFixture.Prepared(), 3, options);

    /// <summary>Augmented images, dropout, a warm-up phase, a cosine schedule and early stopping: every piece of state in play.</summary>
    private static FineTuneOptions Options()
    {
        var options = FineTuneFixture.Options(epochs: 6);
        options.Augmentation.Enabled = true;
        options.HeadWarmupEpochs = 2;
        options.HeadDropout = 0.3f;
        options.EarlyStoppingCriteria = new EarlyStopping { Patience = 2, StartFromEpoch = 1, Metric = EarlyStoppingMetric.Loss };
        return options;
    }

    private (Dictionary<string, float[]> Weights, FineTuneRun Run) Uninterrupted(FineTuneOptions options)
    {
        using var module = Module(options);
        var run = new FineTuner(options).Train(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        return (FineTuneFixture.Snapshot(module), run);
    }

    [Fact]
    public void AResumedRunEqualsAnUninterruptedOne()
    {
        var options = Options();
        var (expected, expectedRun) = Uninterrupted(options);
        Assert.True(expectedRun.Epochs.Count(e => e.Phase == "fine-tune") >= 3, "the run must last past the pauses for the comparison to mean anything");

        using var module = Module(options);
        using var session = new FineTuner(options).Start(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        // The first call trains the head warm-up whole, then one fine-tuning epoch.
        Assert.Equal(1, session.Advance(1));
        Assert.Equal(["head", "head", "fine-tune"], session.Run.Epochs.Select(e => e.Phase));
        Assert.False(session.IsFinished);

        // Another run in between moves libtorch's generator (dropout) and the process's thread settings.
        var other = FineTuneFixture.Options(epochs: 2);
        other.Seed = 99;
        other.HeadDropout = 0.5f;
        using (var otherModule = Module(other))
        using (var otherSession = new FineTuner(other).Start(otherModule, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation))
            otherSession.Advance(1);

        session.Advance(2);
        session.Advance(null);
        var run = session.Finish();
        Assert.True(session.IsFinished);

        Assert.Equal(expectedRun.Epochs.Select(e => (e.Phase, e.TrainLoss, e.ValidationLoss, e.LearningRate)), run.Epochs.Select(e => (e.Phase, e.TrainLoss, e.ValidationLoss, e.LearningRate)));
        Assert.Equal((expectedRun.BestEpoch, expectedRun.StoppedEarly), (run.BestEpoch, run.StoppedEarly));
        var weights = FineTuneFixture.Snapshot(module);
        foreach (var (name, values) in expected) Assert.Equal(values, weights[name]);
    }

    [Fact]
    public void WithoutEarlyStoppingARunTrainsToTheEndAndStillKeepsItsBestEpoch()
    {
        var options = FineTuneFixture.Options(epochs: 4);
        // No epoch beats the first by 100 in loss, so patience 1 ends the phase after its second epoch.
        options.EarlyStoppingCriteria = new EarlyStopping { Patience = 1, StartFromEpoch = 0, MinDelta = 100, Metric = EarlyStoppingMetric.Loss };
        FineTuneRun Train(bool stopsEarly)
        {
            using var module = Module(options);
            using var session = new FineTuner(options).Start(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
            session.StopsEarly = stopsEarly;
            session.Advance(null);
            return session.Finish();
        }
        var patient = Train(stopsEarly: true);
        Assert.Equal((2, true, 1), (patient.Epochs.Count, patient.StoppedEarly, patient.BestEpoch));
        var toEnd = Train(stopsEarly: false);
        Assert.Equal((4, false, 1), (toEnd.Epochs.Count, toEnd.StoppedEarly, toEnd.BestEpoch));
        Assert.Equal(patient.Epochs.Select(e => e.TrainLoss), toEnd.Epochs.Take(2).Select(e => e.TrainLoss));
    }

    [Fact]
    public void ReplanShortensTheRunAfterEachEpochButTheFirstOfAnAdvance()
    {
        var options = FineTuneFixture.Options(epochs: 6);
        var (_, planned4) = Uninterrupted(FineTuneFixture.Options(epochs: 4));
        using var module = Module(options);
        using var session = new FineTuner(options).Start(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        var calls = new List<(int Done, double Seconds)>();
        session.Replan = (done, seconds) =>
        {
            calls.Add((done, seconds));
            return 4;
        };
        session.Advance(1);
        Assert.Empty(calls); // the first epoch of a call decodes the images again: its time says little about the next
        Assert.Equal(3, session.Advance(null)); // epoch 2 (first of the call), 3 (replanned to 4), 4: the end
        Assert.Equal([3, 4], calls.Select(c => c.Done));
        Assert.All(calls, c => Assert.True(c.Seconds > 0));
        Assert.True(session.IsFinished);
        var run = session.Finish();
        Assert.Equal(4, run.Epochs.Count);
        // Shortened in time, so the rate anneals: the last epoch's rate is where a 4-epoch schedule ends.
        Assert.Equal(planned4.Epochs.Last().LearningRate, run.Epochs.Last().LearningRate);
    }

    [Fact]
    public void AdvanceCountsOnlyFineTuningEpochsAndStopsAtTheEndOfTheRun()
    {
        var options = FineTuneFixture.Options(epochs: 3);
        options.HeadWarmupEpochs = 2;
        using var module = Module(options);
        using var session = new FineTuner(options).Start(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        Assert.Equal(0, session.Advance(0));
        Assert.Equal(2, session.Run.Epochs.Count); // the head phase runs whole even when no fine-tuning epoch is asked for
        Assert.Equal(2, session.Advance(2));
        Assert.Equal(2, session.FineTuningEpochs);
        Assert.Equal(1, session.Advance(5));       // only one epoch was left
        Assert.True(session.IsFinished);
        Assert.Equal(0, session.Advance(1));
        Assert.Equal(5, session.Finish().Epochs.Count);
    }

    [Fact]
    public void AShortenedRunEndsItsScheduleAtTheNewLengthAndNeverGrows()
    {
        FineTuneOptions Settings(int epochs)
        {
            var options = FineTuneFixture.Options(epochs);
            options.HeadWarmupEpochs = 1;
            options.EarlyStoppingCriteria = null;
            return options;
        }
        var (_, planned3) = Uninterrupted(Settings(3));
        var (_, planned6) = Uninterrupted(Settings(6));

        var options = Settings(6);
        using var module = Module(options);
        using var session = new FineTuner(options).Start(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        session.Advance(1);
        Assert.Equal(3, session.Shorten(3));
        Assert.Equal(3, session.Shorten(10)); // never lengthened
        Assert.Equal(2, session.Advance(null));
        Assert.True(session.IsFinished);
        var run = session.Finish();
        var rates = run.Epochs.Where(e => e.Phase != FineTunePhase.HeadPhase).Select(e => e.LearningRate).ToList();
        // The first epoch ran on the 6-epoch schedule; the last step is where a 3-epoch schedule ends, so the rate annealed.
        Assert.Equal(planned6.Epochs.First(e => e.Phase != FineTunePhase.HeadPhase).LearningRate, rates[0]);
        Assert.Equal(planned3.Epochs.Last().LearningRate, rates[^1]);
        Assert.True(rates[^1] < planned6.Epochs.Where(e => e.Phase != FineTunePhase.HeadPhase).ElementAt(2).LearningRate);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AHeadPhaseGivenTheEmbeddingsTrainsAsOneThatComputedThem(bool probe)
    {
        FineTuneOptions Settings()
        {
            var options = FineTuneFixture.Options(epochs: 1);
            options.HeadWarmupEpochs = 2;
            options.EarlyStoppingCriteria = null;
            options.LinearProbe = probe ? new MlNetTransfer.Heads.HeadOptions() : null;
            return options;
        }
        var (_, expected) = Uninterrupted(Settings());

        // What a featurization hands over: each image's embedding from the frozen network, plain view, in order.
        float[][] Embed(IReadOnlyList<ImageExample> images)
        {
            using var module = Module(Settings());
            module.eval();
            var split = module.SplitBefore(module.ParameterGroups.Single(g => g.IsHead).Index);
            var reader = FineTuneFixture.Reader;
            var bytes = new byte[reader.Length];
            return images.Select(e =>
            {
                reader.Read(e.Path, bytes);
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                var x = torch.tensor(bytes.Select(b => (float)b).ToArray(), [1, 3, reader.Height, reader.Width]);
                return module.ForwardPrefix(x, split)[split.Tensors.Single()].flatten(1).data<float>().ToArray();
            }).ToArray();
        }
        FineTuneRun Given(IReadOnlyList<float[]> train, IReadOnlyList<float[]> validation)
        {
            var options = Settings();
            options.HeadInputs = (train, validation);
            using var module = Module(options);
            return new FineTuner(options).Train(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        }
        static IEnumerable<(double, double)> Head(FineTuneRun run) =>
            run.Epochs.Where(e => e.Phase == FineTunePhase.HeadPhase).Select(e => (Math.Round(e.TrainLoss, 4), Math.Round(e.ValidationLoss, 4)));

        var (train, validation) = (Embed(data.Train), Embed(data.Validation));
        var given = Given(train, validation);
        Assert.Equal(Head(expected), Head(given));
        Assert.Equal(expected.Epochs.Count, given.Epochs.Count);
        // They are what the head phase used: other values give another head phase.
        var zeros = Given(train.Select(r => new float[r.Length]).ToArray(), validation.Select(r => new float[r.Length]).ToArray());
        Assert.NotEqual(Head(expected), Head(zeros));
        // Rows that do not fit this head (another width) are ignored.
        Assert.Equal(Head(expected), Head(Given(train.Select(r => r[1..]).ToArray(), validation.Select(r => r[1..]).ToArray())));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ARunStartedFromAnotherRunsHeadPhaseEqualsOneThatTrainedItsOwn(bool probe)
    {
        FineTuneOptions Settings(double freeze, float rate)
        {
            var options = Options();
            options.FreezeFraction = freeze;
            options.LearningRate = rate;
            options.LinearProbe = probe ? new MlNetTransfer.Heads.HeadOptions() : null;
            return options;
        }
        var (expected, expectedRun) = Uninterrupted(Settings(0, 0.004f));

        // The donor fine-tunes at another depth and rate; only its head phase is shared.
        var donorOptions = Settings(0.5, 0.01f);
        using var donorModule = Module(donorOptions);
        using var donor = new FineTuner(donorOptions).Start(donorModule, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        donor.KeepHeadStart = true;
        donor.Advance(2);
        var snapshot = donor.HeadStart!;
        Assert.Equal(probe ? 1 : 2, snapshot.Epochs.Count);

        var options = Settings(0, 0.004f);
        using var module = Module(options);
        using var session = new FineTuner(options).Start(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        session.StartFrom(snapshot);
        session.Advance(null);
        var run = session.Finish();
        Assert.Equal(expectedRun.Epochs.Select(e => (e.Phase, e.TrainLoss, e.ValidationLoss)), run.Epochs.Select(e => (e.Phase, e.TrainLoss, e.ValidationLoss)));
        var weights = FineTuneFixture.Snapshot(module);
        foreach (var (name, values) in expected) Assert.Equal(values, weights[name]);

        // Other head settings are refused.
        var other = Settings(0, 0.004f);
        other.HeadDropout = 0.1f;
        using var otherModule = Module(other);
        using var otherSession = new FineTuner(other).Start(otherModule, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        Assert.Throws<InvalidOperationException>(() => otherSession.StartFrom(snapshot));
    }
}
