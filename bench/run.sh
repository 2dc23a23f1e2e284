#!/usr/bin/env bash
# llmux benchmark suite, loopback only, bounded. One command:
#   bench/run.sh            full run (about 7 minutes): prints the table and
#                           writes it to bench/results/latest.md
#   bench/run.sh --quick    about 2 minutes: one repeat, 2 s cells, 1 and 32
#                           connections, the 1,000-stream scale test only
#   bench/run.sh --observability [--quick]
#                           only the observability comparison (below): about
#                           2 minutes (1 with --quick)
# Environment: BENCH_DURATION (s per cell), BENCH_REPEATS, BENCH_CONNECTIONS
# ("1 32 128"), BENCH_SCALE ("1000 10000"), BENCH_OBS_REPEATS (5, quick 3),
# BENCH_OBS_CONNECTIONS (32), BENCH_BUILD_DIR (build-bench), BENCH_OUT
# (bench/results/latest.md; bench/results/observability.md for --observability).
#
# Systems, each against the same fake upstream (bench/upstream.sh: nginx + the
# echo module, one worker, answering a fixed chat.completion, a fixed 20-chunk
# SSE stream, and a slow stream for the scale test):
#   direct          wrk -> upstream (the physical limit)
#   nginx proxy     wrk -> nginx reverse proxy (its own nginx) -> upstream (the bare hop)
#   pistache bare   wrk -> a Pistache handler answering the same bytes (Pistache's ceiling)
#   llmux openai    wrk -> llmux -> openai plugin -> upstream (OpenAI in: pass-through)
#   llmux anthropic wrk -> llmux POST /v1/messages -> openai plugin -> upstream (translation)
#   llmux responses wrk -> llmux POST /v1/responses -> openai plugin -> upstream (translation to chat)
#   llmux mock      wrk -> llmux with the mock in process (the host's own ceiling)
#   portkey         wrk -> Portkey gateway (npm, pinned; bench/portkey.sh) -> upstream (the peer)
# Modes JSON and SSE at 1, 32 and 128 connections, wrk posting a ~1 KB chat
# body (bench/chat.lua). The systems take turns within each cell and the whole
# matrix is repeated, so drift of the shared machine cancels in the ratios.
# Gateway processes: CPU time per request, RSS idle and peak. Scale: N slow
# streams held open at once (bench/streams.py), RSS and CPU per chunk.
# Observability cost: three more llmux processes on the same upstream (openai
# plugin, JSON and SSE, 32 connections) that differ only in their config:
# `metrics: {enabled: false}` and no access log (baseline), metrics on (the
# default), metrics on + `access_log: FILE`; they take turns within each
# repeat (order rotated per repeat), cost = CPU per request and req/s against
# the baseline of the same repeat.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=0
obs_only=0
[[ "${BENCH_QUICK:-0}" == 1 ]] && quick=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --observability) obs_only=1 ;;
    *) echo "usage: $0 [--quick] [--observability]" >&2; exit 2 ;;
  esac
done
if ((quick)); then
  duration=${BENCH_DURATION:-2}; repeats=${BENCH_REPEATS:-1}
  conn_list=${BENCH_CONNECTIONS:-"1 32"}; scale_list=${BENCH_SCALE:-"1000"}
  obs_repeats=${BENCH_OBS_REPEATS:-3}
else
  duration=${BENCH_DURATION:-3}; repeats=${BENCH_REPEATS:-2}
  conn_list=${BENCH_CONNECTIONS:-"1 32 128"}; scale_list=${BENCH_SCALE:-"1000 10000"}
  obs_repeats=${BENCH_OBS_REPEATS:-5}
fi
obs_conns=${BENCH_OBS_CONNECTIONS:-32}
build=${BENCH_BUILD_DIR:-build-bench}
if ((obs_only)); then
  out=${BENCH_OUT:-bench/results/observability.md}
else
  out=${BENCH_OUT:-bench/results/latest.md}
fi
started=$(date +%s)

