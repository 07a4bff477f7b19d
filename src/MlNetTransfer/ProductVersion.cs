using System.Reflection;

namespace MlNetTransfer;

/// <summary>The library's informational version, written into reports and model zips.</summary>
public static class ProductVersion
{
    public static string Current { get; } =
        typeof(ProductVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
        ?? "0.0.0";
}
