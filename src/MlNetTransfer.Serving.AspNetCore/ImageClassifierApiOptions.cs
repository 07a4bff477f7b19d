namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>Limits and defaults of the prediction endpoints mapped by
/// <see cref="ImageClassifierEndpointRouteBuilderExtensions.MapImageClassifierApi"/>.</summary>
public sealed class ImageClassifierApiOptions
{
    /// <summary>Largest accepted image, in bytes; a bigger upload is answered 413 without being read to the end.
    /// Default 16 MiB.</summary>
    public long MaxImageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Most images in one <c>POST /predict/batch</c>. Default 32.</summary>
    public int MaxBatchImages { get; set; } = 32;

    /// <summary>How many classes <c>top</c> lists when the request has no <c>?top=k</c>. Default 5 (or every class, if fewer).</summary>
    public int DefaultTop { get; set; } = 5;

    /// <summary>Largest request body a batch may send: every image at its limit, plus multipart framing.</summary>
    public long MaxBatchRequestBytes => MaxImageBytes * MaxBatchImages + MultipartSlack * MaxBatchImages;

    /// <summary>Room for multipart boundaries and part headers around one file.</summary>
    internal const long MultipartSlack = 64 * 1024;

    internal void Validate()
    {
        if (MaxImageBytes < 1) throw new MlNetTransferException($"MaxImageBytes is {MaxImageBytes}; it must be at least 1.");
        if (MaxBatchImages < 1) throw new MlNetTransferException($"MaxBatchImages is {MaxBatchImages}; it must be at least 1.");
        if (DefaultTop < 1) throw new MlNetTransferException($"DefaultTop is {DefaultTop}; it must be at least 1.");
    }
}
