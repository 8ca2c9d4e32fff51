-- wrk script: a ~1 KiB non-streaming chat completion request, and a machine-readable
-- summary (microseconds) printed after the run.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
local filler = string.rep("lorem ipsum dolor sit amet ", 34)
wrk.body = '{"model":"bench","messages":[{"role":"system","content":"You are terse."},' ..
  '{"role":"user","content":"' .. filler .. '"}],"max_tokens":100,"temperature":0}'

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT requests=%d errors=%d duration_us=%d p50=%d p90=%d p99=%d p999=%d max=%d\n",
    summary.requests, errors, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
