// A business API that labels uploaded photos with a model zip saved by `mlnet-transfer train`.
// Run:  dotnet run --project samples/WebApi -- --Model=/path/to/model.zip --urls=http://127.0.0.1:5080
// Try:  curl -F photo=@bee.jpg http://127.0.0.1:5080/classify
//       curl --data-binary @bee.jpg http://127.0.0.1:5080/insects/predict?top=2
using Microsoft.AspNetCore.Mvc;
using MlNetTransfer.Serving;
using MlNetTransfer.Serving.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
// One named model; swapped in place when the zip is replaced (requests in flight finish on the old one).
builder.Services.AddImageClassifier("insects", builder.Configuration["Model"] ?? "model.zip", o => o.ReloadOnChange = true);
var app = builder.Build();
app.Services.GetRequiredService<ImageClassifierPool>(); // load now: a bad zip stops the app at start, not at the first request

// Your own endpoint: inject the model by name and predict from the upload's stream.
app.MapPost("/classify", (IFormFile photo, [FromKeyedServices("insects")] IImageClassifier insects) =>
{
    using var stream = photo.OpenReadStream();
    try
    {
        var prediction = insects.Predict(stream, photo.FileName);
        return Results.Ok(new { prediction.Label, prediction.Confidence });
    }
    catch (InvalidImageException e) // empty, not an image, truncated, GIF, too many pixels
    {
        return Results.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest);
    }
}).DisableAntiforgery();

// Or the ready-made API: POST /insects/predict, POST /insects/predict/batch, GET /insects/model, GET /insects/health.
app.MapGroup("/insects").MapImageClassifierApi("insects");

app.Run();
