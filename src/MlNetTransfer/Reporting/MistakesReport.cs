using System.Diagnostics;
using MlNetTransfer.Data;
using SkiaSharp;

namespace MlNetTransfer.Reporting;

/// <summary>What <see cref="MistakesReport.Build(ImageClassifier, IReadOnlyList{ImageExample}, string, MistakesOptions?, IProgress{TrainingProgress}?, CancellationToken)"/> shows. Defaults suit a report of a few hundred validation images.</summary>
public sealed class MistakesOptions
{
    /// <summary>How many images of highest loss to show, each with its heat map. Default 12.</summary>
    public int TopLosses { get; set; } = 12;

    /// <summary>How many correctly classified images per class the gallery shows (the most confident first). Default 4.</summary>
    public int CorrectPerClass { get; set; } = 4;

    /// <summary>Longest side of a thumbnail in pixels (JPEG). Default 112.</summary>
    public int ThumbnailSize { get; set; } = 112;

    /// <summary>Draw a Grad-CAM heat map beside each top-loss image (needs the MlNetTransfer.FineTuning package; without
    /// it the section says so). Default true.</summary>
    public bool HeatMaps { get; set; } = true;

    internal void Validate()
    {
        if (TopLosses < 0) throw new MlNetTransferException($"TopLosses must be 0 or more, not {TopLosses}.");
        if (CorrectPerClass < 0) throw new MlNetTransferException($"CorrectPerClass must be 0 or more, not {CorrectPerClass}.");
        if (ThumbnailSize is < 16 or > 1024) throw new MlNetTransferException($"ThumbnailSize must be between 16 and 1024 pixels, not {ThumbnailSize}.");
    }
}

/// <summary>One image of the mistakes section: its labels, probabilities, loss and thumbnails.</summary>
public sealed record ExampleImage
{
    public string ImagePath { get; init; } = "";
    public string TrueLabel { get; init; } = "";
    public string PredictedLabel { get; init; } = "";

    /// <summary>The predicted class's probability.</summary>
    public float Confidence { get; init; }

    /// <summary>The true class's probability.</summary>
    public float TrueClassProbability { get; init; }

    /// <summary>Cross-entropy of the true class, −ln p(true) (p clamped at 1e-15, as ML.NET's log-loss).</summary>
    public double Loss { get; init; }

    public bool Correct => TrueLabel == PredictedLabel;

    /// <summary>The image, longest side <see cref="MistakesOptions.ThumbnailSize"/>, as JPEG.</summary>
    public byte[] Thumbnail { get; init; } = [];

    /// <summary>The same thumbnail with the Grad-CAM map of <see cref="HeatMapClass"/> over it (JPEG); null when none was drawn.</summary>
    public byte[]? HeatMap { get; init; }

    public string? HeatMapClass { get; init; }
}

/// <summary>A class's correctly classified images: how many of its images were right, and the most confident few.</summary>
public sealed record ClassGallery(string Class, int Correct, int Images, IReadOnlyList<ExampleImage> Examples);

/// <summary>
/// The report's "mistakes" section (fastai's plot_top_losses, with Grad-CAM): the images of one split with the highest
/// loss, each with its heat map, and a gallery of correct examples per class. HTML only (the pictures stay out of report.json).
/// </summary>
public sealed record MistakesReport
{
    /// <summary>The split the images come from ("validation", or "test" when there is no validation split).</summary>
    public string Split { get; init; } = "validation";

    /// <summary>Images classified.</summary>
    public int Images { get; init; }

    /// <summary>Images whose predicted class was not their true one.</summary>
    public int Wrong { get; init; }

    /// <summary>Highest loss first.</summary>
    public IReadOnlyList<ExampleImage> TopLosses { get; init; } = [];

    /// <summary>In class order.</summary>
    public IReadOnlyList<ClassGallery> Gallery { get; init; } = [];

    /// <summary>The layer the heat maps weight; null when there are none.</summary>
    public string? HeatMapLayer { get; init; }

    /// <summary>Why there are no heat maps (no fine-tuning package, a head without gradients); null when they were drawn or not asked for.</summary>
    public string? HeatMapNote { get; init; }

    public double Seconds { get; init; }

