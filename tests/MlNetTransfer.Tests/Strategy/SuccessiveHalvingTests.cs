using Microsoft.Extensions.Time.Testing;
using MlNetTransfer.Reporting;
using MlNetTransfer.Strategy;

namespace MlNetTransfer.Tests.Strategy;

/// <summary>The successive-halving schedule on a fake clock with scripted runs: who advances, each rung's epochs, the plan
/// the budget allows, and where the budget stops it.</summary>
public sealed class SuccessiveHalvingTests
{
    /// <summary>A run whose every epoch costs <paramref name="epochSeconds"/> on the fake clock (the first of each
    /// <see cref="Advance"/> <paramref name="coldSeconds"/> more, as decoding the images again does) and whose score is fixed: the
    /// epoch it keeps scores <paramref name="score"/>, its latest <paramref name="latest"/> (the same unless given).</summary>
    private sealed class ScriptedRun(FakeTimeProvider clock, double score, double epochSeconds, int planned, List<string> log, string name,
        double startSeconds = 0, int stopsAfter = int.MaxValue, double? latest = null, double coldSeconds = 0) : IHalvingRun
    {
        // stopsAfter: early stopping ends it after that many epochs, unless it was told to train to the end.
        private int _planned = planned;
        private Func<int, double, int>? _endAt;
        private double _seconds, _fastest = double.PositiveInfinity;
        private int Limit => _endAt is not null ? _planned : Math.Min(_planned, stopsAfter);
        public bool IsFinished => Epochs >= Limit;
        public bool Cancelled => false;
        public int Epochs { get; private set; }
        public double? Score => Epochs > 0 ? score : null;
        public double? Loss => Epochs > 0 ? 1 - score : null;
        public double? LatestScore => Epochs > 0 ? latest ?? score : null;
        public double? LatestLoss => Epochs > 0 ? 1 - (latest ?? score) : null;
        public double? EpochSeconds => Epochs > 0 ? _seconds / Epochs : null;
        public bool Disposed { get; private set; }

        public void Advance(int epochs, CancellationToken cancel)
        {
            if (Epochs == 0) clock.Advance(TimeSpan.FromSeconds(startSeconds));
            var before = Epochs;
            for (var i = 0; i < epochs && Epochs < Limit; i++)
            {
                var took = epochSeconds + (i == 0 ? coldSeconds : 0);
                clock.Advance(TimeSpan.FromSeconds(took));
                (_seconds, _fastest, Epochs) = (_seconds + took, Math.Min(_fastest, took), Epochs + 1);
                if (_endAt is null || i == 0) continue;
                var end = Math.Clamp(_endAt(Epochs, _fastest), Math.Max(1, Epochs), _planned);
                if (end != _planned) log.Add($"{name} replanned {_planned = end}");
            }
            log.Add($"{name}+{Epochs - before}");
        }

        public void TrainToEnd(Func<int, double, int> endAt) => _endAt = endAt;
        public bool TrainsToEnd => _endAt is not null;

        public void Dispose() => Disposed = true;
    }

    private static readonly AutoSearchOptions Options = new() { HalvingRate = 3, RungEpochs = 1, MinimumFinalEpochs = 5 };

    /// <summary>Nine candidates at freeze 1 (so the estimator's epoch time is its forward time, seeded to 10 s); candidate i scores i/10.</summary>
    private static IReadOnlyList<AutoCandidate> Grid(int n = 9) =>
        Enumerable.Range(0, n).Select(i => AutoCandidate.ForFineTuning(1, HeadStart.Random, 1e-4f * (i + 1))).ToList();

    private static (SuccessiveHalving Halving, FakeTimeProvider Clock, TrainingBudget Budget) Setup(double budgetSeconds, bool mustStart = false,
        AutoSearchOptions? options = null)
    {
        var clock = new FakeTimeProvider();
        var budget = new TrainingBudget(TimeSpan.FromSeconds(budgetSeconds), clock);
        var epochs = new EpochTimeEstimator();
        epochs.SeedFromThroughput(100, 10); // 10 s an epoch
        return (new SuccessiveHalving(options ?? Options, budget, epochs, startSeconds: 0, reserveSeconds: 0, mustStart), clock, budget);
    }

