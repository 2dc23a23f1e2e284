#!/usr/bin/env bash
# End-to-end: the Claude Code CLI (npm @anthropic-ai/claude-code, pinned in
# tests/e2e/claude_code) headless against a live llmux, offline.
#
#   run_claude_code.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|through-claude]
#
# mock (default): /v1/messages translated to the mock plugin.
# through-claude: llmux's claude plugin passes Claude Code's bodies through
#   (~76 KB, cache_control, thinking, context_management) to a second llmux
#   that serves the mock: the route a real Anthropic upstream takes.
#
# Two runs: `claude -p "create hello.txt with the text hello"` must write the
# file with its own Write tool and exit 0; a plain question must be answered.
# Claude Code refuses --dangerously-skip-permissions as root, so the headless
# run allows exactly the Write tool (--permission-mode acceptEdits).
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|through-claude]" >&2
  exit 2
fi
MODE=${4:-mock}
source "$(dirname "$0")/lib.sh"
e2e_bounded 400 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
PKG_SRC=$SOURCE_DIR/tests/e2e/claude_code
CACHE=$BUILD_DIR/e2e/claude_code
API_KEY=llmux-e2e-client-key-c1a7
MODEL=claude-sonnet-4-5

[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin in $BUILD_DIR/plugins"

e2e_workdir claude-code

# The binary arrives through the package's postinstall script: check it runs.
e2e_npm_install "$PKG_SRC" "$CACHE" "@anthropic-ai/claude-code" "node_modules/.bin/claude"
CLAUDE=$CACHE/node_modules/.bin/claude
"$CLAUDE" --version >/dev/null 2>&1 || e2e_fail "$CLAUDE --version does not run"

# Claude Code asks for --model and, for side requests, a small model it picks
# itself (claude-haiku-*): the table routes the whole family.
cat >"$WORK/providers.yaml" <<YAML
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
providers:
  mock:
    plugin: mock
routes:
  "claude-*": [mock]
YAML

case "$MODE" in
  mock) ;;
  through-claude)
    UPSTREAM_KEY=llmux-e2e-upstream-key-77b1
    e2e_through_claude "claude-*"
    ;;
  *) e2e_fail "unknown mode '$MODE'" ;;
esac

e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"
e2e_log "claude $("$CLAUDE" --version | head -1) against http://127.0.0.1:$LLMUX_PORT ($MODE)"

# run_claude NAME PROMPT [claude args...] -> $WORK/NAME/{ws,out.json,err.txt}, returns claude's status
run_claude() {
  local name=$1 prompt=$2
  shift 2
  mkdir -p "$WORK/$name/ws" "$WORK/$name/home"
  local status=0 started=$SECONDS
  (cd "$WORK/$name/ws" &&
    env -i PATH="$PATH" HOME="$WORK/$name/home" TMPDIR="$WORK/$name" \
      ANTHROPIC_BASE_URL="http://127.0.0.1:$LLMUX_PORT" ANTHROPIC_API_KEY="$API_KEY" \
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 \
      CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1 \
      timeout --kill-after=5 120 "$CLAUDE" -p "$prompt" --model "$MODEL" --output-format json "$@" \
      </dev/null >"$WORK/$name/out.json" 2>"$WORK/$name/err.txt") || status=$?
  e2e_log "claude run '$name' exited with $status after $((SECONDS - started)) s"
  if ((status != 0)); then
    echo "---- stdout ----" >&2; head -c 3000 "$WORK/$name/out.json" >&2
    echo "---- stderr ----" >&2; tail -n 30 "$WORK/$name/err.txt" >&2
  fi
  return "$status"
}

failed=0
if run_claude write "create hello.txt with the text hello" --permission-mode acceptEdits --allowedTools Write; then
  file=$WORK/write/ws/hello.txt
  if [[ ! -f "$file" ]]; then
    e2e_log "FAIL: hello.txt was not created"; failed=1
  elif [[ "$(cat "$file")" != "hello" ]]; then
    e2e_log "FAIL: hello.txt holds '$(head -c 200 "$file")', want 'hello'"; failed=1
  fi
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (r.is_error || r.subtype !== "success") { console.error(r); process.exit(1); }' \
    "$WORK/write/out.json" || { e2e_log "FAIL: the write run did not report success"; failed=1; }
else
  failed=1
fi

if run_claude ask "What is the capital of France?"; then
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (r.is_error || r.subtype !== "success" || !r.result.includes("capital of France")) { console.error(r); process.exit(1); }' \
    "$WORK/ask/out.json" || { e2e_log "FAIL: the question was not answered"; failed=1; }
else
  failed=1
fi

# Through the pool: its one token carried every request, and /api/tokens says so
# without showing the key.
if ((failed == 0)) && [[ "$MODE" == through-claude ]]; then
  tokens=$(curl -sf -H "x-api-key: $API_KEY" "http://127.0.0.1:$LLMUX_PORT/api/tokens") || e2e_fail "/api/tokens failed"
  e2e_log "/api/tokens: $tokens"
  [[ "$tokens" != *"$UPSTREAM_KEY"* ]] || e2e_fail "/api/tokens shows the secret"
  node -e 'const t = JSON.parse(process.argv[1]).providers[0].tokens[0];
    if (!(t.requests >= 3 && t.failures === 0)) { console.error(t); process.exit(1); }' "$tokens" ||
    e2e_fail "the pool's token did not carry Claude Code's requests"
fi
if ((failed == 0)) && ! e2e_stop_llmux "$WORK/llmux.log"; then
  e2e_fail "llmux did not shut down cleanly"
fi
if ((failed != 0)); then
  e2e_dump_logs
  e2e_log "Claude Code ($MODE): FAIL"
  exit 1
fi
e2e_log "Claude Code ($MODE): PASS"
