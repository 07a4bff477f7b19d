using MlNetTransfer.FineTuning;
using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;

namespace MlNetTransfer.Tests.Reporting;

public class WinnerMarginTests
{
    private static LeaderboardEntry Row(string candidate, string strategy, double? score, double seconds = 10) =>
        new() { Candidate = candidate, Strategy = strategy, Score = score, WallSeconds = seconds };

    [Fact]
    public void A_head_one_image_ahead_of_the_network_on_a_small_split_is_within_the_noise()
    {
        // hds_shapes' three-way split: 120 validation images, the L-BFGS head 113 right, the fine-tuned network 112.
        var head = Row("feature-extractor/lbfgs", "feature-extractor", 113 / 120.0);
        var rows = new[]
        {
            head,
            Row("feature-extractor/sdca", "feature-extractor", 112 / 120.0),
            Row("fine-tune-earlier/freeze-42/random", "fine-tune-earlier", 112 / 120.0, seconds: 150),
            Row("fine-tune-earlier/freeze-50/probe", "fine-tune-earlier", 104 / 120.0),
            Row("from-scratch", "from-scratch", 119 / 120.0), // never the comparison: not a way to reuse the network
        };
        var margin = WinnerMargin.Measure(head, rows, 120)!;

        Assert.Equal("fine-tune-earlier/freeze-42/random", margin.RunnerUp);
        Assert.Equal(112 / 120.0, margin.RunnerUpScore);
        Assert.Equal(1, margin.ImagesAhead);
        Assert.Equal(Math.Sqrt(120 * (113 / 120.0) * (7 / 120.0)), margin.StandardErrorImages, 9); // 2.56 images
        Assert.True(margin.WithinNoise);
        Assert.Contains("1 validation image ahead of the best fine-tuned network, fine-tune-earlier/freeze-42/random (0.933), of 120", margin.Description);
        Assert.Contains("cannot tell them apart", margin.Description);
    }

    [Fact]
    public void A_network_five_images_ahead_on_240_is_beyond_one_standard_error()
    {
        var network = Row("fine-tune-earlier/freeze-42/random", "fine-tune-earlier", 225 / 240.0);
        var rows = new[]
        {
            network,
            Row("feature-extractor/svm", "feature-extractor", 220 / 240.0, seconds: 13),
            Row("feature-extractor/lbfgs", "feature-extractor", 220 / 240.0, seconds: 7), // the same score in less time ranks first
            Row("feature-extractor/lightgbm", "feature-extractor", null),
        };
        var margin = WinnerMargin.Measure(network, rows, 240)!;

        Assert.Equal("feature-extractor/lbfgs", margin.RunnerUp);
        Assert.Equal(5, margin.ImagesAhead);
        Assert.False(margin.WithinNoise); // √(240 · 0.9375 · 0.0625) = 3.75 images
        Assert.Contains("ahead of the best head on frozen features", margin.Description);
        Assert.DoesNotContain("cannot tell", margin.Description);
    }

    [Fact]
    public void A_level_pair_is_reported_level_and_one_kind_alone_has_no_margin()
    {
        var head = Row("feature-extractor/sdca", "feature-extractor", 148 / 153.0);
        var level = WinnerMargin.Measure(head, [head, Row("fine-tune-top/freeze-80/probe", "fine-tune-top", 148 / 153.0)], 153)!;
        Assert.Equal(0, level.ImagesAhead);
        Assert.True(level.WithinNoise);
        Assert.Contains("is level with the best fine-tuned network", level.Description);

        Assert.Null(WinnerMargin.Measure(head, [head, Row("feature-extractor/svm", "feature-extractor", 0.9), Row("from-scratch", "from-scratch", 0.5)], 153));
        Assert.Null(WinnerMargin.Measure(head, [head, Row("fine-tune-top/freeze-70", "fine-tune-top", null)], 153));
        Assert.Null(WinnerMargin.Measure(head, [head, Row("fine-tune-top/freeze-70", "fine-tune-top", 0.9)], 0));
    }