    [Fact]
    public void TheBestThirdAdvanceWithThreeTimesTheEpochsAndTheLastOneTrainsToThePlannedEpochs()
    {
        var (halving, clock, budget) = Setup(210);
        var grid = Grid();
        var plan = halving.Plan(grid, maxEpochs: 9);
        // 9 x 1 + 3 x 2 + 1 x 6 epochs of 10 s = 210 s: all nine fit, planned over the full 9 epochs, nothing to spare.
        Assert.Equal(9, plan.Candidates);
        Assert.Equal(9, plan.PlannedEpochs);
        var log = new List<string>();
        var (rows, runs) = halving.Run(grid, plan, c => new ScriptedRun(clock, grid.ToList().IndexOf(c) / 10.0, 10, plan.PlannedEpochs, log, $"c{grid.ToList().IndexOf(c)}"));

        // Rung 1: everyone one epoch; candidates 6, 7, 8 (the best) promoted.
        var rung1 = rows.Where(r => r.Rung == 1).ToList();
        Assert.Equal(9, rung1.Count);
        Assert.All(rung1, r => Assert.Equal(1, r.Epochs));
        Assert.Equal(grid.Skip(6), rung1.Where(r => r.Status == CandidateStatus.Promoted).Select(r => r.Candidate).OrderBy(c => grid.ToList().IndexOf(c)));
        Assert.Equal(6, rung1.Count(r => r.Status == CandidateStatus.Eliminated));
        // Rung 2: those three to 3 epochs (each ran 2 more, resuming); only candidate 8 goes on.
        var rung2 = rows.Where(r => r.Rung == 2).ToList();
        Assert.Equal(grid.Skip(6), rung2.Select(r => r.Candidate).OrderBy(c => grid.ToList().IndexOf(c)));
        Assert.All(rung2, r => Assert.Equal(3, r.Epochs));
        Assert.Equal(grid[8], Assert.Single(rung2, r => r.Status == CandidateStatus.Promoted).Candidate);
        // Rung 3: the last one left trains to the planned 9 epochs and completes.
        var rung3 = Assert.Single(rows, r => r.Rung == 3);
        Assert.Equal((grid[8], 9, CandidateStatus.Completed), (rung3.Candidate, rung3.Epochs, rung3.Status));
        Assert.DoesNotContain(rows, r => r.Rung > 3);
        // Every advance, in order: rung 1 one epoch each, rung 2 two more for each survivor, rung 3 six more for the last.
        // Later rungs run best first, so a budget that runs short goes to the best.
        Assert.Equal(Enumerable.Range(0, 9).Select(i => $"c{i}+1").Concat(["c8+2", "c7+2", "c6+2", "c8+6"]), log);
        Assert.Equal(grid[8], SuccessiveHalving.Best(grid, runs));
        // Seconds are each candidate's own time through the rung: 1 + 2 + 6 epochs of 10 s for the winner.
        Assert.Equal(90, rung3.Seconds, 6);
        Assert.Equal(210, budget.Elapsed.TotalSeconds, 6);
    }

    [Fact]
    public void RunsGoOnByTheirLatestEpochNotTheHeadStartTheyShare()
    {
        var (halving, clock, _) = Setup(1000);
        var grid = Grid(3);
        var plan = halving.Plan(grid, maxEpochs: 6);
        Assert.Equal(3, plan.Candidates);
        // Each keeps 0.9 (the probe they start from, before fine-tuning); after their first epoch candidate 1 validates best,
        // candidate 0 worst. By the kept epoch all three tie and the grid's order would send candidate 0 on.
        double[] latest = [0.80, 0.88, 0.85];
        var log = new List<string>();
        var (rows, runs) = halving.Run(grid, plan, c => new ScriptedRun(clock, 0.9, 10, plan.PlannedEpochs, log, c.Name, latest: latest[grid.ToList().IndexOf(c)]));

        var rung1 = rows.Where(r => r.Rung == 1).ToList();
        Assert.Equal(grid[1], Assert.Single(rung1, r => r.Status == CandidateStatus.Promoted).Candidate);
        Assert.Contains("this one's: 0.800", rung1.Single(r => r.Candidate == grid[0]).Note);
        Assert.Equal(grid[1], Assert.Single(rows, r => r.Rung == 2).Candidate);
        Assert.Equal(grid[1].Name + "+5", log[3]);
    }

