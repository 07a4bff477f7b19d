using Microsoft.ML;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Heads;
using MlNetTransfer.Reporting;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>How the facade finds the fine-tuning engine, which ships in its own package, and what an app without it gets.</summary>
public sealed class FineTuningEngineTests(FineTuneFixture data) : IClassFixture<FineTuneFixture>
{
    private const string AddPackage = "dotnet add package MlNetTransfer.FineTuning";

    /// <summary>An auto search (or experiment) over <paramref name="heads"/> on the fixture's data, no source-head pass.</summary>
    private TransferLearningOptions SearchOptions(params HeadTrainer[] heads) => new()
    {
        DataPath = data.DataDir,
        Backbone = data.BackboneFile("engine"),
        Strategy = TransferLearningOptions.AutoStrategy,
        Budget = TimeSpan.FromMinutes(5),
        Seed = 2,
        Featurizer = { CacheDirectory = null, DegreeOfParallelism = 2 },
        Auto = { Heads = [.. heads], MeasureSourceHead = false },
    };

    [Fact]
    public void TheEngineAssemblyIsFoundByNameAndDeclaresItsEngine()
    {
        Assert.IsType<TorchSharpFineTuningEngine>(FineTuningEngines.Installed);
        Assert.IsType<TorchSharpFineTuningEngine>(FineTuningEngines.Find(FineTuningEngines.PackageName));
        Assert.Null(FineTuningEngines.Find("MlNetTransfer.FineTuning.NotInThisApp"));
    }

    [Theory]
    [InlineData(TransferLearningOptions.FineTuneStrategy)]
    [InlineData(TransferLearningOptions.ChainThawStrategy)]
    public void WithoutTheEngineFineTuningStrategiesNameThePackageBeforeReadingAnyData(string strategy)
    {
        var trainer = new TransferLearningTrainer(new MLContext(1), () => null);
        var options = new TransferLearningOptions { DataPath = Path.Combine(data.Root, "not-read"), Backbone = data.BackboneFile("engine"), Strategy = strategy };

        var e = Assert.Throws<MlNetTransferException>(() => trainer.Train(options));

        Assert.StartsWith($"The {strategy} strategy needs the fine-tuning engine", e.Message);
        Assert.Contains(AddPackage, e.Message);
    }

    [Fact]
    public void WithoutTheEngineAutoTrainsItsHeadsAndItsReportSaysWhyNothingWasFineTuned()
    {
        var options = SearchOptions(HeadTrainer.Sdca, HeadTrainer.Lbfgs);
        Assert.True(options.Auto.FineTune);

        var result = new TransferLearningTrainer(new MLContext(1), () => null).Train(options);

        var board = result.Report.Leaderboard!;
        Assert.Equal(["feature-extractor/lbfgs", "feature-extractor/sdca"], board.Entries.Select(e => e.Candidate).Order(StringComparer.Ordinal));
        Assert.All(board.Entries, e => Assert.Equal(CandidateStatus.Completed, e.Status));
        Assert.StartsWith("Heads only, no fine-tuning candidate.", board.Note);
        Assert.Contains(AddPackage, board.Note);
        Assert.Null(result.Report.Search);
        Assert.Null(result.Report.FineTune);
        Assert.Contains(board.Winner, board.Entries.Select(e => e.Candidate));
    }

    [Fact]
    public void WithoutTheEngineTheExperimentsFineTuningRowsFailWithThePackageToAdd()
    {
        var options = SearchOptions(HeadTrainer.Sdca); // Experiment ignores the strategy

        var result = new TransferLearningTrainer(new MLContext(1), () => null).Experiment(options);

        var board = result.Report.Leaderboard!;
        Assert.Equal("feature-extractor/sdca", board.Winner);
        var fineTuned = board.Entries.Where(e => e.Candidate != "feature-extractor/sdca").ToList();
        Assert.Equal(4, fineTuned.Count); // fine-tune top, fine-tune all, chain-thaw, from scratch
        Assert.All(fineTuned, e =>
        {
            Assert.Equal(CandidateStatus.Failed, e.Status);
            Assert.Contains(AddPackage, e.Note);
        });
    }

    [Fact]
    public void WithTheEngineAutoLeavesNoNote()
    {
        // The same search with fine-tuning off: the note is about a missing engine, not about fewer candidates.
        var options = SearchOptions(HeadTrainer.Sdca);
        options.Auto.FineTune = false;

        var result = new MLContext(1).TransferLearning().Train(options);

        Assert.Null(result.Report.Leaderboard!.Note);
    }
}
