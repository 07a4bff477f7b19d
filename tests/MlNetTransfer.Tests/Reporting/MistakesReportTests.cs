using System.Text.RegularExpressions;
using Microsoft.ML;
using MlNetTransfer.Backbones;
using MlNetTransfer.Data;
using MlNetTransfer.FineTuning;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;
using SkiaSharp;

namespace MlNetTransfer.Tests.Reporting;

/// <summary>The report's mistakes section: which images it picks, what it draws, and that a browser shows all of it.</summary>
public sealed class MistakesReportTests(SyntheticFixture fixture) : IClassFixture<SyntheticFixture>
{
    private static MistakesReport.Scored Scored(string path, string label, string predicted, float confidence, float trueProbability) =>
        new(new ImageExample(path, label), predicted, confidence, trueProbability, -Math.Log(Math.Max(trueProbability, 1e-15)));

    [Fact]
    public void Top_losses_are_ordered_by_loss_and_the_gallery_holds_each_classes_most_confident_correct_images()
    {
        string[] classes = ["ant", "bee", "wasp"];
        var set = new[]
        {
            Scored("a1", "ant", "ant", 0.90f, 0.90f),
            Scored("a2", "ant", "bee", 0.70f, 0.20f),   // wrong
            Scored("a3", "ant", "ant", 0.99f, 0.99f),
            Scored("a4", "ant", "ant", 0.60f, 0.60f),
            Scored("b1", "bee", "wasp", 0.95f, 0.01f),  // wrong, the worst
            Scored("b2", "bee", "bee", 0.55f, 0.55f),
            Scored("b0", "bee", "ant", 0.80f, 0.20f),   // wrong, ties a2's loss: path order
            Scored("w1", "wasp", "bee", 0.50f, 0.45f),  // wrong
        };
        var options = new MistakesOptions { TopLosses = 4, CorrectPerClass = 2 };
        var (top, gallery) = MistakesReport.Select(set, classes, options);

        Assert.Equal(["b1", "a2", "b0", "w1"], top.Select(s => s.Example.Path));
        Assert.True(top.Zip(top.Skip(1)).All(p => p.First.Loss >= p.Second.Loss));
        Assert.Equal(classes, gallery.Select(g => g.Class));
        Assert.Equal(["a3", "a1"], gallery[0].Examples.Select(s => s.Example.Path));
        Assert.Equal((3, 4), (gallery[0].Correct, gallery[0].Images));
        Assert.Equal(["b2"], gallery[1].Examples.Select(s => s.Example.Path));
        Assert.Equal((1, 3), (gallery[1].Correct, gallery[1].Images));
        Assert.Empty(gallery[2].Examples);
        Assert.Equal((0, 1), (gallery[2].Correct, gallery[2].Images));

        // Fewer images than asked for: all of them.
        Assert.Equal(set.Length, MistakesReport.Select(set, classes, new MistakesOptions { TopLosses = 50 }).Top.Count);
        Assert.Equal(-Math.Log(0.01), top[0].Loss, 6);
    }

    private string FeatureExtractorZip(TempDirectory dir)
    {
        var options = new TransferLearningOptions
        {
            DataPath = fixture.DataDir,
            Backbone = BackboneResolver.SyntheticName,
            Head = { CrossValidationFolds = 0, MaximumIterations = 3 }, // a weak head, so there are mistakes to show
            Featurizer = { CacheDirectory = fixture.CacheDir },
        };
        var zip = dir.Combine("model.zip");
        new MLContext(1).TransferLearning().Train(options).Save(zip);
        return zip;
    }

