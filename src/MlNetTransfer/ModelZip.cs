using Microsoft.ML;
using MlNetTransfer.Featurization;

namespace MlNetTransfer;

/// <summary>Writes the one model zip every approach produces: the ML.NET chain (ONNX bytes inside) plus its metadata entry.</summary>
public static class ModelZip
{
    /// <summary>Writes to <paramref name="file"/> directly; callers wrap it in <see cref="AtomicFile"/>.</summary>
    public static void Write(MLContext ml, ITransformer model, ModelMetadata metadata, string file)
    {
        ml.Model.Save(model, ImageFeaturizer.EmptyInput(ml, metadata.ImagePathColumn).Schema, file);
        metadata.WriteInto(file);
    }

    /// <summary>Saves atomically: the file is either the old one or the complete new one.</summary>
    public static void Save(MLContext ml, ITransformer model, ModelMetadata metadata, string path) =>
        AtomicFile.Write(path, tmp => Write(ml, model, metadata, tmp));
}
