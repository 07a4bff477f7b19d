using System.Net;

namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>Settings of the stand-alone prediction server (<c>mlnet-transfer serve</c>).</summary>
public sealed class ServeOptions
{
    /// <summary>The model zip to serve. Required.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>Address to listen on. Default 127.0.0.1 (this machine only); use 0.0.0.0 deliberately, behind a proxy.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (the chosen address is printed). Default 8080.</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Largest accepted image in bytes (413 above it). Default 16 MiB.</summary>
    public long MaxImageBytes { get; set; } = new ImageClassifierApiOptions().MaxImageBytes;

    /// <summary>Most images per batch request. Default 32.</summary>
    public int MaxBatchImages { get; set; } = new ImageClassifierApiOptions().MaxBatchImages;

    /// <summary>Largest image in pixels; checked from the header before decoding (413 above it). Default 50 megapixels.</summary>
    public long MaxImagePixels { get; set; } = new ImageClassifierOptions().MaxImagePixels;

    /// <summary>A request not answered in this time gets 504 (slow uploads included). Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>On SIGTERM or Ctrl+C, how long requests in flight may take to finish. Default 10 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Reload the model when the zip changes (see <see cref="ImageClassifierOptions.ReloadOnChange"/>). Default false.</summary>
    public bool ReloadOnChange { get; set; }

    internal IPAddress Address()
    {
        if (string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        return IPAddress.TryParse(Host, out var address)
            ? address
            : throw new MlNetTransferException($"--host '{Host}' is not an IP address (e.g. 127.0.0.1, ::1 or 0.0.0.0).");
    }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new MlNetTransferException("No model given (--model).");
        if (Port is < 0 or > 65535) throw new MlNetTransferException($"--port {Port} is not a TCP port (0 to 65535).");
        if (MaxImageBytes < 1) throw new MlNetTransferException($"--max-image-bytes {MaxImageBytes}: must be at least 1.");
        if (MaxBatchImages < 1) throw new MlNetTransferException($"--max-batch {MaxBatchImages}: must be at least 1.");
        if (RequestTimeout <= TimeSpan.Zero) throw new MlNetTransferException($"--timeout {RequestTimeout.TotalSeconds}: must be positive.");
        if (ShutdownTimeout < TimeSpan.Zero) throw new MlNetTransferException("The shutdown timeout must not be negative.");
        _ = Address();
    }
}