    [Fact]
    public void TheBudgetDecidesHowManyEnterAndThePlannedEpochs()
    {
        var (halving, _, _) = Setup(100);
        var plan = halving.Plan(Grid(), maxEpochs: 20);
        // Four or more would need at least 1 + 2x2 + 6 epochs beyond rung 1 (140 s); three need 3 + 1 x (P - 1) epochs: P = 8 fits 100 s.
        Assert.Equal(3, plan.Candidates);
        Assert.Equal(8, plan.PlannedEpochs);
        Assert.Equal(100, halving.Cost(3, 8, 1, 3, 10), 6);
        Assert.Equal(9, SuccessiveHalving.EpochsAtSingleSurvivor(9, 1, 3));
        Assert.Equal(3, SuccessiveHalving.EpochsAtSingleSurvivor(3, 1, 3));
        Assert.Equal(1, SuccessiveHalving.EpochsAtSingleSurvivor(1, 1, 3));
        Assert.Equal(4, SuccessiveHalving.EpochsAtSingleSurvivor(4, 1, 2));

        // Not even one first rung fits, and the heads already gave a model: nobody starts.
        var (tiny, clock, _) = Setup(5);
        var none = tiny.Plan(Grid(), maxEpochs: 20);
        Assert.Equal(0, none.Candidates);
        var (rows, runs) = tiny.Run(Grid(), none, _ => throw new InvalidOperationException("must not start"));
        Assert.Empty(runs);
        Assert.All(rows, r => Assert.Equal((1, CandidateStatus.Skipped), (r.Rung, r.Status)));
        // Without a model, the first candidate starts whatever the estimate says.
        var (forced, forcedClock, _) = Setup(5, mustStart: true);
        var one = forced.Plan(Grid(), maxEpochs: 20);
        Assert.Equal(1, one.Candidates);
        var log = new List<string>();
        var (forcedRows, _) = forced.Run(Grid(), one, c => new ScriptedRun(forcedClock, 0.5, 10, one.PlannedEpochs, log, c.Name));
        Assert.Single(log);
        Assert.Contains(forcedRows, r => r.Rung == 1 && r.Score == 0.5);
    }

    [Fact]
    public void RungOneTakesNoMoreOnceTheMeasuredEpochTimeLeavesTheLastOneTooFewAndTheLastOnesScheduleEndsWithTheBudget()
    {
        var (halving, clock, budget) = Setup(100);
        var grid = Grid();
        var plan = halving.Plan(grid, maxEpochs: 20);
        // Planned at 10 s an epoch: three enter (1 epoch each, the last one 5 more at least), schedules over 8 epochs.
        Assert.Equal((3, 8), (plan.Candidates, plan.PlannedEpochs));
        var log = new List<string>();
        // Epochs take 20 s, not 10: after the first candidate's epoch (20 s), a second (20 s) would leave the last one left
        // 60 s, 3 epochs, fewer than the 5 it must get; so rung 1 closes. The one run goes on with the 80 s left: after its
        // second epoch there its schedule is shortened from 8 to the 5 it reaches, so its learning rate still anneals.
        var (rows, runs) = halving.Run(grid, plan, c => new ScriptedRun(clock, grid.ToList().IndexOf(c) / 10.0, 20, plan.PlannedEpochs, log, c.Name));
        Assert.Equal([grid[0].Name + "+1", grid[0].Name + " replanned 5", grid[0].Name + "+4"], log);
        Assert.All(rows.Where(r => r.Rung == 1 && (r.Candidate == grid[1] || r.Candidate == grid[2])),
            r => Assert.Contains("fewer than 5 epochs", r.Note));
        var last = Assert.Single(rows, r => r.Rung == 2);
        Assert.Equal((grid[0], 5, CandidateStatus.Completed), (last.Candidate, last.Epochs, last.Status));
        Assert.Contains("shortened to 5 of the planned 8", last.Note);
        Assert.Equal(8, rows.Count(r => r.Rung == 1 && r.Status == CandidateStatus.Skipped));
        Assert.Equal(100, budget.Elapsed.TotalSeconds, 6);
        Assert.Equal(grid[0], SuccessiveHalving.Best(grid, runs));
    }

