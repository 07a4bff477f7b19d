using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlNetTransfer.Serving;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Serving;

public sealed class ServiceCollectionTests(ServingFixture fixture) : IClassFixture<ServingFixture>
{
    [Fact]
    public void NamedAndDefaultModelsResolveByNameKeyAndInterface()
    {
        var log = new ListLogger();
        var services = new ServiceCollection().AddLogging(b => b.AddProvider(log));
        services.AddImageClassifier(fixture.ModelA);
        services.AddImageClassifier("b", fixture.ModelB);
        services.AddImageClassifier("strict", fixture.ModelA, o => o.MaxImagePixels = 64 * 64);
        using var provider = services.BuildServiceProvider();

        var pool = provider.GetRequiredService<ImageClassifierPool>();
        Assert.Equal(["", "b", "strict"], pool.ModelNames.Order());
        Assert.Same(pool.Get(), provider.GetRequiredService<IImageClassifier>());
        Assert.Same(pool.Get(), provider.GetRequiredKeyedService<IImageClassifier>(""));
        Assert.Same(pool.Get("b"), provider.GetRequiredKeyedService<IImageClassifier>("b"));

        using var a = ImageClassifier.Load(fixture.ModelA);
        using var b = ImageClassifier.Load(fixture.ModelB);
        var png = File.ReadAllBytes(fixture.Png);
        Assert.Equal(a.Predict(png).Scores, provider.GetRequiredService<IImageClassifier>().Predict(png).Scores);
        Assert.Equal(b.Predict(png).Scores, provider.GetRequiredKeyedService<IImageClassifier>("b").Predict(png).Scores);
        using (var stream = File.OpenRead(fixture.Png)) Assert.Equal(b.Predict(png).Scores, pool.Predict("b", stream).Scores);

        // Each name has its own options: "strict" refuses the 80×80 probe that the default model (same zip) accepts.
        var refused = Assert.Throws<InvalidImageException>(() => pool.Get("strict").Predict(png));
        Assert.Equal(ImageProblem.TooManyPixels, refused.Problem);
        Assert.Contains("80x80 = 6,400 pixels, more than the 4,096 allowed", refused.Message);
        Assert.Equal(MlNetTransfer.Data.SyntheticImageDataset.Classes, pool.Get("b").Metadata.Classes);
        Assert.Contains(log.At(LogLevel.Information), m => m.Contains("b.zip") && m.Contains("loaded"));

        var unknown = Assert.Throws<MlNetTransferException>(() => pool.Get("c"));
        Assert.Contains("'c'", unknown.Message);
        Assert.Contains("'b'", unknown.Message);
    }

    [Fact]
    public void OnlyNamedModelsMeansNoUnkeyedClassifier()
    {
        using var provider = new ServiceCollection().AddImageClassifier("a", fixture.ModelA).BuildServiceProvider();
        Assert.Null(provider.GetService<IImageClassifier>());
        Assert.NotNull(provider.GetRequiredKeyedService<IImageClassifier>("a"));
    }

    [Fact]
    public void TheSameNameTwiceIsRefused()
    {
        var services = new ServiceCollection().AddImageClassifier("a", fixture.ModelA);
        var e = Assert.Throws<MlNetTransferException>(() => services.AddImageClassifier("a", fixture.ModelB));
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void ABadZipFailsWhenThePoolIsResolvedAndNamesTheFile()
    {
        using var dir = new TempDirectory();
        var missing = dir.Combine("missing.zip");
        using var provider = new ServiceCollection().AddImageClassifier(fixture.ModelA).AddImageClassifier("x", missing).BuildServiceProvider();
        var e = Assert.Throws<MlNetTransferException>(() => provider.GetRequiredService<ImageClassifierPool>());
        Assert.Equal($"{missing}: model file not found.", e.Message);
    }

    [Fact]
    public void DisposingTheContainerReleasesTheModels()
    {
        var provider = new ServiceCollection().AddImageClassifier(fixture.ModelA).BuildServiceProvider();
        var model = provider.GetRequiredService<IImageClassifier>();
        Assert.Equal(3, model.Predict(fixture.Png).Scores.Count);
        provider.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Predict(fixture.Png));
    }
}
