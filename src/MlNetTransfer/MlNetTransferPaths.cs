namespace MlNetTransfer;

/// <summary>Where the tool keeps its per-user state (installed backbones, embedding cache).</summary>
public static class MlNetTransferPaths
{
    /// <summary><c>$MLNET_TRANSFER_HOME</c> when set, else <c>$XDG_CACHE_HOME/mlnet-transfer</c>, else <c>~/.cache/mlnet-transfer</c>.</summary>
    public static string Home
    {
        get
        {
            var home = Environment.GetEnvironmentVariable("MLNET_TRANSFER_HOME");
            if (!string.IsNullOrWhiteSpace(home)) return home;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (!string.IsNullOrWhiteSpace(xdg)) return Path.Combine(xdg, "mlnet-transfer");
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlnet-transfer");
        }
    }
}