    [Fact]
    public void FewerGoOnWhenTheBudgetLeftWouldNotGiveTheLastOneItsEpochs()
    {
        var (halving, clock, budget) = Setup(100, options: new AutoSearchOptions { HalvingRate = 2, RungEpochs = 1, MinimumFinalEpochs = 5 });
        // Three random starts and one probe start whose head phase takes 20 s; candidate i scores i/10.
        AutoCandidate[] grid = [.. Enumerable.Range(0, 3).Select(i => AutoCandidate.ForFineTuning(1, HeadStart.Random, 1e-4f * (i + 1))),
            AutoCandidate.ForFineTuning(1, HeadStart.Probe, 4e-4f)];
        var plan = halving.Plan(grid, maxEpochs: 20);
        // 4 + 2 x 1 + 1 x 4 epochs of 10 s = 100 s: all four enter, schedules over 6 epochs.
        Assert.Equal((4, 6), (plan.Candidates, plan.PlannedEpochs));
        var log = new List<string>();
        var (rows, runs) = halving.Run(grid, plan, c => new ScriptedRun(clock, grid.ToList().IndexOf(c) / 10.0, 10, plan.PlannedEpochs, log, c.Name,
            startSeconds: c.Start == HeadStart.Probe ? 20 : 0));
        // Rung 1 ends at 60 s. Two survivors (to 2 epochs, then the best to 5) would need 50 s of the 40 left, so only the best
        // goes on, and trains the 4 epochs that fit: its schedule ends at 5 of the planned 6.
        Assert.Equal(CandidateStatus.Promoted, Assert.Single(rows, r => r.Rung == 1 && r.Candidate == grid[3]).Status);
        var second = Assert.Single(rows, r => r.Rung == 1 && r.Candidate == grid[2]);
        Assert.Equal(CandidateStatus.Eliminated, second.Status);
        Assert.Contains("the best 1/2 would be 2", second.Note);
        Assert.Equal([.. grid.Select(c => c.Name + "+1"), grid[3].Name + " replanned 5", grid[3].Name + "+4"], log);
        var last = Assert.Single(rows, r => r.Rung == 2);
        Assert.Equal((grid[3], 5, CandidateStatus.Completed), (last.Candidate, last.Epochs, last.Status));
        Assert.Equal(100, budget.Elapsed.TotalSeconds, 6);
        Assert.Equal(grid[3], SuccessiveHalving.Best(grid, runs));
    }

    [Fact]
    public void TheResultIsTheBestRunTrainedToItsEndNotAnEliminatedRunWithALuckyEarlyEpoch()
    {
        var clock = new FakeTimeProvider();
        var log = new List<string>();
        var grid = Grid(2);
        // Candidate 0 validated 0.9 at its first epoch and was eliminated there; candidate 1 trained its 5 planned epochs to 0.85.
        var eliminated = new ScriptedRun(clock, 0.9, 10, 5, log, "eliminated", latest: 0.5);
        eliminated.Advance(1, CancellationToken.None);
        var survivor = new ScriptedRun(clock, 0.85, 10, 5, log, "survivor");
        survivor.Advance(5, CancellationToken.None);
        var runs = new Dictionary<AutoCandidate, IHalvingRun> { [grid[0]] = eliminated, [grid[1]] = survivor };
        Assert.Equal(grid[1], SuccessiveHalving.Best(grid, runs));
        // When no run trained to its end, the best score of those that trained.
        var unfinished = new ScriptedRun(clock, 0.85, 10, 5, log, "unfinished");
        unfinished.Advance(3, CancellationToken.None);
        runs[grid[1]] = unfinished;
        Assert.Equal(grid[0], SuccessiveHalving.Best(grid, runs));
        // None trained: no result.
        Assert.Null(SuccessiveHalving.Best(grid, new Dictionary<AutoCandidate, IHalvingRun> { [grid[0]] = new ScriptedRun(clock, 0.9, 10, 5, log, "idle") }));
    }

