#!/usr/bin/env bash
# End-to-end: the Kilo Code CLI (pinned in tests/e2e/kilo/package.json) runs a
# coding task headless against a live llmux and must finish it.
#
#   run_kilo.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|switch]
#
# mock (default): llmux routes the model to the mock plugin; `kilo run --auto`
#   "create hello.txt with the text hello" must exit 0 and leave hello.txt
#   holding exactly "hello".
# switch: the same task twice against one llmux that is never restarted.
#   First the model's route goes through llmux's openai plugin to a second
#   llmux serving the mock (a stand-in for a real upstream); then the test
#   edits one line of providers.yaml to route it to the local mock, llmux
#   reloads on its own, and the second run must be served locally. Which path
#   served is asserted three ways: the x-llmux-provider header of a probe
#   request, the final text of Kilo's run (the upstream's mock plays a scenario
#   that signs its answer), and the upstream being stopped during run two.
#
# The CLI is installed once into BUILD_DIR/e2e/kilo (again only when the
# package files change). When the registry cannot be reached the test fails;
# it is never skipped. Every Kilo run is bounded by LLMUX_KILO_TIMEOUT (120 s).
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|switch]" >&2
  exit 2
fi
MODE=${4:-mock}

source "$(dirname "$0")/lib.sh"
e2e_bounded 540 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
PKG_SRC=$SOURCE_DIR/tests/e2e/kilo
CACHE=$BUILD_DIR/e2e/kilo
KILO_TIMEOUT=${LLMUX_KILO_TIMEOUT:-120}
API_KEY=llmux-e2e-kilo-key-3b9e
MODEL=coder
PROMPT="create hello.txt with the text hello"


[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"

e2e_workdir kilo

# ---- the CLI: a cache inside the build tree, refreshed when the lock changes.
e2e_npm_install "$PKG_SRC" "$CACHE" "@kilocode/cli" "node_modules/@kilocode/cli/bin/.kilo"
KILO_BIN=$CACHE/node_modules/@kilocode/cli/bin/.kilo

# ---- one headless Kilo run: run_kilo NAME PORT -> $WORK/NAME/{ws,out.json,err.txt}
KILO_SECONDS=""
run_kilo() {
  local name=$1 port=$2 dir=$WORK/$1 status=0 start end
  mkdir -p "$dir/ws" "$dir/home"
  if command -v git >/dev/null; then git -C "$dir/ws" init -q 2>/dev/null || true; fi
  local config
  config=$(printf '{"snapshot":false,"autoupdate":false,"share":"disabled","enabled_providers":["gw"],"model":"gw/%s","provider":{"gw":{"npm":"@ai-sdk/openai-compatible","options":{"baseURL":"http://127.0.0.1:%s/v1","apiKey":"%s"},"models":{"%s":{}}}}}' \
    "$MODEL" "$port" "$API_KEY" "$MODEL")
  start=$(date +%s%N)
  (
    cd "$dir/ws"
    export HOME=$dir/home XDG_CONFIG_HOME=$dir/home/.config XDG_DATA_HOME=$dir/home/.local/share
    export XDG_CACHE_HOME=$dir/home/.cache XDG_STATE_HOME=$dir/home/.local/state
    export KILO_NO_DAEMON=1 KILO_DISABLE_AUTOUPDATE=1 KILO_DISABLE_MODELS_FETCH=1 KILO_DISABLE_DEFAULT_PLUGINS=1
    export KILO_PURE=1 KILO_TELEMETRY_LEVEL=off KILO_DISABLE_SHARE=1 KILO_DISABLE_SESSION_INGEST=1
    export KILO_DISABLE_LSP_DOWNLOAD=1 KILO_DISABLE_PROJECT_CONFIG=1 KILO_AUTH_CONTENT='{}'
    export KILO_CONFIG_CONTENT=$config
    unset OPENAI_API_KEY OPENAI_BASE_URL ANTHROPIC_API_KEY ANTHROPIC_BASE_URL
    exec timeout --kill-after=5 "$KILO_TIMEOUT" "$KILO_BIN" run --auto --format json "$PROMPT" \
      </dev/null >"$dir/out.json" 2>"$dir/err.txt"
  ) || status=$?
  end=$(date +%s%N)
  KILO_SECONDS=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
  e2e_log "kilo run '$name': exit $status in ${KILO_SECONDS} s"
  if ((status != 0)); then
    echo "---- kilo stdout ----" >&2; tail -c 3000 "$dir/out.json" >&2 || true
    echo "---- kilo stderr ----" >&2; tail -c 3000 "$dir/err.txt" >&2 || true
    ((status == 124)) && e2e_fail "kilo run '$name' timed out after ${KILO_TIMEOUT} s"
    e2e_fail "kilo run '$name' exited with status $status"
  fi
  [[ -f "$dir/ws/hello.txt" ]] || {
    tail -c 3000 "$dir/out.json" >&2
    e2e_fail "kilo run '$name' exited 0 but left no hello.txt (workspace: $(ls -A "$dir/ws" | tr '\n' ' '))"
  }
  local content
  content=$(cat "$dir/ws/hello.txt"; printf x)  # keep trailing newlines
  content=${content%x}
  [[ "$content" == "hello" ]] || e2e_fail "kilo run '$name': hello.txt holds '$content', expected 'hello'"
  e2e_log "kilo run '$name': hello.txt = '$content'"
}

# The final assistant text of a Kilo run (its --format json "text" events).
final_text() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
    let text = "";
    for (const l of lines) { try { const e = JSON.parse(l); if (e.type === "text" && e.part && e.part.text) text = e.part.text; } catch {} }
    process.stdout.write(text);' "$1"
}

