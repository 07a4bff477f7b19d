namespace MlNetTransfer.Serving;

/// <summary>Why an image given for prediction was refused. Each kind maps to one HTTP status in the serving endpoint.</summary>
public enum ImageProblem
{
    /// <summary>No bytes at all (HTTP 400).</summary>
    Empty,

    /// <summary>The bytes are not an image (text, a PDF, an archive, unknown magic bytes) (HTTP 415).</summary>
    NotAnImage,

    /// <summary>An image in a format the toolkit does not read: GIF, TIFF, HEIC, SVG, ... (HTTP 415).</summary>
    UnsupportedFormat,

    /// <summary>A supported format whose data is damaged or ends early, e.g. a truncated JPEG (HTTP 400).</summary>
    Corrupt,

    /// <summary>The header declares more pixels than <see cref="ImageClassifierOptions.MaxImagePixels"/> allows, e.g. a
    /// decompression bomb; refused before decoding (HTTP 413).</summary>
    TooManyPixels,

    /// <summary>More bytes than the caller's limit (HTTP 413).</summary>
    TooLarge,
}
