-- wrk script: POSTs a realistic ~1 KB chat body. MODE=sse asks for a stream.
-- API=anthropic sends the same conversation as an Anthropic Messages body.
-- HEADERS="Name: value|Name: value" adds request headers (Portkey's routing).
local stream = os.getenv("MODE") == "sse"
local anthropic = os.getenv("API") == "anthropic"
local responses = os.getenv("API") == "responses"
local model = os.getenv("MODEL") or "mock"
local system = string.rep("You are a careful coding assistant. Answer briefly and precisely. ", 10)
local question = "Write a function that reverses a linked list in C, and explain the loop invariant in two sentences."
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if anthropic then
  wrk.headers["x-api-key"] = "bench-key-0001"
  wrk.headers["anthropic-version"] = "2023-06-01"
  wrk.body = '{"model":"' .. model .. '","max_tokens":512,"system":"' .. system .. '",' ..
    '"messages":[{"role":"user","content":[{"type":"text","text":"' .. question .. '"}]}],' ..
    '"temperature":0.2' .. (stream and ',"stream":true' or '') .. '}'
elseif responses then
  -- The same conversation as a Responses body (Codex's shape: the system
  -- prompt as a developer item).
  wrk.headers["Authorization"] = "Bearer bench-key-0001"
  wrk.body = '{"model":"' .. model .. '","input":[' ..
    '{"type":"message","role":"developer","content":[{"type":"input_text","text":"' .. system .. '"}]},' ..
    '{"type":"message","role":"user","content":[{"type":"input_text","text":"' .. question .. '"}]}' ..
    '],"temperature":0.2,"max_output_tokens":512,"store":false' .. (stream and ',"stream":true' or '') .. '}'
else
  wrk.headers["Authorization"] = "Bearer bench-key-0001"
  wrk.body = '{"model":"' .. model .. '","messages":[' ..
    '{"role":"system","content":"' .. system .. '"},' ..
    '{"role":"user","content":[{"type":"text","text":"' .. question .. '"}]}' ..
    '],"temperature":0.2,"max_tokens":512' ..
    (stream and ',"stream":true,"stream_options":{"include_usage":true}' or '') .. '}'
end
for header in string.gmatch(os.getenv("HEADERS") or "", "[^|]+") do
  local name, value = string.match(header, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

-- (no response() callback: it would slow wrk down; errors.status counts non-2xx)
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
