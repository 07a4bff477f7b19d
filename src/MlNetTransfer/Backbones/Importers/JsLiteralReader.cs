using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MlNetTransfer.Backbones.Importers;

/// <summary>
/// Reads the data literal that a bundled (UMD/browserify) JavaScript file assigns to <c>module.exports</c>, as npm
/// <c>nsfwjs</c> ships its models: <c>…{1:[function(e,a,n){a.exports={modelTopology:{…},weightsManifest:[…]}},{}]}…</c>
/// for the model and <c>h.exports="base64…"</c> for each weight shard.
/// Hand-written on purpose: it parses only JavaScript literal syntax (objects with bare keys, arrays, strings,
/// numbers, <c>!0</c>/<c>!1</c>, <c>null</c>, <c>void 0</c>) and never executes code from a model file.
/// </summary>
internal static partial class JsLiteralReader
{
    [GeneratedRegex(@"[A-Za-z_$][\w$]*\.exports\s*=\s*")]
    private static partial Regex ExportsAssignment();

    /// <summary>The first literal assigned to <c>*.exports</c> that <paramref name="accept"/> likes, or null.</summary>
    public static JsonNode? FindExportedLiteral(string script, Func<JsonNode?, bool> accept)
    {
        foreach (Match m in ExportsAssignment().Matches(script))
        {
            var parser = new Parser(script, m.Index + m.Length);
            if (!parser.TryParseValue(out var value)) continue;
            if (accept(value)) return value;
        }
        return null;
    }

    private sealed class Parser(string s, int start)
    {
        private int _i = start;
        public bool TryParseValue(out JsonNode? value)
        {
            value = null;
            try
            {
                value = ParseValue(depth: 0);
                return true;
            }
            catch (FormatException)
            {
                return false;
            }
        }

        private JsonNode? ParseValue(int depth)
        {
            if (depth > 512) throw Fail();
            SkipSpace();
            if (_i >= s.Length) throw Fail();
            char c = s[_i];
            switch (c)
            {
                case '{': return ParseObject(depth);
                case '[': return ParseArray(depth);
                case '"':
                case '\'': return JsonValue.Create(ParseString());
                case '!':
                    // Minifiers write true as !0 and false as !1.
                    _i++;
                    SkipSpace();
                    if (_i < s.Length && (s[_i] == '0' || s[_i] == '1')) { bool v = s[_i] == '0'; _i++; return JsonValue.Create(v); }
                    throw Fail();
            }
            if (c == '-' || c == '+' || c == '.' || char.IsAsciiDigit(c)) return JsonValue.Create(ParseNumber());
            var word = ParseIdentifier();
            switch (word)
            {
                case "true": return JsonValue.Create(true);
                case "false": return JsonValue.Create(false);
                case "null": return null;
                case "void":
                    SkipSpace();
                    ParseNumber();
                    return null;
                default: throw Fail();
            }
        }

        private JsonObject ParseObject(int depth)
        {
            _i++;
            var obj = new JsonObject();
            while (true)
            {
                SkipSpace();
                if (Peek() == '}') { _i++; return obj; }
                string key = Peek() switch
                {
                    '"' or '\'' => ParseString(),
                    var ch when char.IsAsciiDigit(ch) || ch == '.' => ParseNumber().ToString(CultureInfo.InvariantCulture),
                    _ => ParseIdentifier(),
                };
                SkipSpace();
                Expect(':');
                obj[key] = ParseValue(depth + 1);
                SkipSpace();
                if (Peek() == ',') { _i++; continue; }
                if (Peek() == '}') { _i++; return obj; }
                throw Fail();
            }
        }

        private JsonArray ParseArray(int depth)
        {
            _i++;
            var arr = new JsonArray();
            while (true)
            {
                SkipSpace();
                if (Peek() == ']') { _i++; return arr; }
                arr.Add(ParseValue(depth + 1));
                SkipSpace();
                if (Peek() == ',') { _i++; continue; }
                if (Peek() == ']') { _i++; return arr; }
                throw Fail();
            }
        }

        private string ParseString()
        {
            char quote = s[_i++];
            int runStart = _i;
            // Fast path: shards are megabytes of base64 without escapes.
            int end = s.IndexOfAny([quote, '\\', '\n'], _i);
            if (end < 0) throw Fail();
            if (s[end] == quote) { _i = end + 1; return s.Substring(runStart, end - runStart); }
            var sb = new StringBuilder();
            while (true)
            {
                if (_i >= s.Length) throw Fail();
                char c = s[_i++];
                if (c == quote) return sb.ToString();
                if (c == '\n') throw Fail();
                if (c != '\\') { sb.Append(c); continue; }
                if (_i >= s.Length) throw Fail();
                char e = s[_i++];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'v': sb.Append('\v'); break;
                    case '0': sb.Append('\0'); break;
                    case 'x': sb.Append((char)ParseHex(2)); break;
                    case 'u':
                        if (Peek() == '{')
                        {
                            _i++;
                            int close = s.IndexOf('}', _i);
                            if (close < 0) throw Fail();
                            sb.Append(char.ConvertFromUtf32(int.Parse(s.AsSpan(_i, close - _i), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
                            _i = close + 1;
                        }
                        else sb.Append((char)ParseHex(4));
                        break;
                    case '\r': if (Peek() == '\n') _i++; break; // line continuation
                    case '\n': break;
                    default: sb.Append(e); break;
                }
            }
        }

        private int ParseHex(int digits)
        {
            if (_i + digits > s.Length || !int.TryParse(s.AsSpan(_i, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v)) throw Fail();
            _i += digits;
            return v;
        }

        private double ParseNumber()
        {
            int begin = _i;
            if (Peek() is '-' or '+') _i++;
            if (_i + 1 < s.Length && s[_i] == '0' && (s[_i + 1] is 'x' or 'X'))
            {
                _i += 2;
                int hexStart = _i;
                while (_i < s.Length && char.IsAsciiHexDigit(s[_i])) _i++;
                var hex = long.Parse(s.AsSpan(hexStart, _i - hexStart), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                return s[begin] == '-' ? -hex : hex;
            }
            while (_i < s.Length && (char.IsAsciiDigit(s[_i]) || s[_i] == '.')) _i++;
            if (_i < s.Length && (s[_i] is 'e' or 'E'))
            {
                _i++;
                if (Peek() is '-' or '+') _i++;
                while (_i < s.Length && char.IsAsciiDigit(s[_i])) _i++;
            }
            var span = s.AsSpan(begin, _i - begin);
            if (!double.TryParse(span, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) throw Fail();
            return d;
        }

        private string ParseIdentifier()
        {
            int begin = _i;
            while (_i < s.Length && (char.IsAsciiLetterOrDigit(s[_i]) || s[_i] is '_' or '$')) _i++;
            if (_i == begin) throw Fail();
            return s.Substring(begin, _i - begin);
        }

        private void SkipSpace()
        {
            while (_i < s.Length && char.IsWhiteSpace(s[_i])) _i++;
        }

        private char Peek() => _i < s.Length ? s[_i] : '\0';

        private void Expect(char c)
        {
            if (Peek() != c) throw Fail();
            _i++;
        }

        private FormatException Fail() => new($"Unexpected input at offset {_i}.");
    }
}
