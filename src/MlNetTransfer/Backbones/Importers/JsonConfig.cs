using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MlNetTransfer.Backbones.Importers;

/// <summary>
/// Typed reads from a parsed model.json node. Values may come from real JSON or from a JavaScript literal
/// (where every number is a double), so numbers are always read as doubles first.
/// </summary>
internal static class JsonConfig
{
    public static JsonNode? Get(this JsonNode? node, string key) => node is JsonObject o && o.TryGetPropertyValue(key, out var v) ? v : null;

    public static bool Has(this JsonNode? node, string key) => node is JsonObject o && o.TryGetPropertyValue(key, out var v) && v is not null;

    public static bool IsString(this JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String;

    public static bool IsNumber(this JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number;

    public static string? AsString(this JsonNode? node) => node.IsString() ? node!.GetValue<string>() : null;

    public static double? AsDouble(this JsonNode? node) => node.IsNumber() ? node!.GetValue<double>() : null;

    public static bool? AsBool(this JsonNode? node) => node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>() : null;

    public static long? AsLong(this JsonNode? node)
    {
        var d = node.AsDouble();
        if (d is null) return null;
        if (d != Math.Floor(d.Value)) throw new FormatException($"{d.Value.ToString(CultureInfo.InvariantCulture)} is not an integer.");
        return (long)d.Value;
    }

    /// <summary>An array of integers where JSON <c>null</c> (an unknown dimension) becomes -1.</summary>
    public static long[]? AsDims(this JsonNode? node) =>
        node is JsonArray a ? a.Select(x => x is null ? -1L : x.AsLong() ?? throw new FormatException($"'{x.ToJsonString()}' is not a dimension.")).ToArray() : null;
}
