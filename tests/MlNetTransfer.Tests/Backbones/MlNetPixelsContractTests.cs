using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Backbones;

/// <summary>
/// The featurizer's <c>pixels</c> input is defined as what ML.NET's ExtractPixels emits with default options:
/// these tests hold ML.NET to that and run a prepared featurizer inside an ML.NET pipeline.
/// </summary>
public class MlNetPixelsContractTests
{
    private const int H = 5, W = 7;

    private sealed class ImageRow
    {
        [ImageType(H, W)]
        public MLImage Image { get; set; } = null!;
    }

    /// <summary>An image whose R, G, B values differ per pixel and per channel, as BGRA bytes.</summary>
    private static (MLImage Image, FloatTensor Planes) TestImage(int seed)
    {
        var random = new Random(seed);
        var bgra = new byte[H * W * 4];
        var planes = new float[3 * H * W];
        for (int p = 0; p < H * W; p++)
        {
            byte r = (byte)random.Next(256), g = (byte)random.Next(256), b = (byte)random.Next(256);
            (bgra[4 * p], bgra[4 * p + 1], bgra[4 * p + 2], bgra[4 * p + 3]) = (b, g, r, 255);
            (planes[p], planes[H * W + p], planes[2 * H * W + p]) = (r, g, b);
        }
        return (MLImage.CreateFromPixels(W, H, MLPixelFormat.Bgra32, bgra), new FloatTensor(planes, [1, 3, H, W]));
    }

    [Fact]
    public void ExtractPixels_with_defaults_emits_raw_R_G_B_planes()
    {
        var (image, planes) = TestImage(seed: 1);
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable([new ImageRow { Image = image }]);

        var pixels = ml.Transforms.ExtractPixels("pixels", nameof(ImageRow.Image)).Fit(data).Transform(data)
            .GetColumn<float[]>("pixels").Single();

        Assert.Equal(planes.Values, pixels);
    }

    [Fact]
    public void A_prepared_featurizer_runs_in_ApplyOnnxModel_and_matches_onnx_runtime()
    {
        using var dir = new TempDirectory();
        var spec = new BackboneSpec { Name = "pointwise", InputHeight = H, InputWidth = W, ChannelOrder = "BGR", Mean = [0.4f, 0.5f, 0.6f], Std = [0.2f, 0.3f, 0.4f] };
        var prepared = BackbonePreparer.Prepare(TinyModels.Pointwise("NCHW", H, W, pooled: true), spec);
        var path = dir.Combine("featurizer.onnx");
        prepared.SaveFeaturizer(path);
        var images = new[] { TestImage(seed: 2), TestImage(seed: 3) };
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(images.Select(i => new ImageRow { Image = i.Image }));

        var pipeline = ml.Transforms.ExtractPixels(PreparedBackbone.InputName, nameof(ImageRow.Image))
            .Append(ml.Transforms.ApplyOnnxModel([PreparedBackbone.OutputName], [PreparedBackbone.InputName], path));
        var embeddings = pipeline.Fit(data).Transform(data).GetColumn<float[]>(PreparedBackbone.OutputName).ToList();

        Assert.Equal(2, embeddings.Count);
        for (int i = 0; i < images.Length; i++)
        {
            var direct = OrtRunner.Run(prepared.FeaturizerModel, "embedding", "pixels", images[i].Planes);
            var byHand = TinyModels.SpatialMean(TinyModels.PointwiseConv(TinyModels.Normalize(images[i].Planes, spec), 1, H * W), 1, TinyModels.Features, H * W);
            TinyModels.AssertClose(direct.Values, embeddings[i], 1e-6f);
            TinyModels.AssertClose(byHand, embeddings[i], 1e-5f);
        }
    }
}
