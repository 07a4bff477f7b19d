using System.Globalization;

namespace TransferabilityStudy;

/// <summary>Every knob of the study, with the values the recorded run used as defaults.</summary>
public sealed record StudyOptions
{
    /// <summary>Folder with Fashion-MNIST's IDX .gz files.</summary>
    public string Source { get; init; } = MlNetTransfer.Data.FashionMnistReader.DefaultDirectory;

    /// <summary>Where RESULTS.md, results.json and the plot go.</summary>
    public string Output { get; init; } = "bench/TransferabilityStudy";

    /// <summary>Output channels of the SmallCnn blocks; a cut depth n copies blocks 1..n.</summary>
    public int[] Channels { get; init; } = [16, 32, 64, 64];

    /// <summary>Training images per class of the base task A (classes 0–4).</summary>
    public int BasePerClass { get; init; } = 1000;

    /// <summary>Epochs of training A.</summary>
    public int BaseEpochs { get; init; } = 4;

    /// <summary>Labelled images per class of the target task B (classes 5–9): the study's data-size axis.</summary>
    public int[] Sizes { get; init; } = [10, 50, 200];

    /// <summary>Epochs of training on B, one entry per size (small sets get more passes so that every run converges).</summary>
    public int[] Epochs { get; init; } = [24, 12, 8];

    /// <summary>Test images per class of 5–9, the first ones of the official test split (fixed for every run).</summary>
    public int TestPerClass { get; init; } = 200;

    /// <summary>Seeds: each seed draws its own labelled subsets, trains its own A and its own initialisations.</summary>
    public int[] Seeds { get; init; } = [1, 2, 3, 4, 5];

    public int BatchSize { get; init; } = 16;

    /// <summary>AdamW's peak rate, the same for every condition; cosine decay to zero over a run.</summary>
    public double LearningRate { get; init; } = 2e-3;

    public double WeightDecay { get; init; } = 1e-2;

    public int Threads { get; init; } = 2;

    public static StudyOptions Parse(string[] args)
    {
        var o = new StudyOptions();
        var inv = CultureInfo.InvariantCulture;
        int[] Ints(string v) => v.Split(',').Select(s => int.Parse(s, inv)).ToArray();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            o = args[i] switch
            {
                "--source" => o with { Source = Next() },
                "--output" => o with { Output = Next() },
                "--channels" => o with { Channels = Ints(Next()) },
                "--base-per-class" => o with { BasePerClass = int.Parse(Next(), inv) },
                "--base-epochs" => o with { BaseEpochs = int.Parse(Next(), inv) },
                "--sizes" => o with { Sizes = Ints(Next()) },
                "--epochs" => o with { Epochs = Ints(Next()) },
                "--test-per-class" => o with { TestPerClass = int.Parse(Next(), inv) },
                "--seeds" => o with { Seeds = Ints(Next()) },
                "--batch" => o with { BatchSize = int.Parse(Next(), inv) },
                "--lr" => o with { LearningRate = double.Parse(Next(), inv) },
                "--threads" => o with { Threads = int.Parse(Next(), inv) },
                _ => throw new ArgumentException($"Unknown option {args[i]} (see the top of Program.cs)."),
            };
        }
        if (o.Epochs.Length != o.Sizes.Length) throw new ArgumentException($"--epochs needs one value per size ({o.Sizes.Length}).");
        return o;
    }
}
