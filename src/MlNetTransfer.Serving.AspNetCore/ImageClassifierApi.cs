using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>The request handlers behind <see cref="ImageClassifierEndpointRouteBuilderExtensions.MapImageClassifierApi"/>.
/// Bodies are read with a hard byte limit before anything is decoded; every refusal is a problem-details answer.</summary>
internal sealed class ImageClassifierApi(string modelName, ImageClassifierApiOptions options)
{
    public Task<IResult> PredictAsync(HttpContext http) => Guard(http, async cancel =>
    {
        var top = Top(http.Request);
        var model = Classifier(http);
        var (bytes, fileName) = await ReadOneImageAsync(http.Request, cancel);
        cancel.ThrowIfCancellationRequested();
        var prediction = model.Predict(bytes.Span, fileName);
        return Results.Ok(PredictionResponse.From(prediction, top, fileName));
    });

    public Task<IResult> PredictBatchAsync(HttpContext http) => Guard(http, async cancel =>
    {
        var top = Top(http.Request);
        var model = Classifier(http);
        var images = await ReadImagesAsync(http.Request, cancel);
        // One model generation answers the whole batch, even if a reload lands meanwhile.
        return Results.Ok(model.Use((classifier, generation) =>
        {
            var answers = new List<PredictionResponse>(images.Count);
            foreach (var (bytes, fileName) in images)
            {
                cancel.ThrowIfCancellationRequested();
                answers.Add(PredictionResponse.From(classifier.Predict(bytes.Span, fileName), top, fileName));
            }
            return new BatchPredictionResponse(generation, answers);
        }));
    });

    public IResult ModelInfo(HttpContext http)
    {
        var model = Classifier(http);
        return Results.Ok(model.Use((c, generation) => new ModelResponse(model.Name, Path.GetFileName(c.ModelPath), c.ModelSha256, generation,
            c.LoadedUtc, model.LastReloadError, c.Classes, c.Metadata)));
    }

    public IResult Health(HttpContext http)
    {
        var model = Classifier(http);
        var error = model.LastReloadError;
        return Results.Ok(model.Use((c, generation) => new HealthResponse(error is null ? "healthy" : "degraded", generation, c.ModelSha256, error)));
    }

    private ReloadingImageClassifier Classifier(HttpContext http) => http.RequestServices.GetRequiredService<ImageClassifierPool>().Get(modelName);

    private async Task<IResult> Guard(HttpContext http, Func<CancellationToken, Task<IResult>> handle)
    {
        ApiProblem problem;
        try
        {
            return await handle(http.RequestAborted);
        }
        catch (ApiProblem p)
        {
            problem = p;
        }
        catch (InvalidImageException e)
        {
            problem = ApiProblem.From(e);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own limits (body size, upload rate) and malformed framing.
            problem = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? new ApiProblem(e.StatusCode, "image_too_large", "Request too large",
                    $"The request body is over the limit ({options.MaxImageBytes} bytes per image, {options.MaxBatchRequestBytes} per batch).")
                : new ApiProblem(e.StatusCode, "bad_request", "Bad request", e.Message);
        }
        catch (InvalidDataException e)
        {
            problem = new ApiProblem(StatusCodes.Status400BadRequest, "malformed_multipart", "Malformed multipart body", e.Message);
        }
        catch (IOException) when (!http.RequestAborted.IsCancellationRequested)
        {
            // The multipart reader's way of saying the body ended before its closing boundary.
            problem = new ApiProblem(StatusCodes.Status400BadRequest, "malformed_multipart", "Malformed multipart body",
                "The request body ended before the multipart form was complete.");
        }
        var log = http.RequestServices.GetService<ILoggerFactory>()?.CreateLogger<ImageClassifierApi>();
        log?.LogInformation("{Method} {Path} refused: {Status} {Code}: {Detail}", http.Request.Method, http.Request.Path, problem.Status, problem.Code, problem.Message);
        return problem.ToResult();
    }

