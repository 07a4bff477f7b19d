using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>Maps the prediction API of a model registered with <c>services.AddImageClassifier(...)</c>.</summary>
public static class ImageClassifierEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>POST /predict</c> (one image as the raw body or one multipart file; <c>?top=k</c>),
    /// <c>POST /predict/batch</c> (several multipart files), <c>GET /model</c> and <c>GET /health</c>, answering in JSON.
    /// Bad input gets 400/413/415 problem details naming the problem (never a stack trace). Call it on a group to put
    /// the routes under a prefix: <c>app.MapGroup("/shapes").MapImageClassifierApi("shapes")</c>.
    /// </summary>
    /// <param name="endpoints">The app or a route group.</param>
    /// <param name="modelName">The registered model's name; "" is the default model.</param>
    /// <param name="configure">Size limits and the default top-k.</param>
    /// <returns>The group holding the four routes (add authorization, rate limiting, ... to it).</returns>
    public static RouteGroupBuilder MapImageClassifierApi(this IEndpointRouteBuilder endpoints, string modelName = ImageClassifierPool.DefaultModelName,
        Action<ImageClassifierApiOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(modelName);
        var options = new ImageClassifierApiOptions();
        configure?.Invoke(options);
        options.Validate();
        var api = new ImageClassifierApi(modelName, options);

        var group = endpoints.MapGroup("");
        group.MapPost("/predict", (Func<HttpContext, Task<IResult>>)api.PredictAsync)
            .WithName(RouteName(modelName, "predict"))
            .Produces<PredictionResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        group.MapPost("/predict/batch", (Func<HttpContext, Task<IResult>>)api.PredictBatchAsync)
            .WithName(RouteName(modelName, "predict-batch"))
            .Produces<BatchPredictionResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        group.MapGet("/model", (Func<HttpContext, IResult>)api.ModelInfo).WithName(RouteName(modelName, "model")).Produces<ModelResponse>();
        group.MapGet("/health", (Func<HttpContext, IResult>)api.Health).WithName(RouteName(modelName, "health")).Produces<HealthResponse>();
        return group;
    }

    private static string RouteName(string modelName, string route) => modelName == "" ? route : $"{modelName}-{route}";
}
