-- wrk script for bench/bench.py: one credential per request, rotating through a file (one per line).
--
--   wrk -t1 -c16 -d4s --latency -s bench/rotate.lua URL -- FILE HEADER [PREFIX]
--
-- FILE holds credentials (tokens or API keys); each request sends `HEADER: PREFIX<credential>` with the
-- next one. A file with one line gives the "repeated credential" scenarios. Requests are pre-formatted in
-- init() so wrk's per-request Lua work is a table lookup. done() prints one `WRKJSON {...}` line.

local reqs, n, i = {}, 0, 0

function init(args)
  local file, header, prefix = args[1], args[2], args[3] or ""
  if file == nil or header == nil then
    error("usage: -s rotate.lua URL -- FILE HEADER [PREFIX]")
  end
  for line in io.lines(file) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("GET", wrk.path, { [header] = prefix .. line })
    end
  end
  if n == 0 then error("no credentials in " .. file) end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
