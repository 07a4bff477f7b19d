using System.Security.Cryptography;
using Google.Protobuf;
using MlNetTransfer.Backbones.Onnx.Proto;

namespace MlNetTransfer.Backbones.Onnx;

/// <summary>Reads and writes ONNX model files (the protobuf <see cref="ModelProto"/>).</summary>
internal static class OnnxModelFile
{
    public static ModelProto Load(string path)
    {
        if (!File.Exists(path)) throw new MlNetTransferException($"{path}: ONNX model file not found.");
        return Parse(File.ReadAllBytes(path), path);
    }

    public static ModelProto Parse(byte[] bytes, string sourceName = "ONNX model")
    {
        try
        {
            var model = ModelProto.Parser.ParseFrom(bytes);
            if (model.Graph is null || model.Graph.Node.Count == 0)
                throw new MlNetTransferException($"{sourceName}: not an ONNX model (no graph or no nodes).");
            return model;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new MlNetTransferException($"{sourceName}: not a valid ONNX file ({e.Message}).", e);
        }
    }

    public static byte[] ToBytes(ModelProto model) => model.ToByteArray();

    /// <summary>Saves atomically: the destination is either the old file or the complete new one.</summary>
    public static void Save(ModelProto model, string path) => AtomicFile.WriteAllBytes(path, model.ToByteArray());

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string Sha256OfFile(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
