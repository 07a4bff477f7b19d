using Microsoft.ML;
using MlNetTransfer.Backbones;

namespace MlNetTransfer.Featurization;

/// <summary>
/// <c>ml.Transforms.FeaturizeImage(...)</c>, the way ML.NET's own transforms are reached. The estimator builds its ML.NET
/// steps in an <see cref="MLContext"/> of its own (ML.NET keeps a catalog's context internal); the featurizer has nothing
/// random, and the transformer it fits saves and loads with any context. To use a given context, construct
/// <see cref="ImageFeaturizingEstimator"/> directly.
/// </summary>
public static class ImageFeaturizerCatalog
{
    /// <summary>Image path column → embedding column, with a backbone by name or path.</summary>
    /// <param name="catalog">The transforms catalog (<c>ml.Transforms</c>).</param>
    /// <param name="outputColumnName">The embedding column. Default <c>embedding</c>.</param>
    /// <param name="inputColumnName">The column of image file paths. Default <c>ImagePath</c>.</param>
    /// <param name="backbone">A catalog name, an .onnx path, a TF.js model.json or <c>synthetic-cnn</c>. Default <c>mobilenet_v2</c>.</param>
    public static ImageFeaturizingEstimator FeaturizeImage(this TransformsCatalog catalog, string outputColumnName = ImageFeaturizer.EmbeddingColumn,
        string inputColumnName = "ImagePath", string backbone = "mobilenet_v2")
        => catalog.FeaturizeImage(new ImageFeaturizingEstimator.Options { OutputColumnName = outputColumnName, InputColumnName = inputColumnName, Backbone = backbone });

    /// <summary>Image path column → embedding column, with every option (<see cref="ImageFeaturizingEstimator.Options"/>).</summary>
    public static ImageFeaturizingEstimator FeaturizeImage(this TransformsCatalog catalog, ImageFeaturizingEstimator.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new ImageFeaturizingEstimator(new MLContext(), options);
    }

    /// <summary>Image path column → embedding column, with a backbone already prepared (<see cref="BackbonePreparer"/>).</summary>
    public static ImageFeaturizingEstimator FeaturizeImage(this TransformsCatalog catalog, PreparedBackbone backbone,
        string outputColumnName = ImageFeaturizer.EmbeddingColumn, string inputColumnName = "ImagePath")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageFeaturizingEstimator(new MLContext(), backbone,
            new ImageFeaturizingEstimator.Options { OutputColumnName = outputColumnName, InputColumnName = inputColumnName });
    }
}