# ---- dependencies and builds (Debian packages; npm only through portkey.sh)
./scripts/install-deps.sh bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLMUX_BUILD_TESTS=OFF >/dev/null
else
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
plugin_targets=$(sed -n 's/^ *llmux_add_plugin(\([A-Za-z0-9_-]*\).*/llmux-\1/p' plugins/*/CMakeLists.txt | tr '\n' ' ')
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target llmux $plugin_targets >/dev/null
mkdir -p "$build/bench"
bare_bin="$build/bench/pistache-bare"
if ((!obs_only)) && [[ ! -x "$bare_bin" || bench/pistache_bare.cc -nt "$bare_bin" ]]; then
  # shellcheck disable=SC2046
  g++ -std=c++17 -O2 -Wall -Wextra -o "$bare_bin" bench/pistache_bare.cc $(pkg-config --cflags --libs libpistache) -pthread
fi
portkey_start=""
portkey_note=""
if ((obs_only)); then :
elif portkey_start=$(bench/portkey.sh "$build/bench-cache/portkey"); then :; else
  portkey_start=""; portkey_note="Portkey skipped: its npm install failed (see the output above)."
fi

# ---- processes
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# 10,000 proxied streams need 20,000 descriptors in the gateway: take the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit=$(ulimit -n)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # URL [curl args...]
  local url=$1; shift
  for _ in $(seq 200); do curl -s -o /dev/null "$@" "$url" && return 0; sleep 0.05; done
  echo "bench: $url did not come up" >&2; return 1
}

up=$(free_port); proxy=$(free_port); port=$(free_port); bare=$(free_port); pk=$(free_port)
bench/upstream.sh "$work" "$up" "$proxy"
nginx -c "$work/nginx.conf" & pids+=($!); upstream_pid=$!
threads=$(nproc)
if ((!obs_only)); then
  nginx -c "$work/proxy.conf" & pids+=($!); proxy_pid=$!
  "$bare_bin" "$bare" "$threads" "$work/answer.json" "$work/answer.sse" & pids+=($!); bare_pid=$!
fi
cat > "$work/providers.yaml" <<YAML
plugins_dir: $root/$build/plugins
client_keys: ["bench-key-0001"]
providers:
  mock: {plugin: mock, options: {chunk_size: 24}}
  mock_slow:
    plugin: mock
    options: {chunk_size: 8, chunk_delay: 1s, agent: "off", reply: "$(printf 'tok%02d ..' $(seq 1 20) | cut -c1-160)"}
  up: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/v1", api_key: bench-upstream-key, models: []}}
  up_sse: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/sse/v1", api_key: bench-upstream-key, models: []}}
  up_slow: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/slow/v1", api_key: bench-upstream-key, models: []}}
routes:
  mock: [mock]
  mock-slow: [mock_slow]
  gpt-bench: [up]
  gpt-bench-sse: [up_sse]
  gpt-bench-slow: [up_slow]
YAML
start_llmux() {
  "$build/bin/llmux" --config "$work/providers.yaml" --listen "127.0.0.1:$port" --log-level warn & pids+=($!); llmux=$!
}
start_llmux
if [[ -n "$portkey_start" ]]; then
  NODE_ENV=production node "$portkey_start" --headless --port="$pk" >"$work/portkey.log" 2>&1 & pids+=($!); portkey_pid=$!
fi
# Observability comparison: the same config but for metrics and the access log.
obs_names=(baseline metrics "metrics + access log")
obs_ports=("$(free_port)" "$(free_port)" "$(free_port)")
obs_pids=()
mkdir -p "$work/obs"
obs_log="$work/obs/access.log"
{ cat "$work/providers.yaml"; echo "metrics: {enabled: false}"; echo "access_log: off"; } > "$work/obs/baseline.yaml"
{ cat "$work/providers.yaml"; echo "metrics: {enabled: true}"; echo "access_log: off"; } > "$work/obs/metrics.yaml"
{ cat "$work/providers.yaml"; echo "metrics: {enabled: true}"; echo "access_log: $obs_log"; } > "$work/obs/log.yaml"
obs_configs=("$work/obs/baseline.yaml" "$work/obs/metrics.yaml" "$work/obs/log.yaml")
for i in 0 1 2; do
  "$build/bin/llmux" --config "${obs_configs[$i]}" --listen "127.0.0.1:${obs_ports[$i]}" --log-level warn & pids+=($!); obs_pids+=($!)
done
wait_http "http://127.0.0.1:$up/v1/chat/completions"
((obs_only)) || wait_http "http://127.0.0.1:$proxy/v1/chat/completions"
((obs_only)) || wait_http "http://127.0.0.1:$bare/"
wait_http "http://127.0.0.1:$port/healthz"
for p in "${obs_ports[@]}"; do wait_http "http://127.0.0.1:$p/healthz"; done

post() {  # URL BODY [curl args...] -> prints the HTTP status
  local url=$1 body=$2; shift 2
  curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' "$@" -d "$body" "$url" || true
}
portkey_headers() {  # PATH_PREFIX
  echo "x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:$up$1/v1|Authorization: Bearer bench-upstream-key"
}
if [[ -n "$portkey_start" ]]; then
  ok=""
  for _ in $(seq 100); do
    code=$(post "http://127.0.0.1:$pk/v1/chat/completions" '{"model":"gpt-bench","messages":[{"role":"user","content":"hi"}]}' \
      -H 'x-portkey-provider: openai' -H "x-portkey-custom-host: http://127.0.0.1:$up/v1" -H 'Authorization: Bearer bench-upstream-key')
    [[ $code == 200 ]] && { ok=1; break; }
    sleep 0.1
  done
  if [[ -z $ok ]]; then
    portkey_note="Portkey skipped: it did not answer 200 (last status $code; log: $(tail -c 300 "$work/portkey.log" | tr '\n' ' '))."
    kill "$portkey_pid" 2>/dev/null || true
    portkey_start=""
  fi
fi
anthropic=1
anthropic_note=""
code=$(post "http://127.0.0.1:$port/v1/messages" \
  '{"model":"gpt-bench","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}' \
  -H 'x-api-key: bench-key-0001' -H 'anthropic-version: 2023-06-01')
if [[ $code != 200 ]]; then
  anthropic=0
  anthropic_note="llmux anthropic skipped: POST /v1/messages answered $code (the Anthropic endpoint is not in this build yet)."
fi

# ---- measurements
clk_tck=$(getconf CLK_TCK)
tree_pids() { echo "$1"; pgrep -P "$1" 2>/dev/null || true; }
cpu_ticks() {  # PID: user+system ticks of the process and its children (nginx workers)
  local total=0 p t
  for p in $(tree_pids "$1"); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
ctx_switches() {  # PID: voluntary + involuntary context switches of every thread of the process and its children
  local p
  for p in $(tree_pids "$1"); do cat "/proc/$p/task/"*/status 2>/dev/null || true; done |
    awk '$1 ~ /ctxt_switches:$/ { n += $2 } END { print n + 0 }'
}
mem_kb() {  # PID FIELD (VmRSS|VmHWM): summed over the process and its children
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

results="$work/results.tsv"
meta="$work/meta.txt"
: > "$results"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "cores=$(nproc)"
  echo "duration=$duration"
  echo "repeats=$repeats"
  echo "quick=$quick"
  echo "fd_limit=$fd_limit"
  echo "threads=$threads"
} > "$meta"

