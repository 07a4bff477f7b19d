using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using MlNetTransfer.Serving.AspNetCore;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Serving;

/// <summary>The real <c>mlnet-transfer serve</c> process on 127.0.0.1 with a free port.</summary>
public sealed partial class ServeCommandTests(ServingFixture fixture) : IClassFixture<ServingFixture>
{
    [Fact]
    public async Task ServeAnswersOnLoopbackAndStopsGracefullyOnSigterm()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = fixture.Root };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "mlnet-transfer.dll"), "serve", "--model", fixture.ModelA, "--port", "0" })
            psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        // ASP.NET Core's own log lines for the moments the graceful stop is about (a request has reached the app; the stop
        // began), so the test waits for them instead of guessing with sleeps. Configuration outranks the server's
        // "Microsoft: Warning" filter because these categories are more specific.
        psi.Environment["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information";
        psi.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        using var process = Process.Start(psi)!;
        var stdout = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var requestsStarted = 0;
        var fourthRequest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            stdout.Enqueue(e.Data);
            if (ListeningLine().Match(e.Data) is { Success: true } m) listening.TrySetResult(m.Groups[1].Value);
            // GET /health, two POSTs, then the gated upload.
            if (e.Data.Contains("Request starting", StringComparison.Ordinal) && Interlocked.Increment(ref requestsStarted) == 4) fourthRequest.TrySetResult();
            if (e.Data.Contains("Application is shutting down", StringComparison.Ordinal)) stopping.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) stdout.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var started = await Task.WhenAny(listening.Task, Task.Delay(TimeSpan.FromMinutes(1)));
            Assert.True(started == listening.Task, "no 'Listening on' line:\n" + string.Join('\n', stdout));
            var url = await listening.Task;
            Assert.StartsWith("http://127.0.0.1:", url);

            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
            var health = await http.GetFromJsonAsync<HealthResponse>("/health", new JsonSerializerOptions(JsonSerializerDefaults.Web));
            Assert.Equal("healthy", health!.Status);
            using var library = ImageClassifier.Load(fixture.ModelA);
            var png = await File.ReadAllBytesAsync(fixture.Png);
            var response = await http.PostAsync("/predict", new ByteArrayContent(png));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answer = await response.Content.ReadFromJsonAsync<PredictionResponse>(new JsonSerializerOptions(JsonSerializerDefaults.Web));
            Assert.Equal(library.Predict(png).Scores.Select(s => s.Value), answer!.Score);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await http.PostAsync("/predict", new ByteArrayContent(BadImages.Gif))).StatusCode);

            // A request still uploading when SIGTERM arrives is finished before the server exits.
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var slow = new StreamContent(new GatedStream(png, gate.Task));
            var inFlight = http.PostAsync("/predict", slow);
            await WithinAMinute(fourthRequest.Task, "the gated upload never reached the app", stdout);
            Assert.False(inFlight.IsCompleted);
            Assert.Equal(0, Kill(process.Id, Sigterm));
            await WithinAMinute(stopping.Task, "no sign of the stop after SIGTERM", stdout);
            Assert.False(process.HasExited, "exited with a request in flight");
            gate.SetResult();
            var finished = await inFlight;
            Assert.Equal(HttpStatusCode.OK, finished.StatusCode);
            Assert.Equal(answer.Score, (await finished.Content.ReadFromJsonAsync<PredictionResponse>(new JsonSerializerOptions(JsonSerializerDefaults.Web)))!.Score);

            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "still running 30 s after SIGTERM");
            process.WaitForExit(); // flush the redirected output
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}:\n" + string.Join('\n', stdout));
            Assert.Contains("Stopped.", stdout);
            Assert.Contains(stdout, l => l.Contains("refused: 415 unsupported_format"));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void ServeRefusesAMissingModelWithoutAStackTrace()
    {
        var missing = fixture.Combine("missing.zip");
        var run = CliRunner.Run(fixture.Root, "serve", "--model", missing, "--port", "0");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("model file not found", Regex.Replace(run.StdErr, @"\s+", " ")); // the console wraps long lines
        Assert.DoesNotContain("   at ", run.All);
    }

    private const int Sigterm = 15;

    private static async Task WithinAMinute(Task signal, string failure, IEnumerable<string> output)
    {
        var first = await Task.WhenAny(signal, Task.Delay(TimeSpan.FromMinutes(1)));
        Assert.True(first == signal, failure + ":\n" + string.Join('\n', output));
    }

    /// <summary>Gives the first half of the bytes at once and the rest when the gate opens: an upload in progress.</summary>
    private sealed class GatedStream(byte[] bytes, Task gate) : Stream
    {
        private int _position;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancel = default)
        {
            if (_position >= bytes.Length / 2) await gate.WaitAsync(cancel);
            var end = _position < bytes.Length / 2 ? bytes.Length / 2 : bytes.Length;
            var n = Math.Min(buffer.Length, end - _position);
            bytes.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
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

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [GeneratedRegex(@"Listening on (http://\S+)")]
    private static partial Regex ListeningLine();
}