    [Fact]
    public void BudgetTheLastOneLeavesUnspentGoesToTheBestUnfinishedRuns()
    {
        var (halving, clock, budget) = Setup(1000);
        var grid = Grid(3);
        var plan = halving.Plan(grid, maxEpochs: 9);
        Assert.Equal((3, 9), (plan.Candidates, plan.PlannedEpochs));
        var log = new List<string>();
        // Candidate 2 is best after rung 1 and trains to its planned 9 epochs with most of the budget left: candidate 1, then
        // candidate 0, go on from their checkpoints to the planned 9 epochs.
        var (rows, runs) = halving.Run(grid, plan, c => new ScriptedRun(clock, grid.ToList().IndexOf(c) / 10.0, 10, plan.PlannedEpochs, log, c.Name));
        Assert.Equal([grid[0].Name + "+1", grid[1].Name + "+1", grid[2].Name + "+1", grid[2].Name + "+8", grid[1].Name + "+8", grid[0].Name + "+8"], log);
        var resumed = rows.Where(r => r.Note?.StartsWith("resumed", StringComparison.Ordinal) == true).ToList();
        Assert.Equal([(grid[1], 3, 9), (grid[0], 4, 9)], resumed.Select(r => (r.Candidate, r.Rung, r.Epochs)));
        Assert.All(resumed, r => Assert.Equal(CandidateStatus.Completed, r.Status));
        Assert.Equal(grid[2], SuccessiveHalving.Best(grid, runs));
        Assert.Equal(270, budget.Elapsed.TotalSeconds, 6);
    }

    [Fact]
    public void TheLastOneLeftTrainsToTheEndOfItsScheduleWhileEarlierRungsStillStopEarly()
    {
        var (halving, clock, budget) = Setup(210);
        var grid = Grid();
        var plan = halving.Plan(grid, maxEpochs: 9);
        Assert.Equal((9, 9), (plan.Candidates, plan.PlannedEpochs));
        var log = new List<string>();
        // Early stopping would end candidate 7 after 2 epochs and candidate 8, the best, after 5.
        var (rows, runs) = halving.Run(grid, plan, c => new ScriptedRun(clock, grid.ToList().IndexOf(c) / 10.0, 10, plan.PlannedEpochs, log, c.Name,
            stopsAfter: c == grid[7] ? 2 : c == grid[8] ? 5 : int.MaxValue));

        // In rung 2 (three runs) early stopping ends candidate 7 after one more epoch; candidate 8 goes on alone and trains the
        // six epochs left of its schedule, past where early stopping would have ended it.
        Assert.Equal(grid.Select(c => c.Name + "+1").Concat([grid[8].Name + "+2", grid[7].Name + "+1", grid[6].Name + "+2", grid[8].Name + "+6"]), log);
        var stopped = Assert.Single(rows, r => r.Rung == 2 && r.Candidate == grid[7]);
        Assert.Equal((2, CandidateStatus.Completed, "early stopping ended it; best epoch kept"), (stopped.Epochs, stopped.Status, stopped.Note));
        Assert.Equal((9, CandidateStatus.Completed), Assert.Single(rows, r => r.Rung == 3) is var last ? (last.Epochs, last.Status) : default);
        Assert.Equal([grid[8]], runs.Where(r => ((ScriptedRun)r.Value).TrainsToEnd).Select(r => r.Key));
        Assert.Equal(200, budget.Elapsed.TotalSeconds, 6);
    }

