/// <summary>How the benchmark programs read <c>--name value</c> options: one definition, compiled into each (linked in its csproj).</summary>
internal static class BenchArgs
{
    /// <summary>The value after the first <paramref name="name"/>, or <paramref name="fallback"/> when the option is absent or last.</summary>
    public static string Arg(this IReadOnlyList<string> args, string name, string fallback)
    {
        var i = args.ToList().IndexOf(name);
        return i >= 0 && i + 1 < args.Count ? args[i + 1] : fallback;
    }
}
