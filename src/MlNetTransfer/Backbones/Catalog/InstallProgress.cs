namespace MlNetTransfer.Backbones.Catalog;

/// <summary>Bytes of one file done so far, reported while it is copied, extracted or downloaded.</summary>
/// <param name="Backbone">Catalog name of the backbone being installed.</param>
/// <param name="File">File name.</param>
/// <param name="Source">Where the bytes come from: a mirror path, <c>npm package@version</c> or a URL.</param>
/// <param name="BytesDone">Bytes of this file in place so far (including bytes resumed from an earlier attempt).</param>
/// <param name="BytesTotal">Expected size of this file, when known.</param>
public readonly record struct InstallProgress(string Backbone, string File, string Source, long BytesDone, long? BytesTotal);
