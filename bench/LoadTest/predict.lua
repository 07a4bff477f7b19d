-- wrk script: POST the images given after "--" to /predict in turn (raw body), and print one machine-readable
-- RESULT line at the end: requests, errors of every kind (non-2xx answers included) and latency percentiles.
local requests = {}
local index = 0

function init(args)
  for i, path in ipairs(args) do
    local f = assert(io.open(path, "rb"))
    local body = f:read("*all")
    f:close()
    requests[i] = wrk.format("POST", "/predict?top=3", { ["Content-Type"] = "application/octet-stream" }, body)
  end
  assert(#requests > 0, "give image files after --")
  index = math.random(#requests) - 1
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f errors=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.status + e.timeout, e.connect, e.read, e.write, e.status, e.timeout))
end