    /// <summary>Classifies <paramref name="examples"/> with <paramref name="classifier"/> and builds the section. Reports
    /// progress under <see cref="TrainingProgress.Reporting"/>: one step per image classified, one per heat map.</summary>
    public static MistakesReport Build(ImageClassifier classifier, IReadOnlyList<ImageExample> examples, string split = "validation",
        MistakesOptions? options = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
        => Build(classifier, examples, split, options, progress, cancel, FineTuning.FineTuningEngines.GradCam);

    /// <summary><see cref="Build(ImageClassifier, IReadOnlyList{ImageExample}, string, MistakesOptions?, IProgress{TrainingProgress}?, CancellationToken)"/>
    /// with the Grad-CAM engine given (null: as without the fine-tuning package) and, when the caller has them, the
    /// classifier's predictions of <paramref name="examples"/> (in their order), which are then not computed again.</summary>
    internal static MistakesReport Build(ImageClassifier classifier, IReadOnlyList<ImageExample> examples, string split,
        MistakesOptions? options, IProgress<TrainingProgress>? progress, CancellationToken cancel, FineTuning.IGradCamEngine? engine,
        IReadOnlyList<ImagePrediction>? predictions = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(examples);
        if (predictions is not null && predictions.Count != examples.Count)
            throw new ArgumentException($"{predictions.Count} predictions for {examples.Count} images.", nameof(predictions));
        options ??= new MistakesOptions();
        options.Validate();
        var clock = Stopwatch.StartNew();
        var scored = new List<Scored>(examples.Count);
        for (int i = 0; i < examples.Count; i++)
        {
            if (predictions is not null)
            {
                scored.Add(Score(examples[i], predictions[i]));
                continue;
            }
            cancel.ThrowIfCancellationRequested();
            scored.Add(Score(examples[i], classifier.Predict(examples[i].Path)));
            progress?.Report(new TrainingProgress(TrainingProgress.Reporting, i + 1, examples.Count, $"classifying {split} images"));
        }
        var (top, gallery) = Select(scored, classifier.Classes, options);

        HeatMapper? heat = null;
        string? note = null;
        if (options.HeatMaps && top.Count > 0)
        {
            try
            {
                heat = HeatMapper.Create(classifier, engine);
            }
            catch (MlNetTransferException e)
            {
                note = e.Message;
            }
        }
        using var ownedHeat = heat;
        var topImages = new List<ExampleImage>(top.Count);
        for (int i = 0; i < top.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            topImages.Add(Picture(top[i], classifier, heat, options.ThumbnailSize));
            progress?.Report(new TrainingProgress(TrainingProgress.Reporting, i + 1, top.Count, heat is null ? "thumbnails" : "Grad-CAM heat maps of the top losses"));
        }
        var galleries = gallery.Select(g => new ClassGallery(g.Class, g.Correct, g.Images,
            g.Examples.Select(e => Picture(e, classifier, null, options.ThumbnailSize)).ToList())).ToList();
        return new MistakesReport
        {
            Split = split,
            Images = scored.Count,
            Wrong = scored.Count(s => !s.Correct),
            TopLosses = topImages,
            Gallery = galleries,
            HeatMapLayer = heat?.Layer,
            HeatMapNote = note,
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    /// <summary>One classified image.</summary>
    internal sealed record Scored(ImageExample Example, string Predicted, float Confidence, float TrueProbability, double Loss)
    {
        public bool Correct => Example.Label == Predicted;
    }

    internal sealed record GallerySelection(string Class, int Correct, int Images, IReadOnlyList<Scored> Examples);

    internal static Scored Score(ImageExample example, ImagePrediction prediction)
    {
        var p = prediction.Scores.FirstOrDefault(s => s.Key == example.Label).Value;
        return new Scored(example, prediction.Label, prediction.Confidence, p, -Math.Log(Math.Max(p, 1e-15)));
    }

    /// <summary>The top losses (highest first; ties by path) and, per class in <paramref name="classes"/>' order, its correct
    /// images of highest confidence (ties by path).</summary>
    internal static (IReadOnlyList<Scored> Top, IReadOnlyList<GallerySelection> Gallery) Select(IReadOnlyList<Scored> scored,
        IReadOnlyList<string> classes, MistakesOptions options)
    {
        var top = scored.OrderByDescending(s => s.Loss).ThenBy(s => s.Example.Path, StringComparer.Ordinal).Take(options.TopLosses).ToList();
        var gallery = classes.Select(c =>
        {
            var own = scored.Where(s => s.Example.Label == c).ToList();
            var correct = own.Where(s => s.Correct).ToList();
            return new GallerySelection(c, correct.Count, own.Count,
                correct.OrderByDescending(s => s.Confidence).ThenBy(s => s.Example.Path, StringComparer.Ordinal).Take(options.CorrectPerClass).ToList());
        }).ToList();
        return (top, gallery);
    }

    private static ExampleImage Picture(Scored s, ImageClassifier classifier, HeatMapper? heat, int size)
    {
        using var source = HeatMapOverlay.Decode(s.Example.Path);
        using var thumbnail = HeatMapOverlay.Draw(source, null, 0, 0, 0, 0, default, default, size);
        byte[]? heatMap = null;
        string? heatClass = null;
        if (heat is not null)
        {
            var predicted = classifier.Classes.ToList().IndexOf(s.Predicted);
            var cam = heat.Compute(s.Example.Path, predicted >= 0 ? predicted : null);
            heatClass = classifier.Classes[cam.TargetClass];
            var chain = heat.Chain;
            using var drawn = HeatMapOverlay.Draw(source, HeatMapper.Normalise(cam.Cam), cam.GridWidth, cam.GridHeight, chain.Width, chain.Height, chain.Resizing, heat.View, size);
            heatMap = HeatMapOverlay.Encode(drawn, SKEncodedImageFormat.Jpeg);
        }
        return new ExampleImage
        {
            ImagePath = s.Example.Path,
            TrueLabel = s.Example.Label,
            PredictedLabel = s.Predicted,
            Confidence = s.Confidence,
            TrueClassProbability = s.TrueProbability,
            Loss = s.Loss,
            Thumbnail = HeatMapOverlay.Encode(thumbnail, SKEncodedImageFormat.Jpeg),
            HeatMap = heatMap,
            HeatMapClass = heatClass,
        };
    }
}