    private IReadOnlyList<ImageExample> Held() => Directory.GetDirectories(fixture.DataDir).Order(StringComparer.Ordinal)
        .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Where((_, i) => i % 3 == 0).Select(f => new ImageExample(f, Path.GetFileName(d))))
        .ToList();

    [Fact]
    public void The_section_holds_thumbnails_and_heat_maps_and_says_when_the_engine_is_missing()
    {
        using var dir = new TempDirectory("mlnt-mistakes");
        using var classifier = ImageClassifier.Load(FeatureExtractorZip(dir));
        var held = Held();
        var progress = new List<TrainingProgress>();
        var report = MistakesReport.Build(classifier, held, "validation", new MistakesOptions { TopLosses = 5, CorrectPerClass = 2, ThumbnailSize = 48 },
            new InlineProgress<TrainingProgress>(progress.Add), default, new TorchSharpFineTuningEngine());

        Assert.Equal(held.Count, report.Images);
        Assert.Equal(5, report.TopLosses.Count);
        Assert.NotNull(report.HeatMapLayer);
        Assert.Null(report.HeatMapNote);
        var predictions = held.Select(e => (e, p: classifier.Predict(e.Path))).ToList();
        Assert.Equal(predictions.Count(x => x.p.Label != x.e.Label), report.Wrong);
        var worst = predictions.Select(x => -Math.Log(Math.Max(x.p.Scores.Single(s => s.Key == x.e.Label).Value, 1e-15))).Max();
        Assert.Equal(worst, report.TopLosses[0].Loss, 6);
        foreach (var e in report.TopLosses)
        {
            AssertJpeg(e.Thumbnail, 48);
            AssertJpeg(e.HeatMap!, 48);
            Assert.Equal(e.PredictedLabel, e.HeatMapClass);
        }
        Assert.Equal(SyntheticImageDataset.Classes, report.Gallery.Select(g => g.Class));
        Assert.All(report.Gallery.SelectMany(g => g.Examples), e => { Assert.True(e.Correct); Assert.Null(e.HeatMap); AssertJpeg(e.Thumbnail, 48); });
        Assert.Contains(progress, p => p.Stage == TrainingProgress.Reporting && p.Done == p.Total && p.Total == held.Count);

        // Without the fine-tuning package: the same pictures, no heat maps, and the page says what to add.
        var without = MistakesReport.Build(classifier, held, "validation", new MistakesOptions { TopLosses = 5, CorrectPerClass = 2, ThumbnailSize = 48 },
            null, default, engine: null);
        Assert.Equal(report.TopLosses.Select(e => e.ImagePath), without.TopLosses.Select(e => e.ImagePath));
        Assert.All(without.TopLosses, e => Assert.Null(e.HeatMap));
        Assert.Contains(FineTuningEngines.PackageName, without.HeatMapNote);
        var html = HtmlReport.Render(ReportSamples.Training(), new ExperimentDetails { Mistakes = without });
        Assert.Contains("No heat maps:", html);
        Assert.Contains($"dotnet add package {FineTuningEngines.PackageName}", html);
        Assert.DoesNotContain("data-image=\"heatmap\"", html);
    }

    [Fact]
    public void A_results_section_reuses_the_evaluations_scores_and_equals_the_one_that_classifies_again()
    {
        var options = new TransferLearningOptions
        {
            DataPath = fixture.DataDir,
            Backbone = BackboneResolver.SyntheticName,
            Head = { CrossValidationFolds = 0, MaximumIterations = 3 },
            Featurizer = { CacheDirectory = fixture.CacheDir },
        };
        var result = new MLContext(1).TransferLearning().Train(options);
        var held = result.HeldOut!;
        Assert.Equal(held.Images.Count, held.Scores.Count);
        var sectionOptions = new MistakesOptions { TopLosses = 5, CorrectPerClass = 2, ThumbnailSize = 48, HeatMaps = false };

        var progress = new List<TrainingProgress>();
        var reused = result.Mistakes(sectionOptions, new InlineProgress<TrainingProgress>(progress.Add))!;
        Assert.DoesNotContain(progress, p => p.Message?.StartsWith("classifying", StringComparison.Ordinal) == true);

        using var classifier = result.ToClassifier();
        var again = MistakesReport.Build(classifier, held.Images, held.Split, sectionOptions);
        Assert.Equal((again.Images, again.Wrong), (reused.Images, reused.Wrong));
        Assert.Equal(again.TopLosses.Select(e => (e.ImagePath, e.PredictedLabel)), reused.TopLosses.Select(e => (e.ImagePath, e.PredictedLabel)));
        Assert.All(again.TopLosses.Zip(reused.TopLosses), p => Assert.Equal(p.First.Loss, p.Second.Loss, 4));
        Assert.Equal(again.Gallery.SelectMany(g => g.Examples).Select(e => e.ImagePath), reused.Gallery.SelectMany(g => g.Examples).Select(e => e.ImagePath));
    }

    private static void AssertJpeg(byte[] bytes, int maxSide)
    {
        Assert.Equal([0xFF, 0xD8], bytes.Take(2));
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        Assert.Equal(maxSide, Math.Max(bitmap.Width, bitmap.Height));
    }

    [Fact]
    public void Headless_chromium_renders_the_mistakes_section_and_every_image_loads()
    {
        using var dir = new TempDirectory("mlnt-mistakes");
        using var classifier = ImageClassifier.Load(FeatureExtractorZip(dir));
        var mistakes = MistakesReport.Build(classifier, Held(), "validation", new MistakesOptions { TopLosses = 4, CorrectPerClass = 2 });
        Assert.NotNull(mistakes.HeatMapLayer); // the test project references the fine-tuning package
        var reportPath = dir.Combine("report.html");
        HtmlReport.Save(reportPath, ReportSamples.Training(), ReportSamples.Details() with { Mistakes = mistakes });
        var html = File.ReadAllText(reportPath);
        int pictures = mistakes.TopLosses.Count * 2 + mistakes.Gallery.Sum(g => g.Examples.Count);
        Assert.Equal(pictures, Regex.Matches(html, "<img class=\"thumb\"").Count);

        var dom = Probe(dir, "probe.html", html);
        Assert.Matches("<section id=\"mistakes\">\\s*<h2>Mistakes</h2>", dom);
        var decoded = Regex.Matches(dom, "<img class=\"thumb\" data-image=\"(thumbnail|heatmap|gallery)\"[^>]*data-decoded=\"([^\"]+)\"").Select(m => m.Groups[2].Value).ToList();
        Assert.Equal(pictures, decoded.Count);
        Assert.All(decoded, d => Assert.Matches("^[1-9][0-9]*x[1-9][0-9]*$", d));
        Assert.Equal(mistakes.TopLosses.Count, Regex.Matches(dom, "data-image=\"heatmap\"").Count);

        // The probe can fail: one thumbnail's bytes damaged, and the browser reports exactly that image as not decoded.
        var broken = new Regex("(data-image=\"heatmap\"[^>]*src=\"data:image/jpeg;base64,)").Replace(html, "$1AAAA", 1);
        var brokenDom = Probe(dir, "broken.html", broken);
        var states = Regex.Matches(brokenDom, "<img class=\"thumb\"[^>]*data-decoded=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(pictures, states.Count);
        Assert.Equal(1, states.Count(s => s == "no"));
    }

    /// <summary>Chromium's DOM of the page after load, each image marked with whether the browser decoded it.</summary>
    private static string Probe(TempDirectory dir, string name, string html)
    {
        var path = dir.Combine(name);
        File.WriteAllText(path, html.Replace("</body>", """
            <script>
            window.addEventListener('load', () => {
              for (const img of document.images) img.setAttribute('data-decoded', img.complete && img.naturalWidth > 0 ? img.naturalWidth + 'x' + img.naturalHeight : 'no');
            });
            </script>
            </body>
            """));
        return Chromium.Run(path, dir.Combine("profile-" + name), "--dump-dom");
    }

    [Fact]
    public void Explain_writes_a_png_of_the_images_size_and_names_a_bad_file()
    {
        using var dir = new TempDirectory("mlnt-explain");
        var zip = FeatureExtractorZip(dir);
        var image = Held()[0].Path;
        var png = dir.Combine("out", "cam.png");
        Directory.CreateDirectory(Path.GetDirectoryName(png)!);
        var ok = CliRunner.Run(dir.Path, "explain", "--model", zip, "--input", image, "--out", png);
        Assert.True(ok.ExitCode == 0, ok.All);
        using var classifier = ImageClassifier.Load(zip);
        var prediction = classifier.Predict(image);
        Assert.Contains($"Predicted: {prediction.Label}", ok.StdOut);
        using (var written = SKBitmap.Decode(png))
        using (var source = SKBitmap.Decode(image))
        {
            Assert.Equal((source.Width, source.Height), (written.Width, written.Height));
            // The heat map is drawn over the image: the PNG is not the image itself.
            Assert.Contains(Enumerable.Range(0, source.Width * source.Height), i => written.GetPixel(i % source.Width, i / source.Width) != source.GetPixel(i % source.Width, i / source.Width));
        }

        var other = SyntheticImageDataset.Classes.First(c => c != prediction.Label);
        var small = dir.Combine("small.png");
        var asked = CliRunner.Run(dir.Path, "explain", "--model", zip, "--input", image, "--out", small, "--class", other, "--max-side", "20");
        Assert.True(asked.ExitCode == 0, asked.All);
        Assert.Contains($"Explained: {other}", asked.StdOut);
        using (var scaled = SKBitmap.Decode(small)) Assert.Equal(20, Math.Max(scaled.Width, scaled.Height));

        var text = dir.Text("notes.jpg", "not a picture");
        var bad = dir.Combine("bad.png");
        var refused = CliRunner.Run(dir.Path, "explain", "--model", zip, "--input", text, "--out", bad);
        Assert.Equal(1, refused.ExitCode);
        var message = Regex.Replace(refused.All, @"\s+", " "); // the console wraps long lines
        Assert.Contains("notes.jpg", message);
        Assert.Contains("not an image", message);
        Assert.False(File.Exists(bad));

        var notAZip = dir.Text("model.txt", "hello");
        var refusedModel = CliRunner.Run(dir.Path, "explain", "--model", notAZip, "--input", image, "--out", bad);
        Assert.Equal(1, refusedModel.ExitCode);
        Assert.Contains("model.txt", Regex.Replace(refusedModel.All, @"\s+", " "));
        Assert.False(File.Exists(bad));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp*", SearchOption.AllDirectories));
    }
}
