using System.CommandLine;
using MlNetTransfer.Backbones;

namespace MlNetTransfer.Cli.Commands;

/// <summary>The options of the choice by measurement, shared by <c>backbones compare</c> and <c>train --backbone auto</c>:
/// which backbones, and the limits the winner must meet.</summary>
internal sealed class BackboneChoiceOptions
{
    private readonly Option<string?> _backbones = new("--backbones")
    {
        Description = "Backbones to compare, comma-separated: catalog names, .onnx or TF.js model.json paths. " +
                      "Default: every catalog backbone already installed or with its files in a --mirror folder (the others are listed as skipped).",
    };

    private readonly Option<double?> _maxLatency = new("--max-latency-ms")
    {
        Description = "Choose only among backbones whose median one-image prediction latency (decode, resize, network, head; from the saved zip) is at most this.",
    };

    private readonly Option<double?> _maxModel = new("--max-model-mb")
    {
        Description = "Choose only among backbones whose model zip (backbone and head, what ships) is at most this many MB (10^6 bytes).",
    };

    private readonly Option<int> _latencyRuns = new("--latency-runs")
    {
        Description = "One-image predictions timed per backbone (after 3 untimed) for the median and 95th-percentile latency.",
        DefaultValueFactory = _ => new BackboneComparisonOptions().LatencyRuns,
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public static BackboneChoiceOptions AddTo(Command command)
    {
        var options = new BackboneChoiceOptions();
        command.Options.Add(options._backbones);
        command.Options.Add(options._maxLatency);
        command.Options.Add(options._maxModel);
        command.Options.Add(options._latencyRuns);
        return options;
    }

    /// <summary>Copies the parsed values into <paramref name="choice"/>.</summary>
    public void Apply(ParseResult parse, BackboneComparisonOptions choice)
    {
        if (parse.GetValue(_backbones) is { } list)
        {
            var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (names.Length == 0) throw new MlNetTransferException($"--backbones '{list}': name one or more backbones, comma-separated.");
            choice.Backbones = names.ToList();
        }
        choice.MaxLatencyMilliseconds = parse.GetValue(_maxLatency);
        choice.MaxModelMegabytes = parse.GetValue(_maxModel);
        choice.LatencyRuns = parse.GetValue(_latencyRuns);
    }

    /// <summary>Whether any of these options was given (they only mean something with <c>--backbone auto</c>).</summary>
    public bool AnyGiven(ParseResult parse) =>
        parse.GetResult(_backbones) is { Implicit: false } || parse.GetResult(_maxLatency) is { Implicit: false } || parse.GetResult(_maxModel) is { Implicit: false };
}
