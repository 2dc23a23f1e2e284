#!/usr/bin/env bash
# A/B of llmux against an earlier revision, on the same machine and upstream:
#   bench/ab.sh REV [CONNS] [REPEATS]      (defaults: 32 connections, 3 repeats)
# Builds REV (Release, llmux and the plugins) in a temporary worktree and this
# tree in build-bench, starts the bench's fake upstream (bench/upstream.sh) and
# one llmux of each, then alternates wrk cells (3 s, JSON then SSE through the
# openai plugin) and prints req/s, p50 and CPU µs per request for both.
# Knobs: BENCH_DURATION (3), BENCH_BUILD_DIR (build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/ab.sh REV [CONNS] [REPEATS]}
conns=${2:-32} repeats=${3:-3} duration=${BENCH_DURATION:-3}
build=${BENCH_BUILD_DIR:-build-bench}
root=$(pwd)

./scripts/install-deps.sh bench >/dev/null
plugin_targets=$(sed -n 's/^ *llmux_add_plugin(\([A-Za-z0-9_-]*\).*/llmux-\1/p' plugins/*/CMakeLists.txt | tr '\n' ' ')
[[ -f "$build/CMakeCache.txt" ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLMUX_BUILD_TESTS=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target llmux $plugin_targets >/dev/null

work=$(mktemp -d)
base="$work/base"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  git worktree remove --force "$base" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
git worktree add -q --detach "$base" "$rev"
cmake -S "$base" -B "$base/build" -DCMAKE_BUILD_TYPE=Release -DLLMUX_BUILD_TESTS=OFF >/dev/null
base_targets=$(sed -n 's/^ *llmux_add_plugin(\([A-Za-z0-9_-]*\).*/llmux-\1/p' "$base"/plugins/*/CMakeLists.txt | tr '\n' ' ')
# shellcheck disable=SC2086
cmake --build "$base/build" -j"$(nproc)" --target llmux $base_targets >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); proxy=$(free_port)
bench/upstream.sh "$work" "$up" "$proxy"
nginx -c "$work/nginx.conf" & pids+=($!)

start() {  # NAME BUILD_DIR -> prints "port pid"
  local name=$1 dir=$2 port
  port=$(free_port)
  cat > "$work/$name.yaml" <<YAML
plugins_dir: $dir/plugins
client_keys: ["bench-key-0001"]
providers:
  up: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/v1", api_key: bench-upstream-key, models: []}}
  up_sse: {plugin: openai, options: {base_url: "http://127.0.0.1:$up/sse/v1", api_key: bench-upstream-key, models: []}}
routes:
  gpt-bench: [up]
  gpt-bench-sse: [up_sse]
YAML
  "$dir/bin/llmux" --config "$work/$name.yaml" --listen "127.0.0.1:$port" --log-level warn &
  pids+=($!)
  echo "$port $!"
}
read -r port_a pid_a < <(start before "$base/build")
read -r port_b pid_b < <(start after "$root/$build")
for port in "$port_a" "$port_b"; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
threads=$(( conns < 2 ? 1 : 2 ))
echo "A/B: before = $(git rev-parse --short "$rev"), after = this tree; $conns conns, ${duration} s cells, $repeats repeats"
printf '%-6s %-4s %-7s %9s %9s %12s\n' repeat mode llmux req/s p50_ms cpu_us/req
for repeat in $(seq "$repeats"); do
  for mode in json sse; do
    model=gpt-bench; [[ $mode == sse ]] && model=gpt-bench-sse
    for side in before after; do
      if [[ $side == before ]]; then port=$port_a pid=$pid_a; else port=$port_b pid=$pid_b; fi
      c0=$(cpu "$pid")
      result=$(MODE=$mode MODEL=$model wrk -t"$threads" -c"$conns" -d"${duration}s" -s bench/chat.lua \
        "http://127.0.0.1:$port/v1/chat/completions" -H "Authorization: Bearer bench-key-0001" | grep '^RESULT')
      c1=$(cpu "$pid")
      rps=$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$result")
      p50=$(sed 's/.*p50_us=\([0-9]*\).*/\1/' <<<"$result")
      requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$result")
      cpu_us=$(( requests > 0 ? (c1 - c0) * 1000000 / ticks / requests : 0 ))
      printf '%-6s %-4s %-7s %9s %9s %12s\n' "$repeat" "$mode" "$side" "$rps" "$(awk "BEGIN{printf \"%.3f\", $p50/1000}")" "$cpu_us"
    done
  done
done