# x-llmux-provider of a small probe request for the model.
served_by() {
  curl -s -o /dev/null -D - --max-time 10 "http://127.0.0.1:$1/v1/chat/completions" \
    -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"which provider?\"}]}" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "x-llmux-provider" { print $2 }'
}

e2e_log "@kilocode/cli $E2E_NPM_VERSION, $("$KILO_BIN" --version 2>/dev/null | head -n 1 || echo '?')"

case "$MODE" in
  mock)
    cat >"$WORK/providers.yaml" <<EOF
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
providers:
  mock: {plugin: mock}
routes:
  $MODEL: [mock]
EOF
    e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"
    run_kilo mock "$LLMUX_PORT"
    text=$(final_text "$WORK/mock/out.json")
    [[ "$text" == "Done: wrote "*"hello.txt." ]] || e2e_fail "unexpected final answer from the mock: '$text'"
    ;;

  switch)
    [[ -f "$BUILD_DIR/plugins/llmux-openai.so" ]] || e2e_fail "no openai plugin at $BUILD_DIR/plugins/llmux-openai.so"
    # The upstream: an llmux serving a mock that signs its final answer.
    UPSTREAM_KEY=llmux-e2e-kilo-upstream-key-8d21
    cat >"$WORK/upstream-scenario.yaml" <<'EOF'
turns:
  - match: {tool_result: true}
    text: "upstream llmux: wrote {{file}}"
  - agent: true
EOF
    cat >"$WORK/upstream.yaml" <<EOF
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$UPSTREAM_KEY"]
providers:
  mock: {plugin: mock, options: {scenario: upstream-scenario.yaml}}
routes:
  $MODEL: [mock]
EOF
    e2e_start_upstream "$WORK/upstream.yaml" "$WORK/upstream.log"
    cat >"$WORK/providers.yaml" <<EOF
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
providers:
  real:
    plugin: openai
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options: {base_url: "http://127.0.0.1:$UPSTREAM_PORT/v1", api_key: $UPSTREAM_KEY}
  mock: {plugin: mock}
routes:
  $MODEL: [real]   # the switch: [real] <-> [mock]
EOF
    e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"
    FRONT_PID=$LLMUX_PID

    [[ "$(served_by "$LLMUX_PORT")" == "real" ]] || e2e_fail "before the switch, the probe was not served by 'real'"
    run_kilo through-openai "$LLMUX_PORT"
    first_seconds=$KILO_SECONDS
    text=$(final_text "$WORK/through-openai/out.json")
    [[ "$text" == "upstream llmux: wrote "*"hello.txt" ]] ||
      e2e_fail "run one was not answered by the upstream llmux: final text '$text'"

    # The one-line switch, as a user makes it, while llmux keeps running.
    sed -i "s/^  $MODEL: \[real\].*/  $MODEL: [mock]   # switched back to the mock/" "$WORK/providers.yaml"
    grep -q "^  $MODEL: \[mock\]" "$WORK/providers.yaml" || e2e_fail "the route edit did not apply"
    switched=""
    for _ in $(seq 1 100); do  # up to 10 s; llmux polls the file every 500 ms
      if [[ "$(served_by "$LLMUX_PORT")" == "mock" ]]; then switched=yes; break; fi
      sleep 0.1
    done
    [[ -n "$switched" ]] || { tail -n 20 "$WORK/llmux.log" >&2; e2e_fail "llmux did not pick up the edited route within 10 s"; }
    grep -q "changed on disk; reloading" "$WORK/llmux.log" || e2e_fail "no reload in the llmux log"
    # Nothing may reach the upstream any more: stop it.
    e2e_stop_upstream

    run_kilo back-to-mock "$LLMUX_PORT"
    text=$(final_text "$WORK/back-to-mock/out.json")
    [[ "$text" == "Done: wrote "*"hello.txt." ]] || e2e_fail "run two was not answered by the local mock: final text '$text'"
    [[ "$LLMUX_PID" == "$FRONT_PID" ]] && kill -0 "$FRONT_PID" 2>/dev/null || e2e_fail "llmux was restarted"
    e2e_log "switch: run one (through openai plugin) ${first_seconds} s, run two (local mock) ${KILO_SECONDS} s, same llmux pid $FRONT_PID"
    ;;
  *) e2e_fail "unknown mode '$MODE'" ;;
esac

e2e_stop_llmux "$WORK/llmux.log" || e2e_fail "llmux did not shut down cleanly"
e2e_log "kilo ($MODE): PASS"
