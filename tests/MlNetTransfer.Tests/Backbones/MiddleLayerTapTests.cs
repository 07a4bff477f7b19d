using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Tests.TestSupport;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;

namespace MlNetTransfer.Tests.Backbones;

public class MiddleLayerTapTests
{
    private static readonly BackboneSpec SmallSpec = new() { Name = "small", InputHeight = 32, InputWidth = 32 };

    private static PreparedBackbone FourBlocks() =>
        BackbonePreparer.Prepare(OnnxModelBuilder.SmallCnn(inputSize: 32, channels: [8, 16, 24, 32]), SmallSpec);

    [Fact]
    public void The_tap_pools_the_block_outputs_at_each_depth_side_by_side_and_keeps_the_embedding()
    {
        var backbone = FourBlocks();
        var tap = BackbonePreparer.TapMiddleLayers(backbone, [0.5, 0.3, 0.8, 0.55])!;

        // Four convolutions. Of the tensors between one conv and the next, the block's finished output (after ReLU and
        // max-pooling) is tapped; 0.5 and 0.55 land on the same block, tapped once; the layers come in graph order.
        Assert.Equal(["block1/pool", "block2/pool", "block3/pool"], tap.Layers.Select(l => l.Tensor));
        Assert.Equal([(1, 0, 8), (2, 8, 16), (3, 24, 24)], tap.Layers.Select(l => (l.LayersBefore, l.Offset, l.Size)));
        Assert.All(tap.Layers, l => Assert.Equal(4, l.Layers));
        Assert.Equal([0.25, 0.5, 0.75], tap.Layers.Select(l => l.Depth));
        Assert.Equal(48, tap.Size);
        Assert.Equal(["embedding", "middle"], tap.FeaturizerModel.Graph.Output.Select(o => o.Name));
        Assert.Equal(OnnxModelFile.Sha256(tap.FeaturizerBytes), tap.Sha256);
        Assert.NotEqual(backbone.Sha256, tap.Sha256);

        // Each slice of the middle output is the spatial mean of its tensor, computed here from the tensor itself; the
        // embedding is unchanged.
        var pixels = TinyModels.RandomPixels(3, 32, 32, 5);
        var exposed = backbone.FeaturizerModel.Clone();
        var maps = new[] { ("block1/pool", 8, 16), ("block2/pool", 16, 8), ("block3/pool", 24, 4) };
        foreach (var (name, c, side) in maps) exposed.Graph.Output.Add(OnnxNodes.TensorValue(name, DataType.Float, -1, c, side, side));
        var reference = OrtRunner.Run(exposed, ("pixels", pixels));
        var tapped = OrtRunner.Run(tap.FeaturizerModel, ("pixels", pixels));
        Assert.Equal([3L, 48], tapped["middle"].Dims);
        var rows = Enumerable.Range(0, 3).Select(i => tapped["middle"].Values.AsSpan(i * 48, 48).ToArray()).ToArray();
        var slices = tap.Split(rows);
        for (int k = 0; k < maps.Length; k++)
        {
            var (name, c, side) = maps[k];
            Assert.Equal([3L, c, side, side], reference[name].Dims);
            TinyModels.AssertClose(TinyModels.SpatialMean(reference[name].Values, 3, c, side * side), slices[k].SelectMany(r => r).ToArray(), 1e-5f);
        }
        Assert.Equal(reference["embedding"].Values, tapped["embedding"].Values);
        Assert.Equal(["embedding"], backbone.FeaturizerModel.Graph.Output.Select(o => o.Name));

        // One depth: the pooled layer is the output itself.
        var one = BackbonePreparer.TapMiddleLayers(backbone, [0.5])!;
        Assert.Equal("block2/pool", Assert.Single(one.Layers).Tensor);
        Assert.Equal([3L, 16], OrtRunner.Run(one.FeaturizerModel, ("pixels", pixels))["middle"].Dims);
        Assert.Contains("has 5 values; the tap's output has 16", Assert.Throws<MlNetTransferException>(() => one.Split([new float[5]])).Message);
    }

