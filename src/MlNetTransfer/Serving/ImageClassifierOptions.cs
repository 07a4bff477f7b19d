namespace MlNetTransfer.Serving;

/// <summary>How a loaded model decodes images, pools prediction engines and (when registered with
/// <see cref="ImageClassifierServiceCollectionExtensions.AddImageClassifier(Microsoft.Extensions.DependencyInjection.IServiceCollection, string, string, System.Action{ImageClassifierOptions}?)"/>)
/// follows changes to its zip file.</summary>
public sealed class ImageClassifierOptions
{
    /// <summary>Largest image, in pixels (width × height), that is decoded; a bigger one is refused from its header alone,
    /// before any pixel memory is allocated (a decompression bomb declares enormous dimensions in a few bytes).
    /// Default 50,000,000 (a 48-megapixel phone photo fits; decoding one takes 200 MB).</summary>
    public long MaxImagePixels { get; set; } = 50_000_000;

    /// <summary>How many idle prediction engines are kept for reuse. More concurrent callers than this still work: extra
    /// engines are created and disposed after use. Default: twice the number of cores.</summary>
    public int MaximumRetainedEngines { get; set; } = Environment.ProcessorCount * 2;

    /// <summary>Reload the model when its zip file changes (written, replaced or renamed into place). The new model is
    /// loaded beside the old one and swapped in atomically; requests already running finish on the old one; a file that
    /// does not load is refused with a logged error and the old model keeps serving. Default false.</summary>
    public bool ReloadOnChange { get; set; }

    /// <summary>Quiet time after the last change to the file before it is reloaded, so a file still being copied is read
    /// once, whole. Default 500 ms.</summary>
    public TimeSpan ReloadDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    internal void Validate(string what)
    {
        if (MaxImagePixels is < 1 or > ImageDecoder.PixelLimitCeiling)
            throw new MlNetTransferException($"{what}: MaxImagePixels is {MaxImagePixels}; it must be between 1 and {ImageDecoder.PixelLimitCeiling}.");
        if (MaximumRetainedEngines < 1) throw new MlNetTransferException($"{what}: MaximumRetainedEngines is {MaximumRetainedEngines}; it must be at least 1.");
        if (ReloadDelay < TimeSpan.Zero) throw new MlNetTransferException($"{what}: ReloadDelay is negative ({ReloadDelay}).");
    }
}
