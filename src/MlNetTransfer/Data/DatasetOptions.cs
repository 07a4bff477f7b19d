using System.Globalization;

namespace MlNetTransfer.Data;

/// <summary>How <see cref="ImageDatasetLoader"/> splits and checks a dataset.</summary>
public sealed class DatasetOptions
{
    /// <summary>Share of each class that goes to training when the dataset is not pre-split. Default 0.8.</summary>
    public double TrainFraction { get; set; } = 0.8;

    /// <summary>Share of each class held out for validation (model selection). Default 0.1. Must be above 0.</summary>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Share of each class held out for the final test. Default 0.1. May be 0 (no test split).</summary>
    public double TestFraction { get; set; } = 0.1;

    /// <summary>Seed of the split's shuffle; the same seed and files always give the same split. Default 42.</summary>
    public int Seed { get; set; } = 42;

    /// <summary>Fewest usable images a class may have (in train/ for a pre-split folder). Default 2; at least 1.</summary>
    public int MinImagesPerClass { get; set; } = 2;

    /// <summary>How many files are validated at once. Default -1: one per processor core.</summary>
    public int MaxDegreeOfParallelism { get; set; } = -1;

    /// <summary>Throws <see cref="MlNetTransferException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        CheckFraction(nameof(TrainFraction), TrainFraction, allowZero: false);
        CheckFraction(nameof(ValidationFraction), ValidationFraction, allowZero: false);
        CheckFraction(nameof(TestFraction), TestFraction, allowZero: true);
        var sum = TrainFraction + ValidationFraction + TestFraction;
        if (Math.Abs(sum - 1) > 1e-6)
            throw new MlNetTransferException(
                $"DatasetOptions: TrainFraction ({F(TrainFraction)}) + ValidationFraction ({F(ValidationFraction)}) + TestFraction ({F(TestFraction)}) = {F(sum)}; they must add up to 1.");
        if (MinImagesPerClass < 1)
            throw new MlNetTransferException($"DatasetOptions.MinImagesPerClass is {MinImagesPerClass}; it must be at least 1.");
        if (MaxDegreeOfParallelism == 0 || MaxDegreeOfParallelism < -1)
            throw new MlNetTransferException($"DatasetOptions.MaxDegreeOfParallelism is {MaxDegreeOfParallelism}; use -1 (all cores) or a positive number.");

        static void CheckFraction(string name, double value, bool allowZero)
        {
            if (double.IsNaN(value) || value < 0 || value >= 1 || (!allowZero && value == 0))
                throw new MlNetTransferException(
                    $"DatasetOptions.{name} is {F(value)}; it must be {(allowZero ? "at least 0" : "above 0")} and below 1.");
        }
    }
}
