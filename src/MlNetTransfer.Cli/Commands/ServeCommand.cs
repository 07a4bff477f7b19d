using System.CommandLine;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MlNetTransfer.Serving;
using MlNetTransfer.Serving.AspNetCore;

namespace MlNetTransfer.Cli.Commands;

/// <summary><c>mlnet-transfer serve</c>: a model zip behind an HTTP prediction API (ASP.NET Core minimal API on Kestrel).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServeOptions();
        var model = new Option<string>("--model", "-m") { Description = "The model zip to serve (saved by 'train').", Required = true };
        var host = new Option<string>("--host")
        {
            Description = "Address to listen on. The default answers this machine only; 0.0.0.0 opens it to the network (put a proxy with TLS in front).",
            DefaultValueFactory = _ => defaults.Host,
        };
        var port = new Option<int>("--port", "-p") { Description = "TCP port; 0 picks a free one (the address is printed).", DefaultValueFactory = _ => defaults.Port };
        var maxBytes = new Option<long>("--max-image-bytes")
        {
            Description = "Largest accepted image in bytes; bigger uploads get 413.",
            DefaultValueFactory = _ => defaults.MaxImageBytes,
        };
        var maxPixels = new Option<long>("--max-image-pixels")
        {
            Description = "Largest image in pixels (width × height), checked from its header before decoding (decompression bombs get 413).",
            DefaultValueFactory = _ => defaults.MaxImagePixels,
        };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most images in one POST /predict/batch.", DefaultValueFactory = _ => defaults.MaxBatchImages };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds a request may take, upload included, before it is answered 504.",
            DefaultValueFactory = _ => defaults.RequestTimeout.TotalSeconds,
        };
        var watch = new Option<bool>("--watch")
        {
            Description = "Reload the model when the zip file changes; requests in flight finish on the old one, and a file that does not load is refused (logged) while the old one keeps serving.",
        };
        var command = new Command("serve",
            "Serve a model zip over HTTP: POST /predict (an image as the raw body or a multipart file; ?top=k), POST /predict/batch (multipart files), " +
            "GET /model (metadata), GET /health. Answers JSON; bad images get 400/413/415 with a reason. Stops gracefully on Ctrl+C or SIGTERM.")
        {
            model, host, port, maxBytes, maxPixels, maxBatch, timeout, watch,
        };
        command.SetAction(Cli.Guard((parse, cancel) => Serve(new ServeOptions
        {
            ModelPath = parse.GetValue(model)!,
            Host = parse.GetValue(host)!,
            Port = parse.GetValue(port),
            MaxImageBytes = parse.GetValue(maxBytes),
            MaxImagePixels = parse.GetValue(maxPixels),
            MaxBatchImages = parse.GetValue(maxBatch),
            RequestTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
            ReloadOnChange = parse.GetValue(watch),
        }, cancel)));
        return command;
    }

    private static int Serve(ServeOptions options, CancellationToken cancel)
    {
        var app = ImageClassifierServer.Build(options);
        try
        {
            var model = app.Services.GetRequiredService<ImageClassifierPool>().Get();
            app.StartAsync(cancel).GetAwaiter().GetResult();
            var m = model.Metadata;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Serving {model.ModelPath}: {m.Kind}, backbone {m.Backbone} {m.InputWidth}x{m.InputHeight}, {model.Classes.Count} classes ({string.Join(", ", model.Classes.Take(10))}{(model.Classes.Count > 10 ? ", ..." : "")})"));
            foreach (var url in app.Urls) Console.WriteLine($"Listening on {url}");
            Console.WriteLine("Routes: POST /predict, POST /predict/batch, GET /model, GET /health. Ctrl+C or SIGTERM stops.");
            using (cancel.Register(() => app.Lifetime.StopApplication()))
                app.WaitForShutdownAsync().GetAwaiter().GetResult(); // returns after in-flight requests finished (or the shutdown timeout)
            Console.WriteLine("Stopped.");
            return 0;
        }
        finally
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
