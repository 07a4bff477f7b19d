using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MlNetTransfer.Serving;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Serving;

public sealed class ReloadingImageClassifierTests(ServingFixture fixture) : IClassFixture<ServingFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>Each probe's scores under model A and under model B (they differ).</summary>
    private (float[][] A, float[][] B) Expected()
    {
        using var a = ImageClassifier.Load(fixture.ModelA);
        using var b = ImageClassifier.Load(fixture.ModelB);
        var sa = fixture.Probes.Select(p => Scores(a.Predict(p))).ToArray();
        var sb = fixture.Probes.Select(p => Scores(b.Predict(p))).ToArray();
        Assert.False(sa.Zip(sb).All(x => x.First.SequenceEqual(x.Second)), "the two test models must score differently");
        return (sa, sb);
    }

    private static float[] Scores(ImagePrediction p) => p.Scores.Select(s => s.Value).ToArray();

    private static void Replace(string target, string source) => AtomicFile.Write(target, tmp => File.Copy(source, tmp, overwrite: true));

    [Fact]
    public void AChangedFileIsSwappedInAndACorruptOneIsRefusedWhileTheOldModelKeepsServing()
    {
        var (a, b) = Expected();
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        File.Copy(fixture.ModelA, zip);
        var log = new ListLogger();
        using var model = new ReloadingImageClassifier(zip, new ImageClassifierOptions { ReloadOnChange = true, ReloadDelay = TimeSpan.FromMilliseconds(100) }, log, "shapes");
        Assert.Equal(1, model.Generation);
        Assert.Equal(a[0], Scores(model.Predict(fixture.Probes[0])));

        using var reloaded = new ManualResetEventSlim();
        model.Reloaded += (_, _) => reloaded.Set();
        Replace(zip, fixture.ModelB); // written beside, renamed into place: what 'train' does
        Assert.True(reloaded.Wait(Patience), "no reload after the file changed");
        Assert.Equal(2, model.Generation);
        Assert.Null(model.LastReloadError);
        for (var i = 0; i < fixture.Probes.Length; i++) Assert.Equal(b[i], Scores(model.Predict(fixture.Probes[i])));
        Assert.Contains(log.At(LogLevel.Information), m => m.Contains("reloaded") && m.Contains("generation 2"));

        File.WriteAllBytes(zip, "this is not a model"u8.ToArray()); // overwritten in place with garbage
        var deadline = DateTime.UtcNow + Patience;
        while (model.LastReloadError is null && DateTime.UtcNow < deadline) Thread.Sleep(50);
        Assert.NotNull(model.LastReloadError);
        Assert.Contains(zip, model.LastReloadError);
        Assert.Contains(log.At(LogLevel.Error), m => m.Contains("reload refused") && m.Contains(zip) && m.Contains("generation 2"));
        Assert.Equal(2, model.Generation);
        for (var i = 0; i < fixture.Probes.Length; i++) Assert.Equal(b[i], Scores(model.Predict(fixture.Probes[i])));

        // A good file again: the error clears.
        reloaded.Reset();
        Replace(zip, fixture.ModelA);
        Assert.True(reloaded.Wait(Patience));
        Assert.Equal(3, model.Generation);
        Assert.Null(model.LastReloadError);
        Assert.Equal(a[0], Scores(model.Predict(fixture.Probes[0])));
    }

    [Fact]
    public void ReloadingTheSameBytesChangesNothing()
    {
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        File.Copy(fixture.ModelA, zip);
        using var model = new ReloadingImageClassifier(zip);
        File.SetLastWriteTimeUtc(zip, DateTime.UtcNow.AddMinutes(1));
        Assert.False(model.Reload());
        Assert.Equal(1, model.Generation);
        Assert.Null(model.LastReloadError);
    }

    [Fact]
    public void ACallRunningDuringASwapFinishesOnTheOldModel()
    {
        var (a, b) = Expected();
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        File.Copy(fixture.ModelA, zip);
        using var model = new ReloadingImageClassifier(zip);
        ImageClassifier? old = null;
        var during = model.Use(current =>
        {
            old = current;
            Replace(zip, fixture.ModelB);
            Assert.True(model.Reload()); // swapped while this call still holds the old model
            Assert.Equal(b[0], Scores(model.Predict(fixture.Probes[0]))); // new calls get the new model
            return Scores(current.Predict(fixture.Probes[0]));               // this one finishes on the old
        });
        Assert.Equal(a[0], during);
        // The old model was disposed when its last call returned.
        Assert.Throws<ObjectDisposedException>(() => old!.Predict(fixture.Probes[0]));
        Assert.Equal(b[0], Scores(model.Predict(fixture.Probes[0])));
    }

    [Fact]
    public void ReloadsUnderConcurrentRequestsNeverFailOrMixAnswers()
    {
        var (a, b) = Expected();
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        File.Copy(fixture.ModelA, zip);
        var log = new ListLogger();
        using var model = new ReloadingImageClassifier(zip, new ImageClassifierOptions { MaximumRetainedEngines = 2 }, log);
        var inputs = fixture.Probes.Select(File.ReadAllBytes).ToArray();

        var errors = new ConcurrentQueue<string>();
        var done = 0;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            // Bounded: at most 20,000 predictions per thread, or until the swaps are over.
            for (var n = 0; n < 20_000 && !stop.IsCancellationRequested; n++)
            {
                var i = (n + t) % inputs.Length;
                try
                {
                    var s = Scores(model.Predict(inputs[i]));
                    if (!s.SequenceEqual(a[i]) && !s.SequenceEqual(b[i])) errors.Enqueue($"image {i}: scores from neither model");
                }
                catch (Exception e)
                {
                    errors.Enqueue(e.ToString());
                }
                Interlocked.Increment(ref done);
            }
        })).ToList();
        workers.ForEach(w => w.Start());

        var swaps = 0;
        foreach (var next in new[] { fixture.ModelB, fixture.ModelA, fixture.ModelB, fixture.ModelA, fixture.ModelB })
        {
            var before = Volatile.Read(ref done);
            Replace(zip, next);
            Assert.True(model.Reload());
            swaps++;
            // A refused file in between: requests keep flowing on the current model.
            File.WriteAllBytes(dir.Combine("broken.zip"), [1, 2, 3]);
            Replace(zip, dir.Combine("broken.zip"));
            Assert.False(model.Reload());
            Replace(zip, next);
            var deadline = DateTime.UtcNow + Patience;
            while (Volatile.Read(ref done) < before + 20 && DateTime.UtcNow < deadline) Thread.Sleep(5); // let requests overlap each model
        }
        stop.Cancel();
        workers.ForEach(w => Assert.True(w.Join(Patience)));

        Assert.Empty(errors);
        Assert.Equal(6, model.Generation);
        Assert.Equal(5, swaps);
        Assert.Equal(5, log.At(LogLevel.Error).Count());
        Assert.True(done >= 100, $"only {done} predictions ran");
        for (var i = 0; i < inputs.Length; i++) Assert.Equal(b[i], Scores(model.Predict(inputs[i])));
    }

    [Fact]
    public void ABadFileAtStartIsAnErrorNamingIt()
    {
        using var dir = new TempDirectory();
        var zip = dir.Combine("model.zip");
        File.WriteAllBytes(zip, [0x50, 0x4B, 0x03, 0x04]);
        var e = Assert.Throws<MlNetTransferException>(() => new ReloadingImageClassifier(zip));
        Assert.StartsWith(zip, e.Message);
    }

    [Fact]
    public void DisposedHolderRefusesCalls()
    {
        var model = new ReloadingImageClassifier(fixture.ModelA, new ImageClassifierOptions { ReloadOnChange = true });
        model.Dispose();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Predict(fixture.Png));
        Assert.False(model.Reload());
    }
}
