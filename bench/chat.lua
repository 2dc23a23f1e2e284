-- wrk script: POSTs a realistic ~1 KB chat body. MODE=sse asks for a stream.
local stream = os.getenv("MODE") == "sse"
local system = string.rep("You are a careful coding assistant. Answer briefly and precisely. ", 10)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key-0001"
wrk.body = '{"model":"' .. (os.getenv("MODEL") or "mock") .. '","messages":[' ..
  '{"role":"system","content":"' .. system .. '"},' ..
  '{"role":"user","content":[{"type":"text","text":"Write a function that reverses a linked list in C, and explain the loop invariant in two sentences."}]}' ..
  '],"temperature":0.2,"max_tokens":512' ..
  (stream and ',"stream":true,"stream_options":{"include_usage":true}' or '') .. '}'

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
