using System.Net;
using System.Net.Http.Headers;

namespace MlNetTransfer.Backbones.Catalog;

/// <summary>
/// Downloads a URL into a <c>.partial</c> file, continuing from the bytes a failed earlier attempt left there
/// (an HTTP Range request). Hand-written because HttpClient has no resume; it is one request and a copy loop.
/// </summary>
internal sealed class ResumableDownload(HttpClient http, TimeSpan stallTimeout)
{
    /// <summary>
    /// Makes <paramref name="partialPath"/> hold the whole body of <paramref name="url"/>. Bytes already in the file are kept
    /// when the server honours the Range request; otherwise the file is restarted. <paramref name="progress"/> gets
    /// (bytes in the file, expected total). Network failures throw <see cref="HttpRequestException"/> or <see cref="IOException"/>
    /// and leave what arrived in the file for the next attempt.
    /// </summary>
    public async Task RunAsync(string url, string partialPath, long? expectedSize, Action<long, long?>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(partialPath)!);
        long have = File.Exists(partialPath) ? new FileInfo(partialPath).Length : 0;
        if (expectedSize is long size && have > size)
        {
            File.Delete(partialPath);
            have = 0;
        }
        if (expectedSize is long complete && have == complete && have > 0)
        {
            progress?.Invoke(have, expectedSize);
            return;
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);

        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(stallTimeout);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new HttpRequestException($"no response within {stallTimeout.TotalSeconds:0} s");
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            {
                // The server has no bytes past ours: the partial file is stale or from another version. Start over.
                File.Delete(partialPath);
                await RunAsync(url, partialPath, expectedSize, progress, ct).ConfigureAwait(false);
                return;
            }
            if (!response.IsSuccessStatusCode)
                throw new HttpRequestException($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);

            var resumed = have > 0 && response.StatusCode == HttpStatusCode.PartialContent
                          && response.Content.Headers.ContentRange?.From == have;
            if (!resumed) have = 0;
            long? total = response.Content.Headers.ContentLength is long len ? have + len : expectedSize;

            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using var file = new FileStream(partialPath, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 16];
            progress?.Invoke(have, total);
            while (true)
            {
                stall.CancelAfter(stallTimeout);
                int read;
                try
                {
                    read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new IOException($"no data for {stallTimeout.TotalSeconds:0} s after {have} bytes");
                }
                if (read == 0) break;
                await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                have += read;
                progress?.Invoke(have, total);
            }
            if (total is long t && have < t) throw new IOException($"the connection closed after {have} of {t} bytes");
        }
    }
}
