#!/usr/bin/env bash
# llmux load benchmark on loopback (bounded: a few seconds per cell).
#   bench/run.sh            # builds Release into build-bench/, runs, prints a table
# Measures llmux + mock in process (the host's own ceiling): JSON and SSE at
# 1, 32 and 128 connections (req/s, p50, p99), RSS idle and peak, CPU per request.
# Writes the table to bench/results/latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh bench
LLMUX_BUILD_DIR=build-bench LLMUX_BUILD_TYPE=Release ./scripts/build.sh -DLLMUX_BUILD_TESTS=OFF
duration="${BENCH_DURATION:-5}"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/providers.yaml" <<YAML
plugins_dir: $PWD/build-bench/plugins
client_keys: ["bench-key-0001"]
providers:
  mock: {plugin: mock, options: {chunk_size: 24}}
routes:
  mock: [mock]
YAML
./build-bench/bin/llmux --config "$work/providers.yaml" --listen "127.0.0.1:$port" --log-level warn &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
clk_tck=$(getconf CLK_TCK)

idle_rss=$(rss_kb)
url="http://127.0.0.1:$port/v1/chat/completions"
rows=()
for mode in json sse; do
  for conns in 1 32 128; do
    threads=$(( conns < 2 ? 1 : 2 ))
    before=$(cpu_ticks)
    out=$(MODE=$mode wrk -t"$threads" -c"$conns" -d"${duration}s" -s bench/chat.lua "$url")
    after=$(cpu_ticks)
    line=$(grep '^RESULT' <<<"$out")
    rps=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
    errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
    total=$(awk -v r="$rps" -v d="$duration" 'BEGIN {printf "%d", r * d}')
    cpu_us=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$total" 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}')
    rows+=("| llmux + mock | $mode | $conns | $rps | $(awk -v v="$p50" 'BEGIN{printf "%.3f", v/1000}') | $(awk -v v="$p99" 'BEGIN{printf "%.3f", v/1000}') | $cpu_us | $errors |")
  done
done
peak_rss=$(hwm_kb)

mkdir -p bench/results
{
  echo "llmux bench, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${duration}s per cell, ~1 KB chat body"
  echo
  echo "| system | mode | conns | req/s | p50 ms | p99 ms | CPU µs/req | errors |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "RSS idle $((idle_rss / 1024)) MB ($idle_rss kB), peak $((peak_rss / 1024)) MB ($peak_rss kB)"
} | tee bench/results/latest.md
