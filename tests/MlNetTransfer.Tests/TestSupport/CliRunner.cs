using System.Diagnostics;

namespace MlNetTransfer.Tests.TestSupport;

/// <summary>Runs the real <c>mlnet-transfer</c> executable in a fresh process (the test project references the CLI,
/// so its dll sits beside the tests).</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public string All => StdOut + StdErr;
    }

    public static Result Run(string workingDirectory, params string[] args) => Run(workingDirectory, new Dictionary<string, string>(), args);

    /// <summary>As <see cref="Run(string, string[])"/>, with extra environment variables (a scheduler's, say).</summary>
    public static Result Run(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var dll = System.IO.Path.Combine(AppContext.BaseDirectory, "mlnet-transfer.dll");
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "200";
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"mlnet-transfer {string.Join(' ', args)} did not finish in 5 minutes.");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
