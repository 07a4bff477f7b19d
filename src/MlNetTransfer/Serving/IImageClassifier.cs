using Microsoft.ML.Data;

namespace MlNetTransfer.Serving;

/// <summary>A model that labels images, safe to call from many threads at once. Implemented by
/// <see cref="ImageClassifier"/> (one loaded zip) and <see cref="ReloadingImageClassifier"/> (a zip that may be swapped
/// while serving); inject it where a business service needs predictions.</summary>
/// <remarks>Bad images throw <see cref="InvalidImageException"/> (its <see cref="InvalidImageException.Problem"/> says why).</remarks>
public interface IImageClassifier
{
    /// <summary>What the model zip says about itself (classes, backbone, input size, metrics at training time, version).</summary>
    ModelMetadata Metadata { get; }

    /// <summary>Class names in the order of <see cref="ImagePrediction.Scores"/>.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>Labels the image file at <paramref name="imagePath"/>.</summary>
    ImagePrediction Predict(string imagePath);

    /// <summary>Labels the encoded image (JPEG, PNG, BMP, WebP) read from <paramref name="image"/> to its end; the stream is not disposed.</summary>
    /// <param name="image">The encoded image.</param>
    /// <param name="name">A name for error messages and <see cref="ImagePrediction.ImagePath"/>, e.g. the uploaded file's name.</param>
    ImagePrediction Predict(Stream image, string? name = null);

    /// <summary>Labels encoded image bytes (JPEG, PNG, BMP, WebP).</summary>
    /// <param name="image">The encoded image.</param>
    /// <param name="name">A name for error messages and <see cref="ImagePrediction.ImagePath"/>.</param>
    ImagePrediction Predict(ReadOnlySpan<byte> image, string? name = null);

    /// <summary>Labels an image already in memory; the caller keeps ownership (it is not disposed).</summary>
    ImagePrediction Predict(MLImage image);

    /// <summary>Labels many image files, in order.</summary>
    IReadOnlyList<ImagePrediction> PredictBatch(IEnumerable<string> imagePaths);
}