# Idle RSS once everything has started and settled.
sleep 1
if ((!obs_only)); then
  echo "rss_idle/llmux=$(mem_kb "$llmux" VmRSS)" >> "$meta"
  echo "pss_idle/llmux=$(awk '$1 == "Pss:" {print $2}' "/proc/$llmux/smaps_rollup")" >> "$meta"
  echo "rss_idle/nginx proxy=$(mem_kb "$proxy_pid" VmRSS)" >> "$meta"
  echo "rss_idle/pistache bare=$(mem_kb "$bare_pid" VmRSS)" >> "$meta"
  [[ -n "$portkey_start" ]] && echo "rss_idle/portkey=$(mem_kb "$portkey_pid" VmRSS)" >> "$meta"
fi

# run REP SYSTEM MODE CONNS URL MODEL PID [API] [HEADERS]
run() {
  local rep=$1 system=$2 mode=$3 conns=$4 url=$5 model=$6 pid=$7 api=${8:-openai} headers=${9:-}
  local threads=$((conns < 2 ? 1 : 2)) before after line csw_before=0
  before=$( [[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
  [[ -n $pid ]] && csw_before=$(ctx_switches "$pid")
  line=$(MODE=$mode MODEL=$model API=$api HEADERS=$headers \
    wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 5s -s bench/chat.lua "$url" | grep '^RESULT' || echo "RESULT rps=0 p50_us=0 p99_us=0 errors=-1 requests=0")
  after=$( [[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
  [[ -n $pid ]] && line+=" csw=$(( $(ctx_switches "$pid") - csw_before ))"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$system" "$mode" "$conns" "$line" "$((after - before))" "$([[ -n $pid ]] && echo 1 || echo 0)" >> "${run_out:-$results}"
  printf '  %-16s %-4s %4s conns: %s\n' "$system" "$mode" "$conns" "${line#RESULT }" >&2
}

# ---- observability cost: baseline / metrics / metrics + access log, taking
# turns (the order rotates each repeat so no configuration always goes first).
obs="$work/obs.tsv"
: > "$obs"
run_observability() {
  local rep mode model k i lines dropped=0
  echo "bench: observability cost, ${obs_repeats} repeat(s) x ${duration}s cells, $obs_conns connections" >&2
  for i in 0 1 2; do  # warm-up: connection pools, allocator, page cache
    for mode in json sse; do
      model=gpt-bench
      [[ $mode == sse ]] && model=gpt-bench-sse
      MODE=$mode MODEL=$model wrk -t2 -c"$obs_conns" -d1s -s bench/chat.lua "http://127.0.0.1:${obs_ports[$i]}/v1/chat/completions" >/dev/null
    done
  done
  : > "$obs_log"
  for rep in $(seq 1 "$obs_repeats"); do
    for mode in json sse; do
      model=gpt-bench
      [[ $mode == sse ]] && model=gpt-bench-sse
      for k in 0 1 2; do
        i=$(( (k + rep - 1) % 3 ))
        run_out=$obs run "$rep" "${obs_names[$i]}" "$mode" "$obs_conns" \
          "http://127.0.0.1:${obs_ports[$i]}/v1/chat/completions" "$model" "${obs_pids[$i]}"
        if ((i == 2)); then  # the access log: count its lines, then start it afresh (O_APPEND: truncating is safe)
          sleep 0.2
          lines=$(wc -l < "$obs_log")
          echo "obs_log_lines/$rep/$mode=$lines" >> "$meta"
          : > "$obs_log"
        fi
      done
    done
  done
  dropped=$(curl -s "http://127.0.0.1:${obs_ports[2]}/metrics" -H 'Authorization: Bearer bench-key-0001' |
    awk '$1 == "llmux_access_log_dropped_total" { print $2 }')
  echo "obs_log_dropped=${dropped:-unknown}" >> "$meta"
  echo "obs_conns=$obs_conns" >> "$meta"
  for i in 0 1 2; do kill "${obs_pids[$i]}" 2>/dev/null || true; done  # frees their memory for the rest
  # Instructions per request in the observability code (callgrind: immune to the machine's load).
  if command -v valgrind >/dev/null; then
    BENCH_BUILD_DIR=$build bench/observability_profile.sh 1000 > "$work/obs_profile.md" ||
      echo "bench: bench/observability_profile.sh failed" >&2
  fi
}
obs_profile() {  # the callgrind table, when there is one
  [[ -s "$work/obs_profile.md" ]] || return 0
  printf '\nInstructions per request (bench/observability_profile.sh: callgrind, one I/O thread, sequential requests):\n\n'
  cat "$work/obs_profile.md"
}
if ((obs_only)); then
  run_observability
  echo "elapsed=$(( $(date +%s) - started ))" >> "$meta"
  mkdir -p "$(dirname "$out")"
  { python3 bench/report.py --observability-only "$obs" "$meta"; obs_profile; } | tee "$out"
  exit 0
fi

echo "bench: ${repeats} repeat(s) x ${duration}s cells; connections: $conn_list" >&2
for rep in $(seq 1 "$repeats"); do
  for mode in json sse; do
    prefix=""; model=gpt-bench
    [[ $mode == sse ]] && { prefix=/sse; model=gpt-bench-sse; }
    for conns in $conn_list; do
      run "$rep" "direct" "$mode" "$conns" "http://127.0.0.1:$up$prefix/v1/chat/completions" "$model" ""
      run "$rep" "nginx proxy" "$mode" "$conns" "http://127.0.0.1:$proxy$prefix/v1/chat/completions" "$model" "$proxy_pid"
      run "$rep" "pistache bare" "$mode" "$conns" "http://127.0.0.1:$bare$prefix/v1/chat/completions" "$model" "$bare_pid"
      run "$rep" "llmux openai" "$mode" "$conns" "http://127.0.0.1:$port/v1/chat/completions" "$model" "$llmux"
      if ((anthropic)); then
        run "$rep" "llmux anthropic" "$mode" "$conns" "http://127.0.0.1:$port/v1/messages" "$model" "$llmux" anthropic
      fi
      run "$rep" "llmux responses" "$mode" "$conns" "http://127.0.0.1:$port/v1/responses" "$model" "$llmux" responses
      run "$rep" "llmux mock" "$mode" "$conns" "http://127.0.0.1:$port/v1/chat/completions" mock "$llmux"
      if [[ -n "$portkey_start" ]]; then
        run "$rep" "portkey" "$mode" "$conns" "http://127.0.0.1:$pk/v1/chat/completions" "$model" "$portkey_pid" openai "$(portkey_headers "$prefix")"
      fi
    done
  done
done
echo "rss_peak/llmux=$(mem_kb "$llmux" VmHWM)" >> "$meta"
echo "rss_peak/nginx proxy=$(mem_kb "$proxy_pid" VmHWM)" >> "$meta"
echo "rss_peak/pistache bare=$(mem_kb "$bare_pid" VmHWM)" >> "$meta"
[[ -n "$portkey_start" ]] && echo "rss_peak/portkey=$(mem_kb "$portkey_pid" VmHWM)" >> "$meta"
[[ -n "$portkey_start" ]] && kill "$portkey_pid" 2>/dev/null || true  # frees CPU for the scale test
run_observability

# ---- scale: slow streams held open at once
scale="$work/scale.tsv"
: > "$scale"
for n in $scale_list; do
  # Proxied streams take two descriptors each (client and upstream).
  proxied=$n
  if ((2 * n + 200 > fd_limit)); then proxied=$(((fd_limit - 200) / 2)); fi
  for what in openai mock; do
    count=$n; model=mock-slow
    if [[ $what == openai ]]; then count=$proxied; model=gpt-bench-slow; fi
    # 1,000 streams: the proxied path only; 10,000: both.
    if [[ $what == mock && $n -lt 5000 ]]; then continue; fi
    # A fresh llmux per row: memory a previous row freed is not given back to
    # the system (glibc keeps it for reuse), so it would blur this row's peak.
    kill "$llmux" 2>/dev/null || true
    wait "$llmux" 2>/dev/null || true
    start_llmux
    wait_http "http://127.0.0.1:$port/healthz"
    sleep 0.5
    line=$(python3 bench/streams.py --port "$port" --streams "$count" --model "$model" --pid "$llmux" --timeout 90 | grep '^RESULT')
    printf '%s\t%s\t%s\n' "$what" "$n" "$line" >> "$scale"
    printf '  scale %-6s %6s streams: %s\n' "$what" "$count" "${line#RESULT }" >&2
    sleep 1
  done
done

elapsed=$(( $(date +%s) - started ))
{
  echo "elapsed=$elapsed"
  echo "note=$portkey_note"
  echo "note=$anthropic_note"
} >> "$meta"
mkdir -p "$(dirname "$out")"
{ python3 bench/report.py "$results" "$scale" "$meta" "$obs"; obs_profile; } | tee "$out"
