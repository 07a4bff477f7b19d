using System.Text;

namespace MlNetTransfer.Data;

/// <summary>Reads a CSV/TSV manifest of <c>path,label</c> rows.</summary>
/// <remarks>
/// Format: one row per image, two columns (image path, label); a header row is optional and recognised when its first
/// cell names no existing file or folder and it names a path column (path, file, filename, image, ...) or a label column
/// (label, class, category, ...). Fields may be quoted RFC-4180 style (<c>"a, b.jpg"</c>, <c>""</c> for a quote);
/// unquoted fields are trimmed. The delimiter is a tab for a <c>.tsv</c> file, otherwise a comma, unless only a tab
/// splits the first row into two columns. Relative paths are resolved against the manifest's folder (backslashes are
/// accepted as separators). Blank lines are ignored. Line numbers in messages are the file's 1-based line numbers.
/// The per-line parser is hand-written because messages must name exact line numbers and a path never spans lines.
/// </remarks>
internal static class ImageManifest
{
    internal sealed record Row(int Line, string Path, string Label);

    private static readonly HashSet<string> PathHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "path", "file", "filename", "file_name", "filepath", "file_path", "image", "images", "image_path", "imagepath", "img", "image_file", "name", "id" };

    private static readonly HashSet<string> LabelHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "label", "labels", "class", "class_name", "classname", "category", "target", "y", "tag" };

    /// <summary>Reads and checks every row; throws <see cref="MlNetTransferException"/> for a malformed row, a duplicate
    /// image, or rows naming files that do not exist.</summary>
    public static IReadOnlyList<Row> Read(string manifestPath)
    {
        var full = System.IO.Path.GetFullPath(manifestPath);
        var folder = System.IO.Path.GetDirectoryName(full)!;
        var lines = File.ReadAllLines(full, Encoding.UTF8);
        var firstLine = Array.FindIndex(lines, l => !string.IsNullOrWhiteSpace(l));
        if (firstLine < 0) throw new MlNetTransferException($"Manifest '{full}' is empty; expected rows of 'path,label'.");
        var delimiter = ChooseDelimiter(full, lines[firstLine]);

        var rows = new List<Row>();
        var missing = new List<string>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = firstLine; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var line = i + 1;
            var fields = SplitLine(lines[i], delimiter, out var error);
            if (error is not null) throw Malformed(full, line, error);
            if (fields.Count != 2)
                throw Malformed(full, line, $"expected 2 columns (path{(delimiter == '\t' ? "<tab>" : ",")}label), found {fields.Count}");
            var (rawPath, label) = (fields[0], fields[1]);
            var path = Resolve(folder, rawPath);
            if (i == firstLine && !File.Exists(path) && !Directory.Exists(path) && (PathHeaders.Contains(rawPath) || LabelHeaders.Contains(label))) continue; // header
            if (rawPath.Length == 0) throw Malformed(full, line, "the path column is empty");
            if (label.Length == 0) throw Malformed(full, line, $"the label column is empty (path '{rawPath}')");
            if (Directory.Exists(path)) throw Malformed(full, line, $"'{rawPath}' is a folder, not an image file");
            if (!File.Exists(path))
            {
                missing.Add($"line {line}: '{rawPath}' (looked for {path})");
                continue;
            }
            if (seen.TryGetValue(path, out var previous))
                throw Malformed(full, line, $"'{rawPath}' is already listed on line {previous}; each image may appear once");
            seen[path] = line;
            rows.Add(new Row(line, path, label));
        }
        if (missing.Count > 0)
            throw new MlNetTransferException(
                $"Manifest '{full}': {missing.Count} row(s) point to files that do not exist (paths are relative to the manifest's folder): " +
                string.Join("; ", missing.Take(5)) + (missing.Count > 5 ? $"; and {missing.Count - 5} more" : "") + ".");
        if (rows.Count == 0) throw new MlNetTransferException($"Manifest '{full}' has a header but no image rows.");
        return rows;
    }

    private static MlNetTransferException Malformed(string manifest, int line, string problem) =>
        new($"Manifest '{manifest}' line {line} is malformed: {problem}.");

    private static char ChooseDelimiter(string path, string firstLine)
    {
        if (path.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase)) return '\t';
        var commaFields = SplitLine(firstLine, ',', out var commaError);
        var tabFields = SplitLine(firstLine, '\t', out var tabError);
        return (commaError is not null || commaFields.Count != 2) && tabError is null && tabFields.Count == 2 ? '\t' : ',';
    }

    private static string Resolve(string folder, string rawPath)
    {
        if (rawPath.Length == 0) return folder;
        var path = System.IO.Path.GetFullPath(rawPath, folder);
        if (!File.Exists(path) && System.IO.Path.DirectorySeparatorChar == '/' && rawPath.Contains('\\'))
        {
            var alternative = System.IO.Path.GetFullPath(rawPath.Replace('\\', '/'), folder);
            if (File.Exists(alternative)) return alternative;
        }
        return path;
    }

    /// <summary>Splits one line into fields; quoted fields may contain the delimiter and doubled quotes.</summary>
    internal static List<string> SplitLine(string line, char delimiter, out string? error)
    {
        error = null;
        var fields = new List<string>();
        var i = 0;
        while (true)
        {
            while (i < line.Length && line[i] is ' ' && delimiter != ' ') i++;
            if (i < line.Length && line[i] == '"')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= line.Length)
                    {
                        error = $"unterminated quoted field in column {fields.Count + 1}";
                        return fields;
                    }
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"') { value.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    value.Append(line[i++]);
                }
                while (i < line.Length && line[i] is ' ' or '\t' && line[i] != delimiter) i++;
                fields.Add(value.ToString());
                if (i >= line.Length) return fields;
                if (line[i] != delimiter)
                {
                    error = $"unexpected text after the closing quote in column {fields.Count}";
                    return fields;
                }
                i++;
            }
            else
            {
                var end = line.IndexOf(delimiter, i);
                var raw = end < 0 ? line[i..] : line[i..end];
                if (raw.Contains('"'))
                {
                    error = $"a quote inside unquoted column {fields.Count + 1} (quote the whole field and double inner quotes)";
                    return fields;
                }
                fields.Add(raw.Trim());
                if (end < 0) return fields;
                i = end + 1;
            }
        }
    }
}
