using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Serving;
using MlNetTransfer.Tests.TestSupport;

namespace MlNetTransfer.Tests.Serving;

public sealed class ImageClassifierTests(ServingFixture fixture) : IClassFixture<ServingFixture>
{
    [Fact]
    public void EveryKindOfInputScoresLikeTheWholeSavedChain()
    {
        // Reference: plain ML.NET on the saved zip, LoadImages reading the file itself.
        var ml = new MLContext();
        var chain = ml.Model.Load(fixture.ModelA, out _);
        using var reference = ml.Model.CreatePredictionEngine<ImageFeaturizer.ImagePathRow, ScoreRow>(chain);
        using var classifier = ImageClassifier.Load(fixture.ModelA);
        foreach (var path in fixture.Probes)
        {
            var expected = reference.Predict(new ImageFeaturizer.ImagePathRow { ImagePath = path });
            using var stream = File.OpenRead(path);
            using var image = MLImage.CreateFromFile(path);
            var predictions = new[]
            {
                classifier.Predict(path),
                classifier.Predict(stream, "upload"),
                classifier.Predict(File.ReadAllBytes(path)),
                classifier.Predict(image),
            };
            foreach (var p in predictions)
            {
                Assert.Equal(expected.PredictedLabel, p.Label);
                Assert.Equal(expected.Score, p.Scores.Select(s => s.Value).ToArray());
            }
            Assert.Equal(path, predictions[0].ImagePath);
            Assert.Equal("upload", predictions[1].ImagePath);
            Assert.Equal(80, image.Width); // the caller's image is still usable: Predict did not dispose it
        }
    }

    [Fact]
    public void TopKIsOrderedAndBatchEqualsSinglePredictions()
    {
        using var classifier = ImageClassifier.Load(fixture.ModelA);
        Assert.Equal(MlNetTransfer.Data.SyntheticImageDataset.Classes, classifier.Classes);
        var batch = classifier.PredictBatch(fixture.Probes);
        Assert.Equal(fixture.Probes.Length, batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var single = classifier.Predict(fixture.Probes[i]);
            Assert.Equal(single.Scores, batch[i].Scores);
            Assert.Equal(Path.GetFullPath(fixture.Probes[i]), batch[i].ImagePath);
            var top = batch[i].Top(2);
            Assert.Equal(2, top.Count);
            Assert.Equal(batch[i].Label, top[0].Key);
            Assert.Equal(batch[i].Confidence, top[0].Value);
            Assert.True(top[0].Value >= top[1].Value);
            Assert.Equal(1.0, batch[i].Scores.Sum(s => s.Value), 3);
        }
        // The shapes are easy: most probes are labelled with their folder's class.
        var right = batch.Count(p => Path.GetFileName(Path.GetDirectoryName(p.ImagePath)) == p.Label);
        Assert.True(right >= 9, $"{right}/12 right");
    }

    public static TheoryData<string, ImageProblem, string> BadInputs => new()
    {
        { "empty", ImageProblem.Empty, "empty" },
        { "text", ImageProblem.NotAnImage, "text file" },
        { "pdf", ImageProblem.NotAnImage, "PDF" },
        { "gif", ImageProblem.UnsupportedFormat, "GIF" },
        { "tiff", ImageProblem.UnsupportedFormat, "TIFF" },
        { "truncated-jpeg", ImageProblem.Corrupt, "truncated JPEG" },
        { "png-bomb", ImageProblem.TooManyPixels, "40000x40000" },
    };

