namespace MlNetTransfer.FineTuning;

/// <summary>How the learning rate changes over a training phase (every rate is scaled by the same factor, so discriminative
/// rates keep their ratio).</summary>
public enum LearningRateSchedule
{
    /// <summary>Linear warm-up from almost zero over <see cref="FineTuneOptions.WarmupFraction"/> of the steps, then a cosine decay to zero.</summary>
    WarmupCosine,

    /// <summary>Smith's one-cycle: cosine rise from 1/25 of the rate to the rate over the first 30% of the steps, then cosine
    /// decay to 1/25 000 of it.</summary>
    OneCycle,

    /// <summary>The rate unchanged throughout.</summary>
    Constant,
}

/// <summary>The factor a schedule applies to the base learning rates at each optimizer step.</summary>
public static class LearningRateSchedules
{
    /// <summary>The factor at step <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    public static double Factor(LearningRateSchedule schedule, long step, long totalSteps, double warmupFraction)
    {
        if (totalSteps <= 0) return 1;
        step = Math.Clamp(step, 0, totalSteps - 1);
        switch (schedule)
        {
            case LearningRateSchedule.Constant:
                return 1;
            case LearningRateSchedule.WarmupCosine:
            {
                var warmup = (long)Math.Round(Math.Clamp(warmupFraction, 0, 1) * totalSteps);
                if (step < warmup) return (step + 1) / (double)warmup;
                var decay = totalSteps - warmup;
                // The last step still learns a little: the cosine reaches zero one step after the phase ends.
                return 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / decay));
            }
            case LearningRateSchedule.OneCycle:
            {
                const double start = 1 / 25.0, end = 1 / 25_000.0, rise = 0.3;
                var peak = Math.Max(1, (long)Math.Round(rise * totalSteps));
                if (step < peak) return Cosine(start, 1, step / (double)peak);
                var fall = Math.Max(1, totalSteps - 1 - peak);
                return Cosine(1, end, (step - peak) / (double)fall);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(schedule), schedule, null);
        }
    }

    private static double Cosine(double from, double to, double t) => to + (from - to) * 0.5 * (1 + Math.Cos(Math.PI * Math.Clamp(t, 0, 1)));
}
