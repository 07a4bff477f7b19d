using MlNetTransfer.Featurization;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Pipeline;

public class EmbeddingCacheTests
{
    private const string Backbone = "0123abcd";
    private static readonly string Image = new('a', 64);

    [Fact]
    public void Embeddings_survive_a_flush_and_a_reopen()
    {
        using var dir = new TempDirectory("mlnt-emb");
        var cache = new EmbeddingCache(dir.Path, Backbone);
        cache.Add(Image, [1f, 2f, 3f]);
        cache.Flush();
        var again = new EmbeddingCache(dir.Path, Backbone);
        Assert.True(again.TryGet(Image, out var embedding));
        Assert.Equal([1f, 2f, 3f], embedding);
    }

    [Fact]
    public void A_file_written_from_ml_net_5s_pixels_is_not_reused()
    {
        // The ML.NET 5 layout ("MEMB", dimension, count, records): the same images resize to other pixels under ML.NET 6.
        using var dir = new TempDirectory("mlnt-emb");
        var path = Path.Combine(dir.Path, Backbone + ".emb");
        using (var w = new BinaryWriter(File.Create(path)))
        {
            w.Write(0x424D454Du);
            w.Write(3);
            w.Write(1);
            w.Write(Convert.FromHexString(Image));
            foreach (var v in new[] { 1f, 2f, 3f }) w.Write(v);
        }
        var cache = new EmbeddingCache(dir.Path, Backbone);
        Assert.Equal(0, cache.Count);
        Assert.False(cache.TryGet(Image, out _));
        cache.Add(Image, [4f, 5f, 6f]);
        cache.Flush();
        Assert.True(new EmbeddingCache(dir.Path, Backbone).TryGet(Image, out var rebuilt));
        Assert.Equal([4f, 5f, 6f], rebuilt);
    }
}