    private int Top(HttpRequest request)
    {
        var values = request.Query["top"];
        if (values.Count == 0) return options.DefaultTop;
        if (values.Count > 1 || !int.TryParse(values[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) || k < 1)
            throw new ApiProblem(StatusCodes.Status400BadRequest, "invalid_top", "Invalid top",
                $"top must be one whole number of at least 1 (how many classes to list), not '{values}'.");
        return k;
    }

    /// <summary>The one image of <c>POST /predict</c>: a multipart form's single file, else the raw body (whatever its
    /// content type says: the format is read from the bytes).</summary>
    private async Task<(ReadOnlyMemory<byte> Bytes, string? FileName)> ReadOneImageAsync(HttpRequest request, CancellationToken cancel)
    {
        if (!IsMultipart(request))
        {
            LimitBody(request, options.MaxImageBytes);
            return (await ReadBodyAsync(request, cancel), null);
        }
        var files = await ReadFilesAsync(request, options.MaxImageBytes + ImageClassifierApiOptions.MultipartSlack, cancel);
        if (files.Count != 1)
            throw new ApiProblem(StatusCodes.Status400BadRequest, files.Count == 0 ? "no_image" : "too_many_images", files.Count == 0 ? "No image" : "One image per request",
                files.Count == 0
                    ? "The multipart form has no file: send the image as a file field (curl -F image=@photo.jpg) or as the raw request body."
                    : $"The form has {files.Count} files; /predict takes one. Send several to /predict/batch.");
        return await ReadFileAsync(files[0], cancel);
    }

    private async Task<List<(ReadOnlyMemory<byte> Bytes, string? FileName)>> ReadImagesAsync(HttpRequest request, CancellationToken cancel)
    {
        if (!IsMultipart(request))
            throw new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "multipart_required", "Multipart form required",
                "Send the images as files of a multipart/form-data body (curl -F image=@a.jpg -F image=@b.jpg).");
        var files = await ReadFilesAsync(request, options.MaxBatchRequestBytes, cancel);
        if (files.Count == 0)
            throw new ApiProblem(StatusCodes.Status400BadRequest, "no_image", "No image", "The multipart form has no file.");
        if (files.Count > options.MaxBatchImages)
            throw new ApiProblem(StatusCodes.Status413PayloadTooLarge, "too_many_images", "Too many images",
                $"The form has {files.Count} files; a batch takes at most {options.MaxBatchImages}.");
        // Sizes first, so an oversized file fails the batch before any image is decoded.
        foreach (var file in files)
            if (file.Length > options.MaxImageBytes) throw ApiProblem.TooLarge(file.FileName, file.Length, options.MaxImageBytes);
        var images = new List<(ReadOnlyMemory<byte>, string?)>(files.Count);
        foreach (var file in files) images.Add(await ReadFileAsync(file, cancel));
        return images;
    }

    private static bool IsMultipart(HttpRequest request) =>
        MediaTypeHeaderValue.TryParse(request.ContentType, out var type) && type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase);

    private static async Task<IFormFileCollection> ReadFilesAsync(HttpRequest request, long limit, CancellationToken cancel)
    {
        LimitBody(request, limit);
        var form = await request.ReadFormAsync(new FormOptions
        {
            MultipartBodyLengthLimit = limit,
            MemoryBufferThreshold = 1024 * 1024, // small uploads stay in memory; larger ones spill to a temp file
            ValueCountLimit = 64,
        }, cancel);
        return form.Files;
    }

    private async Task<(ReadOnlyMemory<byte>, string?)> ReadFileAsync(IFormFile file, CancellationToken cancel)
    {
        var name = string.IsNullOrEmpty(file.FileName) ? file.Name : file.FileName;
        if (file.Length > options.MaxImageBytes) throw ApiProblem.TooLarge(name, file.Length, options.MaxImageBytes);
        var bytes = new byte[file.Length];
        await using var stream = file.OpenReadStream();
        await stream.ReadExactlyAsync(bytes, cancel);
        return (bytes, name);
    }

    /// <summary>Refuses a declared length over the limit at once, and makes Kestrel stop reading an undeclared
    /// (chunked) body once it passes the limit.</summary>
    private static void LimitBody(HttpRequest request, long limit)
    {
        if (request.ContentLength is { } declared && declared > limit)
            throw new ApiProblem(StatusCodes.Status413PayloadTooLarge, "image_too_large", "Request too large",
                $"The request body is {declared} bytes, over the limit of {limit} bytes.");
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = limit;
    }

    private async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, CancellationToken cancel)
    {
        var limit = options.MaxImageBytes;
        var buffer = new MemoryStream((int)Math.Min(request.ContentLength ?? 64 * 1024, limit));
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancel)) > 0)
            {
                if (buffer.Length + read > limit) throw ApiProblem.TooLargeAtLeast(null, limit);
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}
