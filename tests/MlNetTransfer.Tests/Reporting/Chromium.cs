using System.Diagnostics;

namespace MlNetTransfer.Tests.Reporting;

/// <summary>Headless Chromium (Debian package <c>chromium</c>, installed by scripts/setup.sh) run on a local HTML file.</summary>
internal static class Chromium
{
    public static string Find()
    {
        var path = Environment.GetEnvironmentVariable("PATH")?.Split(Path.PathSeparator) ?? [];
        foreach (var name in new[] { "chromium", "chromium-browser", "google-chrome", "google-chrome-stable" })
            foreach (var dir in path)
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        Assert.Fail("Headless Chromium is needed to check the HTML report but none was found on PATH (chromium, chromium-browser, " +
                    "google-chrome); run scripts/setup.sh, which installs the Debian package 'chromium'.");
        return "";
    }

    /// <summary>Runs Chromium with the given mode arguments (e.g. <c>--dump-dom</c>) on <paramref name="htmlPath"/>; returns stdout.</summary>
    public static string Run(string htmlPath, string profileDir, params string[] mode)
    {
        var start = new ProcessStartInfo(Find()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--hide-scrollbars", $"--user-data-dir={profileDir}", "--virtual-time-budget=10000",
                 }.Concat(mode))
            start.ArgumentList.Add(a);
        start.ArgumentList.Add(new Uri(htmlPath).AbsoluteUri);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"Chromium did not finish within 90 s on {htmlPath}.");
        }
        Assert.True(process.ExitCode == 0, $"Chromium exited with {process.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }
}
