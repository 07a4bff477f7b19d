namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>The JSON answer of <c>GET /model</c>: which model is serving and what its zip says about itself.</summary>
/// <param name="Name">The registration name ("" for the default model).</param>
/// <param name="File">The zip's file name (not its full path: that is the server's business).</param>
/// <param name="Sha256">SHA-256 of the zip's bytes.</param>
/// <param name="Generation">1 at start, one more per reload.</param>
/// <param name="LoadedUtc">When this generation was loaded.</param>
/// <param name="LastReloadError">Why the last reload was refused (the previous model kept serving); null if none was.</param>
/// <param name="Classes">Class names, in the order of every prediction's <c>score</c>.</param>
/// <param name="Metadata">The zip's own metadata: backbone, input size, trainer, metrics at training time, tool version.</param>
public sealed record ModelResponse(string Name, string File, string Sha256, int Generation, DateTime LoadedUtc, string? LastReloadError,
    IReadOnlyList<string> Classes, ModelMetadata Metadata);
