using System.Net;
using System.Net.Http.Headers;

namespace MlNetTransfer.Tests.Catalog;

/// <summary>
/// An in-process stand-in for HTTPS servers: serves byte arrays by URL, honours Range requests like a real static file
/// server, and can be told to drop the connection part-way through the next response. No network is involved.
/// </summary>
public sealed class FakeHttpServer : HttpMessageHandler
{
    private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);

    public List<(string Url, long? RangeFrom)> Requests { get; } = [];

    /// <summary>When set, the next response body breaks (IOException) after this many bytes; then it is cleared.</summary>
    public int? BreakNextResponseAfter { get; set; }

    /// <summary>When true, Range headers are ignored and the whole file is sent with 200, like some servers do.</summary>
    public bool IgnoreRange { get; set; }

    /// <summary>When set, every request fails as if the host could not be resolved.</summary>
    public bool Offline { get; set; }

    public long BytesSent { get; private set; }

    public void Serve(string url, byte[] bytes) => _files[url] = bytes;

    public HttpClient Client() => new(this, disposeHandler: false);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var url = request.RequestUri!.ToString();
        var from = request.Headers.Range?.Ranges.FirstOrDefault()?.From;
        Requests.Add((url, from));
        if (Offline) throw new HttpRequestException("No such host is known. (" + request.RequestUri.Host + ":443)");
        if (!_files.TryGetValue(url, out var bytes)) return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound) { RequestMessage = request });

        long start = IgnoreRange || from is null ? 0 : from.Value;
        if (start >= bytes.Length) return Task.FromResult(new HttpResponseMessage(HttpStatusCode.RequestedRangeNotSatisfiable));
        var body = bytes.AsMemory((int)start).ToArray();
        Stream stream = new MemoryStream(body);
        if (BreakNextResponseAfter is int limit)
        {
            stream = new BreakingStream(stream, limit);
            BreakNextResponseAfter = null;
        }
        var content = new StreamContent(new CountingStream(stream, n => BytesSent += n));
        content.Headers.ContentLength = body.Length;
        var response = new HttpResponseMessage(start > 0 ? HttpStatusCode.PartialContent : HttpStatusCode.OK) { Content = content, RequestMessage = request };
        if (start > 0) content.Headers.ContentRange = new ContentRangeHeaderValue(start, bytes.Length - 1, bytes.Length);
        return Task.FromResult(response);
    }

    private sealed class BreakingStream(Stream inner, int limit) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_read >= limit) throw new IOException("connection reset by peer (test)");
            var n = inner.Read(buffer, offset, (int)Math.Min(count, limit - _read));
            _read += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class CountingStream(Stream inner, Action<int> counted) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            counted(n);
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
