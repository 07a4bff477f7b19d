namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>The JSON answer of <c>GET /health</c>. <c>healthy</c>: the model serves. <c>degraded</c>: it serves, but the
/// last attempt to reload a changed zip was refused (see <see cref="LastReloadError"/>).</summary>
public sealed record HealthResponse(string Status, int Generation, string Sha256, string? LastReloadError);
