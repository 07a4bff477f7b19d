using System.Diagnostics;
using System.Globalization;

namespace MlNetTransfer.Strategy;

/// <summary>A wall-time budget for an automatic search, counted from when the run started.</summary>
public sealed class TrainingBudget
{
    private readonly Func<TimeSpan> _elapsed;

    /// <param name="limit">The budget.</param>
    /// <param name="clock">A running stopwatch the budget counts from (the whole run's), or null to start one now.</param>
    public TrainingBudget(TimeSpan limit, Stopwatch? clock = null)
    {
        if (limit <= TimeSpan.Zero) throw new MlNetTransferException($"Budget {limit}: it must be positive.");
        Limit = limit;
        var running = clock ?? Stopwatch.StartNew();
        _elapsed = () => running.Elapsed;
    }

    /// <param name="limit">The budget.</param>
    /// <param name="time">The clock, counted from now (a fake one makes a search's schedule testable).</param>
    public TrainingBudget(TimeSpan limit, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (limit <= TimeSpan.Zero) throw new MlNetTransferException($"Budget {limit}: it must be positive.");
        Limit = limit;
        var start = time.GetTimestamp();
        _elapsed = () => time.GetElapsedTime(start);
    }

    public TimeSpan Limit { get; }

    public TimeSpan Elapsed => _elapsed();

    /// <summary>Time left, never negative.</summary>
    public TimeSpan Remaining => Limit > Elapsed ? Limit - Elapsed : TimeSpan.Zero;

    public bool IsSpent => Elapsed >= Limit;

    /// <summary>How far past the budget the run went (zero when it stayed inside).</summary>
    public TimeSpan Overshoot => Elapsed > Limit ? Elapsed - Limit : TimeSpan.Zero;

    /// <summary>Parses <c>90s</c>, <c>10m</c>, <c>1.5h</c>, <c>1h30m</c>, or a plain number of seconds.</summary>
    public static TimeSpan Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new MlNetTransferException("Budget: empty; give e.g. 10m, 90s or 1h.");
        var s = text.Trim().ToLowerInvariant();
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var plain))
            return Positive(TimeSpan.FromSeconds(plain), text);
        var total = TimeSpan.Zero;
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
            if (start == i || i == s.Length)
                throw new MlNetTransferException($"Budget '{text}': not understood; give a number with a unit s, m or h (e.g. 10m, 90s, 1h30m).");
            var value = double.Parse(s[start..i], NumberStyles.Float, CultureInfo.InvariantCulture);
            total += s[i++] switch
            {
                's' => TimeSpan.FromSeconds(value),
                'm' => TimeSpan.FromMinutes(value),
                'h' => TimeSpan.FromHours(value),
                var u => throw new MlNetTransferException($"Budget '{text}': unit '{u}' is not known; use s, m or h."),
            };
        }
        return Positive(total, text);
    }

    private static TimeSpan Positive(TimeSpan value, string text) =>
        value > TimeSpan.Zero ? value : throw new MlNetTransferException($"Budget '{text}': it must be more than zero.");
}
