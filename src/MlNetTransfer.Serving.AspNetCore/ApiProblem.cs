using Microsoft.AspNetCore.Http;

namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>A request the endpoints refuse: the HTTP status, a stable machine-readable code and a sentence for people.
/// Written as RFC 9457 problem details JSON; never a stack trace.</summary>
internal sealed class ApiProblem(int status, string code, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string Title { get; } = title;

    public IResult ToResult() => Results.Problem(Message, statusCode: Status, title: Title,
        extensions: new Dictionary<string, object?> { ["code"] = Code });

    public static ApiProblem From(InvalidImageException e) => e.Problem switch
    {
        ImageProblem.Empty => new(StatusCodes.Status400BadRequest, "empty_image", "Empty image", e.Message),
        ImageProblem.NotAnImage => new(StatusCodes.Status415UnsupportedMediaType, "not_an_image", "Not an image", e.Message),
        ImageProblem.UnsupportedFormat => new(StatusCodes.Status415UnsupportedMediaType, "unsupported_format", "Unsupported image format", e.Message),
        ImageProblem.Corrupt => new(StatusCodes.Status400BadRequest, "corrupt_image", "Corrupt or truncated image", e.Message),
        ImageProblem.TooManyPixels => new(StatusCodes.Status413PayloadTooLarge, "too_many_pixels", "Image dimensions too large", e.Message),
        _ => new(StatusCodes.Status413PayloadTooLarge, "image_too_large", "Image too large", e.Message),
    };

    public static ApiProblem TooLarge(string? fileName, long bytes, long limit) => new(StatusCodes.Status413PayloadTooLarge, "image_too_large",
        "Image too large", $"{(fileName is null ? "" : fileName + ": ")}{bytes} bytes is over the limit of {limit} bytes per image.");

    public static ApiProblem TooLargeAtLeast(string? fileName, long limit) => new(StatusCodes.Status413PayloadTooLarge, "image_too_large",
        "Image too large", $"{(fileName is null ? "" : fileName + ": ")}more than the limit of {limit} bytes per image.");
}