    internal static byte[] Bad(string kind, ServingFixture fixture) => kind switch
    {
        "empty" => BadImages.Empty,
        "text" => BadImages.Text,
        "pdf" => BadImages.Pdf,
        "gif" => BadImages.Gif,
        "tiff" => BadImages.Tiff,
        "truncated-jpeg" => BadImages.TruncatedJpeg(fixture.Jpeg),
        "png-bomb" => BadImages.PngBomb(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadImagesAreRefusedWithTheirReason(string kind, ImageProblem problem, string says)
    {
        using var classifier = ImageClassifier.Load(fixture.ModelA);
        var bytes = Bad(kind, fixture);
        var e = Assert.Throws<InvalidImageException>(() => classifier.Predict(bytes, "upload.bin"));
        Assert.Equal(problem, e.Problem);
        Assert.Contains(says, e.Message);
        Assert.StartsWith("upload.bin: ", e.Message);

        using var dir = new TempDirectory();
        var file = dir.Combine("photo.jpg");
        File.WriteAllBytes(file, bytes);
        var fromFile = Assert.Throws<InvalidImageException>(() => classifier.Predict(file));
        Assert.Equal(problem, fromFile.Problem);
        Assert.StartsWith(file, fromFile.Message);
        // The classifier still works after refusing.
        Assert.Equal(3, classifier.Predict(fixture.Png).Scores.Count);
    }

    [Fact]
    public void ThePixelLimitIsAnOption()
    {
        using var strict = ImageClassifier.Load(fixture.ModelA, new ImageClassifierOptions { MaxImagePixels = 64 * 64 });
        var e = Assert.Throws<InvalidImageException>(() => strict.Predict(fixture.Png)); // 80×80
        Assert.Equal(ImageProblem.TooManyPixels, e.Problem);
        Assert.Contains("80x80", e.Message);
    }

    [Fact]
    public void MissingFileIsAnErrorNamingIt()
    {
        using var classifier = ImageClassifier.Load(fixture.ModelA);
        var missing = fixture.Combine("nope.jpg");
        var e = Assert.Throws<MlNetTransferException>(() => classifier.Predict(missing));
        Assert.Equal($"{missing}: file not found.", e.Message);
        Assert.Throws<MlNetTransferException>(() => classifier.PredictBatch([fixture.Png, missing]));
    }

    [Fact]
    public void ConcurrentPredictionsEqualSequentialOnes()
    {
        // Two retained engines for eight threads: the pool also creates and drops extra engines under contention.
        using var classifier = ImageClassifier.Load(fixture.ModelA, new ImageClassifierOptions { MaximumRetainedEngines = 2 });
        var inputs = fixture.Probes.Select(File.ReadAllBytes).ToArray();
        var sequential = inputs.Select(b => classifier.Predict(b).Scores.Select(s => s.Value).ToArray()).ToArray();

        const int threads = 8, rounds = 3;
        var results = new float[threads][][];
        var errors = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                var mine = new float[inputs.Length][];
                for (var r = 0; r < rounds; r++)
                    for (var k = 0; k < inputs.Length; k++)
                    {
                        var i = (k * 5 + t + r) % inputs.Length; // every thread walks the images in its own order
                        var scores = classifier.Predict(inputs[i]).Scores.Select(s => s.Value).ToArray();
                        if (mine[i] is { } seen && !seen.SequenceEqual(scores)) throw new Exception($"image {i} scored differently twice");
                        mine[i] = scores;
                    }
                results[t] = mine;
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => Assert.True(w.Join(TimeSpan.FromMinutes(1))));
        Assert.Empty(errors);
        foreach (var perThread in results)
            for (var i = 0; i < inputs.Length; i++)
                Assert.Equal(sequential[i], perThread[i]);
    }

    [Fact]
    public void MetadataIsReadableWithoutPredicting()
    {
        var metadata = ModelMetadata.Read(fixture.ModelA)!;
        Assert.Equal(MlNetTransfer.Data.SyntheticImageDataset.Classes, metadata.Classes);
        Assert.Equal("synthetic-cnn", metadata.Backbone);
        Assert.Equal(64, metadata.InputWidth);
        Assert.Equal(ProductVersion.Current, metadata.Version);
        Assert.True(metadata.Metrics["accuracy"] > 0.5);
        using var classifier = ImageClassifier.Load(fixture.ModelA);
        Assert.Equal(metadata.Classes, classifier.Metadata.Classes);
        Assert.Equal(64, classifier.ModelSha256.Length);
        Assert.Equal(Path.GetFullPath(fixture.ModelA), classifier.ModelPath);
    }

    [Fact]
    public void FilesThatAreNotImageModelsAreRefusedAtLoad()
    {
        using var dir = new TempDirectory();
        var garbage = dir.Combine("garbage.zip");
        File.WriteAllBytes(garbage, "not a zip at all"u8.ToArray());
        var e = Assert.Throws<MlNetTransferException>(() => ImageClassifier.Load(garbage));
        Assert.StartsWith($"{garbage}: not a readable ML.NET model", e.Message);

        var truncated = dir.Combine("truncated.zip");
        var bytes = File.ReadAllBytes(fixture.ModelA);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.StartsWith($"{truncated}: ", Assert.Throws<MlNetTransferException>(() => ImageClassifier.Load(truncated)).Message);

        var otherZip = dir.Combine("other.zip");
        using (var zip = ZipFile.Open(otherZip, ZipArchiveMode.Create)) zip.CreateEntry("readme.txt");
        Assert.StartsWith($"{otherZip}: ", Assert.Throws<MlNetTransferException>(() => ImageClassifier.Load(otherZip)).Message);

        Assert.Equal($"{dir.Combine("none.zip")}: model file not found.",
            Assert.Throws<MlNetTransferException>(() => ImageClassifier.Load(dir.Combine("none.zip"))).Message);
    }

    [Fact]
    public void ACallersImageStaysTheCallers()
    {
        // ML.NET's resize step passes an image that already has the model's input size straight on, and disposes it
        // on the next prediction: the classifier must not let that happen to an image it does not own.
        var classifier = ImageClassifier.Load(fixture.ModelA, new ImageClassifierOptions { MaximumRetainedEngines = 1 });
        using var exact = MLImage.CreateFromFile(fixture.TrainingImage);
        Assert.Equal(64, exact.Width);
        using var other = MLImage.CreateFromFile(fixture.Png);
        var first = classifier.Predict(exact);
        classifier.Predict(other);
        Assert.Equal(first.Scores, classifier.Predict(exact).Scores);
        classifier.Predict(other);
        classifier.Dispose();
        Assert.Equal(64, exact.Width);
        Assert.Equal(80, other.Width);
    }

    [Fact]
    public void ADisposedClassifierRefusesToPredict()
    {
        var classifier = ImageClassifier.Load(fixture.ModelA);
        classifier.Dispose();
        classifier.Dispose();
        Assert.Throws<ObjectDisposedException>(() => classifier.Predict(fixture.Png));
    }

    private sealed class ScoreRow
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = [];
    }
}