    [Fact]
    public void Boundaries_lie_between_blocks_not_inside_a_residual_one()
    {
        // conv1 → relu (a) → conv2 → relu (b) → add(a, b) → conv3: while b is computed, a is still alive for the skip.
        var g = new OnnxModelBuilder(seed: 1);
        var x = g.Input("input", DataType.Float, -1, 3, 8, 8);
        var a = g.Relu("a", g.Conv("conv1", x, 3, 4, bias: false));
        var b = g.Relu("b", g.Conv("conv2", a, 4, 4, bias: false));
        var sum = g.Node("Add", "add", [a, b]);
        var y = g.Flatten("flat", g.GlobalAveragePool("gap", g.Conv("conv3", sum, 4, 6, bias: false)), output: "features");
        var model = g.Output(y, DataType.Float, -1, 6).Build();

        var boundaries = OnnxLayerBoundaries.Find(model.Graph);
        var names = boundaries.Select(b => b.Tensor).ToList();
        Assert.Contains(a, names);
        Assert.Contains(sum, names);
        Assert.DoesNotContain(b, names);
        Assert.DoesNotContain(model.Graph.Node.Single(n => n.Name == "conv2").Output[0], names);
        Assert.Equal((1, 3), boundaries.Where(x => x.Tensor == a).Select(x => (x.LayersBefore, x.Layers)).Single());
        Assert.Equal(2, boundaries.Single(x => x.Tensor == sum).LayersBefore);
    }

    [Fact]
    public void A_network_with_no_map_between_its_layers_has_no_middle_and_a_bad_depth_is_refused()
    {
        // One convolution: nothing lies between a first and a last layer.
        var oneLayer = BackbonePreparer.Prepare(TinyModels.Quantized(4, 5), new BackboneSpec { Name = "tiny-int8", InputHeight = 4, InputWidth = 5 });
        Assert.Null(BackbonePreparer.TapMiddleLayers(oneLayer, [0.5]));
        foreach (var depth in new[] { 0.0, 1.0, -0.2, double.NaN })
            Assert.Contains("depth is", Assert.Throws<MlNetTransferException>(() => BackbonePreparer.TapMiddleLayers(FourBlocks(), [0.5, depth])).Message);
        Assert.Contains("no depth", Assert.Throws<MlNetTransferException>(() => BackbonePreparer.TapMiddleLayers(FourBlocks(), [])).Message);
    }

    [Fact]
    public void Featurization_returns_one_pooled_middle_row_per_image_from_the_same_pass_and_caches_it()
    {
        using var dir = new TestSupport.TempDirectory();
        var images = Directory.GetFiles(SyntheticImageDataset.Write(dir.Combine("shapes"), imagesPerClass: 3, size: 40, seed: 4), "*", SearchOption.AllDirectories).Order().ToList();
        var backbone = FourBlocks();
        var tap = BackbonePreparer.TapMiddleLayers(backbone, [0.5, 0.75])!;
        var ml = new MLContext(0);
        var options = new ImageFeaturizerOptions { CacheDirectory = dir.Combine("cache"), DegreeOfParallelism = 2 };

        // The embeddings alone first: the cache then holds embeddings but no middle rows, so the tapped run must compute.
        var plain = new EmbeddingExtractor(ml, ImageFeaturizer.FitForBulk(ml, backbone, options), backbone.Sha256, options).Extract(images);
        var extractor = new EmbeddingExtractor(ml, ImageFeaturizer.FitForBulk(ml, backbone, options, tap), backbone.Sha256, options, tap);
        var (embeddings, middle) = extractor.ExtractWithMiddle(images);
        Assert.Equal(0, extractor.LastCacheHits);
        Assert.Equal(plain, embeddings);
        Assert.NotNull(middle);
        Assert.Equal(images.Count, middle!.Length);
        Assert.All(middle, row => Assert.Equal(tap.Size, row.Length));
        Assert.NotEqual(middle[0], middle[^1]);

        // A second extractor reads both from the cache.
        var again = new EmbeddingExtractor(ml, ImageFeaturizer.FitForBulk(ml, backbone, options, tap), backbone.Sha256, options, tap);
        var (cachedEmbeddings, cachedMiddle) = again.ExtractWithMiddle(images);
        Assert.Equal(images.Count, again.LastCacheHits);
        Assert.Equal(embeddings, cachedEmbeddings);
        Assert.Equal(middle, cachedMiddle);
    }
}
