using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using MlNetTransfer.Serving;
using MlNetTransfer.Serving.AspNetCore;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Serving;

/// <summary>The server <c>mlnet-transfer serve</c> runs, in process: the same <see cref="ImageClassifierServer.Build"/>,
/// with ASP.NET Core's test server in Kestrel's place.</summary>
public sealed class ServerTests(ServingFixture fixture) : IClassFixture<ServingFixture>
{
    private const long Limit = 256 * 1024;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private async Task<Server> StartAsync(Action<ServeOptions>? configure = null)
    {
        var options = new ServeOptions { ModelPath = fixture.ModelA, Port = 0, MaxImageBytes = Limit, MaxBatchImages = 4 };
        configure?.Invoke(options);
        var app = ImageClassifierServer.Build(options, b => b.WebHost.UseTestServer());
        await app.StartAsync();
        return new Server(app, app.GetTestClient());
    }

    private sealed record Server(WebApplication App, HttpClient Client) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    private static ByteArrayContent Raw(byte[] bytes, string type = "application/octet-stream")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return content;
    }

    private static MultipartFormDataContent Form(params (string Name, byte[] Bytes)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, bytes) in files) form.Add(new ByteArrayContent(bytes), "image", name);
        return form;
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        Assert.DoesNotContain("   at ", body);
        Assert.DoesNotContain("Exception", body);
        return problem;
    }

    [Fact]
    public async Task PredictAnswersTheLibrarysPredictionForRawAndMultipartUploads()
    {
        await using var server = await StartAsync();
        using var library = ImageClassifier.Load(fixture.ModelA);
        foreach (var path in fixture.Probes.Take(4))
        {
            var bytes = File.ReadAllBytes(path);
            var expected = library.Predict(bytes);

            var raw = await server.Client.PostAsync("/predict", Raw(bytes, path.EndsWith(".png") ? "image/png" : "image/jpeg"));
            Assert.Equal(HttpStatusCode.OK, raw.StatusCode);
            var answer = (await raw.Content.ReadFromJsonAsync<PredictionResponse>(Json))!;
            Assert.Equal(expected.Label, answer.PredictedLabel);
            Assert.Equal(expected.Confidence, answer.Confidence);
            Assert.Equal(expected.Scores.Select(s => s.Value), answer.Score);
            Assert.Equal(3, answer.Top.Count); // default top 5, but there are 3 classes
            Assert.Equal(expected.Label, answer.Top[0].Label);
            Assert.Null(answer.FileName);

            var multipart = await server.Client.PostAsync("/predict?top=1", Form((Path.GetFileName(path), bytes)));
            Assert.Equal(HttpStatusCode.OK, multipart.StatusCode);
            var named = (await multipart.Content.ReadFromJsonAsync<PredictionResponse>(Json))!;
            Assert.Equal(Path.GetFileName(path), named.FileName);
            Assert.Equal(answer.Score, named.Score);
            Assert.Equal([new LabelScore(expected.Label, expected.Confidence)], named.Top);
        }
        // The JSON names are the ML.NET ones, camel-cased.
        var json = await (await server.Client.PostAsync("/predict", Raw(File.ReadAllBytes(fixture.Png)))).Content.ReadAsStringAsync();
        var root = JsonDocument.Parse(json).RootElement;
        Assert.Equal(["predictedLabel", "confidence", "score", "top"], root.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task BatchAnswersEveryFileInOrderFromOneModelGeneration()
    {
        await using var server = await StartAsync();
        using var library = ImageClassifier.Load(fixture.ModelA);
        var files = fixture.Probes.Take(4).Select(p => (Path.GetFileName(p), File.ReadAllBytes(p))).ToArray();
        var response = await server.Client.PostAsync("/predict/batch?top=2", Form(files));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var batch = (await response.Content.ReadFromJsonAsync<BatchPredictionResponse>(Json))!;
        Assert.Equal(1, batch.Generation);
        Assert.Equal(files.Select(f => f.Item1), batch.Predictions.Select(p => p.FileName));
        for (var i = 0; i < files.Length; i++)
        {
            Assert.Equal(library.Predict(files[i].Item2).Scores.Select(s => s.Value), batch.Predictions[i].Score);
            Assert.Equal(2, batch.Predictions[i].Top.Count);
        }
    }

    [Fact]
    public async Task ModelAndHealthDescribeTheServingModel()
    {
        await using var server = await StartAsync();
        var model = JsonDocument.Parse(await server.Client.GetStringAsync("/model")).RootElement;
        Assert.Equal("a.zip", model.GetProperty("file").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(fixture.ModelA))), model.GetProperty("sha256").GetString());
        Assert.Equal(1, model.GetProperty("generation").GetInt32());
        Assert.Equal(MlNetTransfer.Data.SyntheticImageDataset.Classes, model.GetProperty("classes").EnumerateArray().Select(c => c.GetString()));
        var metadata = model.GetProperty("metadata");
        Assert.Equal("synthetic-cnn", metadata.GetProperty("backbone").GetString());
        Assert.Equal(64, metadata.GetProperty("inputWidth").GetInt32());
        Assert.True(metadata.GetProperty("metrics").GetProperty("accuracy").GetDouble() > 0.5);
        Assert.DoesNotContain(fixture.Root, model.ToString()); // no server paths

        var health = (await server.Client.GetFromJsonAsync<HealthResponse>("/health", Json))!;
        Assert.Equal("healthy", health.Status);
        Assert.Equal(1, health.Generation);
        Assert.Null(health.LastReloadError);
    }

    public static TheoryData<string, HttpStatusCode, string, string> BadBodies => new()
    {
        { "empty", HttpStatusCode.BadRequest, "empty_image", "empty" },
        { "text", HttpStatusCode.UnsupportedMediaType, "not_an_image", "text file" },
        { "pdf", HttpStatusCode.UnsupportedMediaType, "not_an_image", "PDF" },
        { "gif", HttpStatusCode.UnsupportedMediaType, "unsupported_format", "GIF" },
        { "tiff", HttpStatusCode.UnsupportedMediaType, "unsupported_format", "TIFF" },
        { "truncated-jpeg", HttpStatusCode.BadRequest, "corrupt_image", "truncated JPEG" },
        { "png-bomb", HttpStatusCode.RequestEntityTooLarge, "too_many_pixels", "40000x40000" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task BadImagesGetAClearProblemAnswer(string kind, HttpStatusCode status, string code, string says)
    {
        await using var server = await StartAsync();
        var bytes = ImageClassifierTests.Bad(kind, fixture);

        var raw = await Problem(await server.Client.PostAsync("/predict", Raw(bytes, "image/jpeg")), status, code);
        Assert.Contains(says, raw.GetProperty("detail").GetString());

        var named = await Problem(await server.Client.PostAsync("/predict", Form(("upload.jpg", bytes))), status, code);
        Assert.StartsWith("upload.jpg: ", named.GetProperty("detail").GetString());

        // In a batch, the culprit is named and nothing is answered for the others.
        var batch = await Problem(await server.Client.PostAsync("/predict/batch",
            Form(("good.png", File.ReadAllBytes(fixture.Png)), ("bad.jpg", bytes))), status, code);
        Assert.StartsWith("bad.jpg: ", batch.GetProperty("detail").GetString());

        // The server is fine afterwards.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/predict", Raw(File.ReadAllBytes(fixture.Png)))).StatusCode);
    }

    [Fact]
    public async Task UploadsOverTheSizeLimitGet413()
    {
        await using var server = await StartAsync();
        var big = new byte[Limit + 1];
        new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }.CopyTo(big, 0);

        var declared = await Problem(await server.Client.PostAsync("/predict", Raw(big, "image/jpeg")), HttpStatusCode.RequestEntityTooLarge, "image_too_large");
        Assert.Contains(Limit.ToString(), declared.GetProperty("detail").GetString());

        // No Content-Length (chunked upload): refused once the limit is passed.
        var chunked = new StreamContent(new NonSeekableStream(big));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
        await Problem(await server.Client.PostAsync("/predict", chunked), HttpStatusCode.RequestEntityTooLarge, "image_too_large");

        var multipart = await Problem(await server.Client.PostAsync("/predict", Form(("huge.jpg", big))), HttpStatusCode.RequestEntityTooLarge, "image_too_large");
        Assert.DoesNotContain("   at ", multipart.ToString());

        var batch = await Problem(await server.Client.PostAsync("/predict/batch",
            Form(("small.png", File.ReadAllBytes(fixture.Png)), ("huge.jpg", big[..(int)(Limit / 2)]), ("huge2.jpg", big[..(int)(Limit * 3 / 4)]), ("too-big.jpg", big))),
            HttpStatusCode.RequestEntityTooLarge, "image_too_large");
        Assert.StartsWith("too-big.jpg: ", batch.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task MalformedRequestsGetAClearProblemAnswer()
    {
        await using var server = await StartAsync();
        var png = File.ReadAllBytes(fixture.Png);

        await Problem(await server.Client.PostAsync("/predict/batch", Raw(png)), HttpStatusCode.UnsupportedMediaType, "multipart_required");
        var textOnly = new MultipartFormDataContent { { new StringContent("hello"), "note" } };
        await Problem(await server.Client.PostAsync("/predict/batch", textOnly), HttpStatusCode.BadRequest, "no_image");
        var noFile = new MultipartFormDataContent { { new StringContent("hello"), "note" } };
        await Problem(await server.Client.PostAsync("/predict", noFile), HttpStatusCode.BadRequest, "no_image");
        await Problem(await server.Client.PostAsync("/predict", Form(("a.png", png), ("b.png", png))), HttpStatusCode.BadRequest, "too_many_images");
        await Problem(await server.Client.PostAsync("/predict/batch", Form(Enumerable.Repeat(("a.png", png), 5).ToArray())),
            HttpStatusCode.RequestEntityTooLarge, "too_many_images");

        foreach (var top in new[] { "0", "-1", "abc", "1.5" })
            await Problem(await server.Client.PostAsync($"/predict?top={top}", Raw(png)), HttpStatusCode.BadRequest, "invalid_top");
        var many = (await (await server.Client.PostAsync("/predict?top=99", Raw(png))).Content.ReadFromJsonAsync<PredictionResponse>(Json))!;
        Assert.Equal(3, many.Top.Count);

        var broken = new ByteArrayContent("--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\nabc"u8.ToArray());
        broken.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");
        await Problem(await server.Client.PostAsync("/predict", broken), HttpStatusCode.BadRequest, "malformed_multipart");

        var notFound = await server.Client.GetAsync("/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal("application/problem+json", notFound.Content.Headers.ContentType?.MediaType);
        var wrongMethod = await server.Client.GetAsync("/predict");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Equal("application/problem+json", wrongMethod.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ASlowUploadTimesOutWith504()
    {
        await using var server = await StartAsync(o => o.RequestTimeout = TimeSpan.FromSeconds(1));
        using var stall = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var content = new StreamContent(new StallingStream([0xFF, 0xD8, 0xFF, 0xE0], stall.Token));
        content.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
        var started = DateTime.UtcNow;
        var response = await server.Client.PostAsync("/predict", content, stall.Token);
        var problem = await Problem(response, HttpStatusCode.GatewayTimeout, "timeout");
        Assert.Contains("1 s", problem.GetProperty("detail").GetString());
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 0.9, 20);
        stall.Cancel();
    }

    [Fact]
    public async Task AnUnexpectedFailureIsA500WithoutInternals()
    {
        await using var server = await StartAsync();
        server.App.Services.GetRequiredService<ImageClassifierPool>().Dispose(); // every model now throws ObjectDisposedException
        var response = await server.Client.PostAsync("/predict", Raw(File.ReadAllBytes(fixture.Png)));
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("ObjectDisposed", body);
        Assert.DoesNotContain("   at ", body);
        Assert.DoesNotContain("MlNetTransfer", body);
    }

    [Fact]
    public async Task ConcurrentRequestsGetTheSequentialAnswers()
    {
        await using var server = await StartAsync();
        var inputs = fixture.Probes.Select(File.ReadAllBytes).ToArray();
        var sequential = new List<float[]>();
        foreach (var bytes in inputs)
            sequential.Add((await (await server.Client.PostAsync("/predict", Raw(bytes))).Content.ReadFromJsonAsync<PredictionResponse>(Json))!.Score.ToArray());

        var tasks = Enumerable.Range(0, 48).Select(async n =>
        {
            var i = n % inputs.Length;
            var response = await server.Client.PostAsync("/predict", Raw(inputs[i]));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (i, (await response.Content.ReadFromJsonAsync<PredictionResponse>(Json))!.Score.ToArray());
        }).Select(t => Task.Run(() => t)).ToArray();
        foreach (var (i, score) in await Task.WhenAll(tasks)) Assert.Equal(sequential[i], score);
    }

    [Fact]
    public async Task AWatchedModelReloadsUnderRequestsAndReportsARefusedFile()
    {
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        File.Copy(fixture.ModelA, zip);
        await using var server = await StartAsync(o =>
        {
            o.ModelPath = zip;
            o.ReloadOnChange = true;
        });
        var model = server.App.Services.GetRequiredService<ImageClassifierPool>().Get();
        using var reloaded = new SemaphoreSlim(0);
        model.Reloaded += (_, _) => reloaded.Release();
        var png = File.ReadAllBytes(fixture.Png);
        using var a = ImageClassifier.Load(fixture.ModelA);
        using var b = ImageClassifier.Load(fixture.ModelB);
        var scoresA = a.Predict(png).Scores.Select(s => s.Value).ToArray();
        var scoresB = b.Predict(png).Scores.Select(s => s.Value).ToArray();

        // Requests keep flowing while the file is replaced (bounded: 400 requests at most).
        using var stop = new CancellationTokenSource();
        var statuses = new System.Collections.Concurrent.ConcurrentBag<string>();
        var load = Task.Run(async () =>
        {
            for (var n = 0; n < 400 && !stop.IsCancellationRequested; n++)
            {
                var response = await server.Client.PostAsync("/predict", Raw(png));
                var score = (await response.Content.ReadFromJsonAsync<PredictionResponse>(Json))?.Score.ToArray() ?? [];
                statuses.Add(response.StatusCode == HttpStatusCode.OK && (score.SequenceEqual(scoresA) || score.SequenceEqual(scoresB))
                    ? "ok" : $"{response.StatusCode}");
            }
        });
        AtomicFile.Write(zip, tmp => File.Copy(fixture.ModelB, tmp, overwrite: true));
        Assert.True(await reloaded.WaitAsync(TimeSpan.FromSeconds(20)), "no reload");
        stop.Cancel();
        await load;
        Assert.All(statuses, s => Assert.Equal("ok", s));

        var now = (await (await server.Client.PostAsync("/predict", Raw(png))).Content.ReadFromJsonAsync<PredictionResponse>(Json))!;
        Assert.Equal(scoresB, now.Score);
        Assert.Equal(2, JsonDocument.Parse(await server.Client.GetStringAsync("/model")).RootElement.GetProperty("generation").GetInt32());

        File.WriteAllBytes(zip, [0x50, 0x4B, 0x05, 0x06]); // a broken zip lands: refused, B keeps serving
        var deadline = DateTime.UtcNow.AddSeconds(20);
        HealthResponse health;
        do
        {
            await Task.Delay(50);
            health = (await server.Client.GetFromJsonAsync<HealthResponse>("/health", Json))!;
        } while (health.Status == "healthy" && DateTime.UtcNow < deadline);
        Assert.Equal("degraded", health.Status);
        Assert.Equal(2, health.Generation);
        Assert.Contains("model.zip", health.LastReloadError);
        Assert.Equal(scoresB, (await (await server.Client.PostAsync("/predict", Raw(png))).Content.ReadFromJsonAsync<PredictionResponse>(Json))!.Score);
    }

    [Fact]
    public void ABadModelFailsTheServerAtBuild()
    {
        var missing = fixture.Combine("missing.zip");
        var e = Assert.Throws<MlNetTransferException>(() => ImageClassifierServer.Build(new ServeOptions { ModelPath = missing }, b => b.WebHost.UseTestServer()));
        Assert.Equal($"{missing}: model file not found.", e.Message);
        Assert.Throws<MlNetTransferException>(() => ImageClassifierServer.Build(new ServeOptions { ModelPath = fixture.ModelA, Host = "example.com" }));
    }

    /// <summary>A body of unknown length, so the client sends it chunked.</summary>
    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }

    /// <summary>Sends a few bytes, then nothing until cancelled: a client that stalls mid-upload.</summary>
    private sealed class StallingStream(byte[] first, CancellationToken stall) : Stream
    {
        private bool _sent;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancel = default)
        {
            if (!_sent)
            {
                _sent = true;
                first.CopyTo(buffer);
                return first.Length;
            }
            using var both = CancellationTokenSource.CreateLinkedTokenSource(stall, cancel);
            await Task.Delay(Timeout.Infinite, both.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            return 0;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
