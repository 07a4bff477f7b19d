using MlNetTransfer.FineTuning;
using MlNetTransfer.Reporting;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>The check that keeps fine-tuning off channels-last kernels which compute other values than NCHW ones (seen on an
/// AVX-512 machine: an image's logits changed with the batch it came in), and the fallback it triggers.</summary>
[Collection(ExactTrainingCollection.Name)]
public sealed class ChannelsLastCheckTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    [Fact]
    public void A_network_whose_outputs_depend_on_the_batch_fails_and_one_whose_do_not_passes()
    {
        // Each image alone: its own mean pixel, twice. The faulty one adds the batch's mean, as a kernel mixing images would.
        static Tensor PerImage(Tensor x) => x.mean([1, 2, 3]).unsqueeze(1) * 2;
        static Tensor Mixing(Tensor x) => x.mean([1, 2, 3]).unsqueeze(1) + x.mean();

        Assert.Null(ChannelsLastCheck.Failure(PerImage, 8, 8));
        var failure = ChannelsLastCheck.Failure(Mixing, 8, 8);
        Assert.NotNull(failure);
        Assert.Contains("keeps NCHW order", failure);
        Assert.Contains("largest difference", failure);
        // Float rounding between kernels is not a failure: a relative 1e-5 change passes.
        Assert.Null(ChannelsLastCheck.Failure(x => PerImage(x) * (1 + 1e-5f * (x.shape[0] - 1)), 8, 8));
    }

    [Fact]
    public void The_real_check_builds_the_order_its_verdict_allows_and_a_failing_one_leaves_the_module_in_NCHW_order_with_the_reason()
    {
        var prepared = FineTuneFixture.Prepared();
        var options = new FineTuneOptions { Seed = 5, Epoch = 1, HeadWarmupEpochs = 0, BatchSize = 8 };
        // The real check on the real module. Its verdict belongs to the machine's kernels (with scripts/test.sh's oneDNN
        // setting it passed on every machine here, but a test cannot know the CPU it gets), so what is asserted is that the
        // module is built in the order the verdict allows, that a failure says why, and that the next module gets the same verdict.
        bool? firstOrder = null;
        foreach (var _ in Enumerable.Range(0, 2))
        {
            using var real = FineTuningTrainer.CreateModule(prepared, 3, options);
            var convWeight = real.ParameterGroups.First(g => g.OpType == "Conv").Parameters[0];
            Assert.Equal(real.ChannelsLast, convWeight.stride(1) == 1);
            if (real.ChannelsLast) Assert.Null(real.ChannelsLastFallback);
            else Assert.Contains("keeps NCHW order", real.ChannelsLastFallback);
            Assert.Equal(firstOrder ?? real.ChannelsLast, real.ChannelsLast);
            firstOrder = real.ChannelsLast;
        }

        bool? evalDuringCheck = null;
        using var module = FineTuningTrainer.CreateModule(prepared, 3, options, m =>
        {
            evalDuringCheck = !m.training;
            return "kernels differ here";
        });
        Assert.True(evalDuringCheck); // head dropout off while checking, or the two forwards could never agree
        Assert.False(module.ChannelsLast);
        Assert.NotEqual(1, module.ParameterGroups.First(g => g.OpType == "Conv").Parameters[0].stride(1)); // NCHW: the channel stride is not 1
        Assert.Equal("kernels differ here", module.ChannelsLastFallback);

        // The run and the report say so.
        var run = new FineTuner(options).Train(module, FineTuneFixture.Reader, data.Classes, data.Train, data.Validation);
        Assert.Equal("kernels differ here", run.ChannelsLastFallback);
        var report = TrainingReportBuilder.FineTune(options, run, "sha");
        Assert.False(report.ChannelsLast);
        Assert.Equal("kernels differ here", report.ChannelsLastFallback);

        // A failure already measured for this network builds it in NCHW order straight away, without checking again.
        using (var known = FineTuningTrainer.CreateModule(prepared, 3, options, _ => throw new InvalidOperationException("checked again"), knownFailure: "measured before"))
        {
            Assert.False(known.ChannelsLast);
            Assert.Equal("measured before", known.ChannelsLastFallback);
        }

        // Not asked for channels-last order: nothing to check.
        var checkedNchw = false;
        using var nchw = FineTuningTrainer.CreateModule(prepared, 3, new FineTuneOptions { ChannelsLast = false }, _ => { checkedNchw = true; return "x"; });
        Assert.False(checkedNchw);
        Assert.Null(nchw.ChannelsLastFallback);
    }
}