    [Fact]
    public void A_tie_on_accuracy_goes_to_the_lower_validation_log_loss_before_the_faster_row()
    {
        // hds_shapes' three-way split, auto with --final-epochs 8: the L-BFGS head and the network it fine-tuned for 9 epochs
        // both classified 113 of 120 right; the head's log-loss was 0.315, the network's 0.235.
        var head = Row("feature-extractor/lbfgs", "feature-extractor", 113 / 120.0, seconds: 3) with { LogLoss = 0.315 };
        var network = Row("fine-tune-earlier/freeze-42/random", "fine-tune-earlier", 113 / 120.0, seconds: 109) with { LogLoss = 0.235 };
        var unmeasured = Row("feature-extractor/svm", "feature-extractor", 113 / 120.0, seconds: 1);

        Assert.True(SearchReportBuilder.Better(network, head));
        Assert.False(SearchReportBuilder.Better(head, network));
        Assert.True(SearchReportBuilder.Better(head, unmeasured)); // a measured loss beats none
        Assert.True(SearchReportBuilder.Better(Row("feature-extractor/sdca", "feature-extractor", 114 / 120.0) with { LogLoss = 0.9 }, network)); // accuracy first
        Assert.True(SearchReportBuilder.Better(head, head with { WallSeconds = 4 })); // same loss: the faster
        // A row that did not finish (no score) ranks below every scored one, whichever is compared first.
        var unfinished = Row("fine-tune-top/freeze-70/random", "fine-tune-top", null, seconds: 1) with { LogLoss = 0.01 };
        Assert.True(SearchReportBuilder.Better(head, unfinished));
        Assert.False(SearchReportBuilder.Better(unfinished, head));
        Assert.True(new SearchReportBuilder { RankByMacroF1 = true }.Outranks(head with { MacroF1 = 0.5 }, unfinished));
        Assert.False(new SearchReportBuilder { RankByMacroF1 = true }.Outranks(unfinished, head with { MacroF1 = 0.5 }));
        // hymenoptera: a probe-start network whose best epoch is its probe reproduces the sdca head up to float rounding.
        var sdca = Row("feature-extractor/sdca", "feature-extractor", 148 / 153.0, seconds: 2) with { LogLoss = 0.08938 };
        var probeNetwork = Row("fine-tune-top/freeze-70/probe", "fine-tune-top", 148 / 153.0, seconds: 60) with { LogLoss = 0.08925 };
        Assert.True(SearchReportBuilder.Better(sdca, probeNetwork));
        Assert.DoesNotContain("The tie went", WinnerMargin.Measure(sdca, [sdca, probeNetwork], 153)!.Description);
        Assert.Equal(["fine-tune-earlier/freeze-42/random", "feature-extractor/lbfgs", "feature-extractor/svm"],
            new Leaderboard { Entries = [unmeasured, head, network] }.Ranked().Select(e => e.Candidate));
        Assert.True(new SearchReportBuilder { RankByMacroF1 = true }.Outranks(network with { MacroF1 = 0.94 }, head with { MacroF1 = 0.94 }));

        var margin = WinnerMargin.Measure(network, [head, network, unmeasured], 120)!;
        Assert.Equal("feature-extractor/lbfgs", margin.RunnerUp);
        Assert.Equal(0, margin.ImagesAhead);
        Assert.Contains("is level with the best head on frozen features, feature-extractor/lbfgs (0.942)", margin.Description);
        Assert.Contains("The tie went to the lower validation log-loss (0.235 against 0.315).", margin.Description);
    }
    [Fact]
    public void A_network_whose_best_epoch_is_still_its_head_start_does_not_stand_for_the_fine_tuned_networks()
    {
        // hymenoptera under auto: every probe start kept the probe's 0.967 through rung 1, a random start reached 0.954.
        static EpochReport Epoch(int n, string phase, bool best) => new() { Epoch = n, Phase = phase, Best = best };
        var builder = new SearchReportBuilder();
        var probe = builder.Add(AutoCandidate.ForFineTuning(0.7, HeadStart.Probe, 3e-4f), 1, 148 / 153.0, null, 60, CandidateStatus.Promoted, null,
            [Epoch(1, FineTunePhase.HeadPhase, true), Epoch(2, "fine-tune", false)], 0.0893);
        var random = builder.Add(AutoCandidate.ForFineTuning(0.7, HeadStart.Random, 3e-4f), 1, 146 / 153.0, null, 70, CandidateStatus.Eliminated, null,
            [Epoch(1, FineTunePhase.HeadPhase, true), Epoch(2, "fine-tune", true)], 0.12);
        var headOnly = builder.Add(AutoCandidate.ForFineTuning(0.7, HeadStart.Probe, 3e-4f), 1, 148 / 153.0, null, 5, CandidateStatus.Promoted, null,
            [Epoch(1, FineTunePhase.HeadPhase, true)], 0.0893);
        Assert.True(probe.BestAtHeadStart);
        Assert.False(random.BestAtHeadStart);
        Assert.False(headOnly.BestAtHeadStart); // no pretrained layer trained yet: nothing to tell
        var sdca = Row("feature-extractor/sdca", "feature-extractor", 148 / 153.0, seconds: 2) with { LogLoss = 0.0894 };

        var margin = WinnerMargin.Measure(sdca, [sdca, probe, random], 153)!;
        Assert.Equal(random.Candidate, margin.RunnerUp);
        Assert.Equal(2, margin.ImagesAhead);
        Assert.DoesNotContain("still its head start", margin.Description);

        // With no other network, the one at its head start is compared, and the description says what it is.
        var alone = WinnerMargin.Measure(sdca, [sdca, probe], 153)!;
        Assert.Equal(probe.Candidate, alone.RunnerUp);
        Assert.Contains($"{probe.Candidate}'s best epoch is still its head start: fine-tuning did not improve on it.", alone.Description);
    }
}