    [Fact]
    public void TheLastOnesScheduleFollowsTheEpochsItMeasuresNotItsRungsFirstEpochWhichDecodesAgain()
    {
        var (halving, clock, budget) = Setup(160);
        var grid = Grid(3);
        var plan = halving.Plan(grid, maxEpochs: 20);
        Assert.Equal((3, 14), (plan.Candidates, plan.PlannedEpochs)); // at the seeded 10 s an epoch
        var log = new List<string>();
        // An epoch takes 10 s, the first of each call 20 s. Rung 1 ends at 60 s with every run's epoch time measured at 20 s, so
        // only 5 more epochs seem to fit in the 100 s left; candidate 2 is not cut to them: once its second epoch in the rung
        // shows 10 s, the 70 s left fit 7 more, so its schedule ends at 10 epochs and the budget's end (cut to the first
        // estimate it would have ended at 6 epochs and 120 s).
        var (rows, runs) = halving.Run(grid, plan, c => new ScriptedRun(clock, grid.ToList().IndexOf(c) / 10.0, 10, plan.PlannedEpochs, log, c.Name,
            coldSeconds: 10));
        Assert.Equal([.. grid.Select(c => c.Name + "+1"), grid[2].Name + " replanned 10", grid[2].Name + "+9"], log);
        var last = Assert.Single(rows, r => r.Rung == 2);
        Assert.Equal((grid[2], 10, CandidateStatus.Completed), (last.Candidate, last.Epochs, last.Status));
        Assert.Contains("shortened to 10 of the planned 14", last.Note);
        Assert.Equal(160, budget.Elapsed.TotalSeconds, 6);
        Assert.True(((ScriptedRun)runs[grid[2]]).TrainsToEnd);
    }

    [Fact]
    public void AHeadStartSlowerThanEstimatedIsMeasuredAndCountedForTheNextStart()
    {
        var (halving, clock, budget) = Setup(100);
        AutoCandidate[] grid = [AutoCandidate.ForFineTuning(1, HeadStart.Probe, 1e-4f), AutoCandidate.ForFineTuning(1, HeadStart.Random, 1e-4f)];
        var plan = halving.Plan(grid, maxEpochs: 20);
        Assert.Equal(2, plan.Candidates); // planned with head starts of 0 s
        var log = new List<string>();
        // The probe start takes 50 s: after it and its epoch (60 s), the random start's 50 s and an epoch do not fit in 40 s.
        var (rows, _) = halving.Run(grid, plan, c => new ScriptedRun(clock, 0.9, 10, plan.PlannedEpochs, log, c.Name, startSeconds: 50));
        var skipped = Assert.Single(rows, r => r.Candidate == grid[1]);
        Assert.Equal(CandidateStatus.Skipped, skipped.Status);
        Assert.Contains("(about 60 s)", skipped.Note);
        // The probe run, alone in rung 2, trains the 4 epochs the last 40 s fit, its schedule ending there.
        Assert.Equal([grid[0].Name + "+1", grid[0].Name + " replanned 5", grid[0].Name + "+4"], log);
        Assert.Equal(100, budget.Elapsed.TotalSeconds, 6);
    }

    [Fact]
    public void TheScheduleIsDeterministic()
    {
        IReadOnlyList<RungRecord> Once()
        {
            var (halving, clock, _) = Setup(300);
            var grid = Grid();
            var plan = halving.Plan(grid, 12);
            // Ties everywhere: the grid's order decides.
            return halving.Run(grid, plan, c => new ScriptedRun(clock, 0.5, 10, plan.PlannedEpochs, [], c.Name)).Rows;
        }
        var a = Once();
        Assert.Equal(a, Once());
        Assert.Equal(Grid()[0], Assert.Single(a, r => r.Rung == 3).Candidate);
    }
}
