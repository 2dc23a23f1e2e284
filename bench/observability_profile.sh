#!/usr/bin/env bash
# What metrics and the access log cost per request, counted in instructions by
# callgrind: deterministic, so unlike req/s and CPU time it does not move with
# the load of a shared machine. llmux (metrics on, access log to a file, one
# I/O thread) runs under valgrind --tool=callgrind in front of the bench's fake
# upstream (bench/upstream.sh) and gets REQUESTS sequential keep-alive requests
# per mode (JSON, SSE: the same ~1 KB body as bench/chat.lua) through the
# openai plugin; instrumentation is on only while they run. Prints a markdown
# table: user-space instructions per request in total and inclusively in the
# observability code (Metrics::request_finished and the gauges,
# AccessLog::record on the request's thread, AccessLog::run on the log's own
# thread, RequestHistory::record and ::stream_started: the panel's history).
# Kernel work (the log thread's write, its wake-up) is not counted.
#
#   bench/observability_profile.sh [REQUESTS]     (default 1000; about 30 s)
#
# Uses BENCH_BUILD_DIR (build-bench) as bench/run.sh does, building llmux and
# the openai plugin there if missing. Needs valgrind and nginx with the echo
# module (scripts/install-deps.sh bench).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
requests=${1:-1000}
build=${BENCH_BUILD_DIR:-build-bench}
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
  echo "observability_profile: valgrind is not installed (scripts/install-deps.sh bench)" >&2
  exit 1
fi
if [[ ! -x "$build/bin/llmux" || ! -f "$build/plugins/llmux-openai.so" ]]; then
  [[ -f "$build/CMakeCache.txt" ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLMUX_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target llmux llmux-openai >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # URL SECONDS
  for _ in $(seq $(($2 * 10))); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "observability_profile: $1 did not come up" >&2; return 1
}

up=$(free_port); port=$(free_port)
bench/upstream.sh "$work" "$up" "$(free_port)"
nginx -c "$work/nginx.conf" & pids+=($!)
cat > "$work/providers.yaml" <<YAML
plugins_dir: $root/$build/plugins
client_keys: ["bench-key-0001"]
threads: 1
metrics: {enabled: true}
access_log: $work/access.log
providers:
  up: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/v1", api_key: bench-upstream-key, models: []}}
  up_sse: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/sse/v1", api_key: bench-upstream-key, models: []}}
routes:
  gpt-bench: [up]
  gpt-bench-sse: [up_sse]
YAML
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" \
  "$build/bin/llmux" --config "$work/providers.yaml" --listen "127.0.0.1:$port" --log-level warn \
  >"$work/llmux.log" 2>&1 & pids+=($!); llmux=$!
wait_http "http://127.0.0.1:$up/v1/chat/completions" 10
wait_http "http://127.0.0.1:$port/healthz" 60 || { cat "$work/llmux.log" >&2; exit 1; }

load() {  # MODE COUNT: sequential keep-alive requests; fails unless all answer 200
  python3 - "$port" "$1" "$2" <<'PY'
import http.client, json, sys
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
system = "You are a careful coding assistant. Answer briefly and precisely. " * 10
question = "Write a function that reverses a linked list in C, and explain the loop invariant in two sentences."
body = {"model": "gpt-bench-sse" if mode == "sse" else "gpt-bench",
        "messages": [{"role": "system", "content": system},
                     {"role": "user", "content": [{"type": "text", "text": question}]}],
        "temperature": 0.2, "max_tokens": 512}
if mode == "sse":
    body.update(stream=True, stream_options={"include_usage": True})
data = json.dumps(body).encode()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
bad = 0
for _ in range(n):
    conn.request("POST", "/v1/chat/completions", body=data,
                 headers={"Content-Type": "application/json", "Authorization": "Bearer bench-key-0001"})
    answer = conn.getresponse()
    answer.read()
    bad += answer.status != 200
sys.exit(f"{bad} of {n} {mode} requests did not answer 200" if bad else 0)
PY
}

control() { callgrind_control "$@" "$llmux" >/dev/null 2>&1; }
load json 50  # warm-up, not instrumented
load sse 50
control -i on
part=0
for mode in json sse; do
  control -z
  load "$mode" "$requests"
  control -d "$mode"
  part=$((part + 1))
  [[ -f "$work/cg.out.$part" ]] || { echo "observability_profile: no callgrind dump for $mode" >&2; exit 1; }
done
control -i off

echo "| mode | user-space instructions per request | metrics and request context: Ir/req (share) | access log, request thread: Ir/req (share) | access log, log thread: Ir/req (share) | of which the line's formatting | panel history: Ir/req (share) |"
echo "|---|---|---|---|---|---|---|"
part=0
for mode in json sse; do
  part=$((part + 1))
  callgrind_annotate --inclusive=yes --threshold=100 "$work/cg.out.$part" 2>/dev/null |
    python3 -c '
import re, sys
mode, n = sys.argv[1], int(sys.argv[2])
total, inc = None, {}
for line in sys.stdin:
    m = re.match(r"\s*([0-9,]+) \(\s*[0-9.]+%\)\s+(.*)$", line)
    if not m:
        continue
    ir, name = int(m.group(1).replace(",", "")), m.group(2)
    if "PROGRAM TOTALS" in name:
        total = ir
    for key in ("Metrics::request_finished", "Observability::start_request", "Observability::stream_started",
                "AccessLog::record", "AccessLog::run", "AccessLog::format",
                "RequestHistory::record", "RequestHistory::stream_started"):
        if "llmux::host::" + key + "(" in name or "llmux::host::" + key + "[" in name:
            inc[key] = inc.get(key, 0) + ir
history = inc.get("RequestHistory::record", 0) + inc.get("RequestHistory::stream_started", 0)
# Observability::stream_started includes the history part: counted there, not here.
metrics = inc.get("Metrics::request_finished", 0) + inc.get("Observability::start_request", 0) + \
    inc.get("Observability::stream_started", 0) - inc.get("RequestHistory::stream_started", 0)
def cell(ir):
    return f"{ir / n:,.0f} ({ir / total * 100:.2f} %)"
record, run, fmt = (inc.get(k, 0) for k in ("AccessLog::record", "AccessLog::run", "AccessLog::format"))
print(f"| {mode} | {total / n:,.0f} | {cell(metrics)} | {cell(record)} | {cell(run)} | {fmt / n:,.0f} | {cell(history)} |")
' "$mode" "$requests"
done
echo
echo "callgrind, $requests sequential requests per mode, $("$build/bin/llmux" --version 2>/dev/null | head -n1) ($build), $(date -u +%Y-%m-%dT%H:%MZ)"
