namespace MlNetTransfer;

/// <summary>An <see cref="IProgress{T}"/> that calls back on the reporting thread, in order.
/// (<see cref="Progress{T}"/> posts to the thread pool, so reports can arrive late and out of order.)</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
