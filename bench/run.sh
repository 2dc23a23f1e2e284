#!/usr/bin/env bash
# llmux load benchmark on loopback, bounded (BENCH_DURATION seconds per cell).
#   bench/run.sh        builds Release into build-bench/, runs, prints one table,
#                       writes it to bench/results/latest.md
# Systems, each against the same fast fake upstream (nginx + echo module serving
# a fixed chat.completion and a fixed 20-chunk SSE stream, bench/upstream.sh):
#   direct          wrk -> upstream (the physical limit)
#   nginx proxy     wrk -> nginx reverse proxy -> upstream (the bare-hop reference)
#   llmux openai    wrk -> llmux (openai plugin) -> upstream (OpenAI in, OpenAI out)
#   llmux mock      wrk -> llmux + mock in process (the host's own ceiling)
# Modes JSON and SSE at 1, 32 and 128 connections; req/s, p50, p99, ratio to
# direct, llmux CPU per request; llmux RSS idle and peak.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh bench
LLMUX_BUILD_DIR=build-bench LLMUX_BUILD_TYPE=Release ./scripts/build.sh -DLLMUX_BUILD_TESTS=OFF >/dev/null
duration="${BENCH_DURATION:-5}"
conn_list="${BENCH_CONNECTIONS:-1 32 128}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "bench: $1 did not come up" >&2; exit 1; }

up=$(free_port); proxy=$(free_port); port=$(free_port)
bench/upstream.sh "$work" "$up" "$proxy"
nginx -c "$work/nginx.conf" & pids+=($!)
cat > "$work/providers.yaml" <<YAML
plugins_dir: $PWD/build-bench/plugins
client_keys: ["bench-key-0001"]
providers:
  mock: {plugin: mock, options: {chunk_size: 24}}
  up: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/v1", api_key: bench-upstream-key}}
  up_sse: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/sse/v1", api_key: bench-upstream-key}}
routes:
  mock: [mock]
  gpt-bench: [up]
  gpt-bench-sse: [up_sse]
YAML
./build-bench/bin/llmux --config "$work/providers.yaml" --listen "127.0.0.1:$port" --log-level warn & llmux=$!
pids+=($llmux)
wait_http "http://127.0.0.1:$port/healthz"
wait_http "http://127.0.0.1:$up/v1/chat/completions"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$llmux/status"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$llmux/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$llmux/stat"; }
clk_tck=$(getconf CLK_TCK)
idle_rss=$(rss_kb)

declare -A rps p50
rows=()
# run SYSTEM MODE CONNS URL MODEL
run() {
  local system=$1 mode=$2 conns=$3 url=$4 model=$5
  local threads=$(( conns < 2 ? 1 : 2 ))
  local before after line r p q errors cpu="-"
  before=$(cpu_ticks)
  line=$(MODE=$mode MODEL=$model wrk -t"$threads" -c"$conns" -d"${duration}s" -s bench/chat.lua "$url" | grep '^RESULT')
  after=$(cpu_ticks)
  r=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line"); p=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
  q=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line"); errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
  rps[$system/$mode/$conns]=$r; p50[$system/$mode/$conns]=$p
  if [[ $system == llmux* ]]; then
    cpu=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n=$((r * duration)) 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}')
  fi
  local direct=${rps[direct/$mode/$conns]:-$r}
  local ratio added
  ratio=$(awk -v a="$r" -v b="$direct" 'BEGIN {printf "%.2f", b ? a / b : 0}')
  added=$(awk -v a="$p" -v b="${p50[direct/$mode/$conns]:-$p}" 'BEGIN {printf "%+.3f", (a - b) / 1000}')
  rows+=("| $system | $mode | $conns | $r | $ratio | $(awk -v v="$p" 'BEGIN{printf "%.3f", v/1000}') | $added | $(awk -v v="$q" 'BEGIN{printf "%.3f", v/1000}') | $cpu | $errors |")
}

for mode in json sse; do
  path=/v1/chat/completions; [[ $mode == sse ]] && path=/sse/v1/chat/completions
  model=gpt-bench; [[ $mode == sse ]] && model=gpt-bench-sse
  for conns in $conn_list; do
    run direct "$mode" "$conns" "http://127.0.0.1:$up$path" "$model"
    run "nginx proxy" "$mode" "$conns" "http://127.0.0.1:$proxy$path" "$model"
    run "llmux openai" "$mode" "$conns" "http://127.0.0.1:$port/v1/chat/completions" "$model"
    run "llmux mock" "$mode" "$conns" "http://127.0.0.1:$port/v1/chat/completions" mock
  done
done
peak_rss=$(hwm_kb)

mkdir -p bench/results
{
  echo "llmux bench, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${duration}s per cell, ~1 KB chat body"
  echo
  echo "| system | mode | conns | req/s | × direct | p50 ms | p50 added ms | p99 ms | llmux CPU µs/req | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "llmux RSS idle $((idle_rss / 1024)) MB ($idle_rss kB), peak $((peak_rss / 1024)) MB ($peak_rss kB)"
} | tee bench/results/latest.md
