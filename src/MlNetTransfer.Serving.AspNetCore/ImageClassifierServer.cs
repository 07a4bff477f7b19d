using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>
/// The stand-alone prediction server behind <c>mlnet-transfer serve</c>: Kestrel on 127.0.0.1 by default, the model
/// registered with <c>AddImageClassifier</c> and loaded before the first request, the API of
/// <see cref="ImageClassifierEndpointRouteBuilderExtensions.MapImageClassifierApi"/>, problem-details JSON for every
/// error (unknown routes and unexpected failures included, with no internals), a per-request timeout (504) and a
/// graceful stop on SIGTERM/Ctrl+C that lets requests in flight finish.
/// </summary>
public static class ImageClassifierServer
{
    /// <summary>Builds the app (not started). The model is loaded here: a bad zip throws <see cref="MlNetTransferException"/>.</summary>
    /// <param name="options">What to serve and how.</param>
    /// <param name="configure">Last changes before the app is built (tests put a test server in Kestrel's place).</param>
    public static WebApplication Build(ServeOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var api = new ImageClassifierApiOptions { MaxImageBytes = options.MaxImageBytes, MaxBatchImages = options.MaxBatchImages };

        // Production, whatever ASPNETCORE_ENVIRONMENT says: no developer exception page. Content root: the tool's folder,
        // so an appsettings.json in the user's working folder is not picked up by accident.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            EnvironmentName = Environments.Production,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = api.MaxBatchRequestBytes;
            kestrel.Listen(options.Address(), options.Port);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddProblemDetails();
        builder.Services.AddRequestTimeouts(o => o.DefaultPolicy = new RequestTimeoutPolicy
        {
            Timeout = options.RequestTimeout,
            TimeoutStatusCode = StatusCodes.Status504GatewayTimeout,
            WriteTimeoutResponse = context => context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = new ProblemDetails
                {
                    Status = StatusCodes.Status504GatewayTimeout,
                    Title = "Request timed out",
                    Detail = $"The request was not completed within {options.RequestTimeout.TotalSeconds:0.###} s (a slow upload counts).",
                    Extensions = { ["code"] = "timeout" },
                },
            }).AsTask(),
        });
        builder.Services.AddImageClassifier(options.ModelPath, o =>
        {
            o.MaxImagePixels = options.MaxImagePixels;
            o.ReloadOnChange = options.ReloadOnChange;
        });
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseExceptionHandler();   // unexpected failures: 500 problem details, the exception only in the server log
        app.UseStatusCodePages();    // 404, 405, ...: problem details too
        app.UseRequestTimeouts();
        app.MapImageClassifierApi(ImageClassifierPool.DefaultModelName, o =>
        {
            o.MaxImageBytes = api.MaxImageBytes;
            o.MaxBatchImages = api.MaxBatchImages;
        });
        try
        {
            app.Services.GetRequiredService<ImageClassifierPool>(); // load the model now, before listening
        }
        catch
        {
            ((IDisposable)app).Dispose();
            throw;
        }
        return app;
    }
}
