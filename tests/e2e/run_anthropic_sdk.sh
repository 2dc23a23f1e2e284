#!/usr/bin/env bash
# End-to-end: the official @anthropic-ai/sdk (tests/e2e/anthropic_sdk) against
# a live llmux's /v1/messages, with a client key required.
#
#   run_anthropic_sdk.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|through-claude]
#
# mock (default): llmux translates Anthropic in -> the mock plugin.
# through-claude: llmux's claude plugin (lossless pass-through, token pool with
#   one API key) forwards to a second llmux that serves the mock on /v1/messages
#   (an upstream speaking the Anthropic wire format, SSE `event:` lines included).
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|through-claude]" >&2
  exit 2
fi
MODE=${4:-mock}
FAULT_STATUS=429
source "$(dirname "$0")/lib.sh"
e2e_bounded 300 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
TEST_SRC=$SOURCE_DIR/tests/e2e/anthropic_sdk
CACHE=$BUILD_DIR/e2e/anthropic_sdk
API_KEY=llmux-e2e-client-key-a41c
MODEL=claude-mock

[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin in $BUILD_DIR/plugins"

e2e_workdir anthropic

e2e_npm_install "$TEST_SRC" "$CACHE" "@anthropic-ai/sdk"
cp "$TEST_SRC/anthropic_sdk.test.mjs" "$CACHE/"  # beside node_modules, so the import resolves

cat >"$WORK/providers.yaml" <<YAML
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
providers:
  mock:
    plugin: mock
    retry: {attempts: 0}          # injected failures must reach the client as they are
    cooldown: {after_failures: 0}
routes:
  $MODEL: [mock]
YAML

case "$MODE" in
  mock) ;;
  through-claude)
    FAULT_STATUS=400  # a 429 would cool down the pool's only token for the tests after it
    UPSTREAM_KEY=llmux-e2e-upstream-key-9d2e
    e2e_through_claude "$MODEL"
    ;;
  *) e2e_fail "unknown mode '$MODE'" ;;
esac

e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"
e2e_log "@anthropic-ai/sdk@$E2E_NPM_VERSION on node $(node --version) against http://127.0.0.1:$LLMUX_PORT ($MODE)"
status=0
(cd "$CACHE" && LLMUX_BASE_URL="http://127.0.0.1:$LLMUX_PORT" LLMUX_API_KEY="$API_KEY" LLMUX_MODEL="$MODEL" \
  LLMUX_FAULT_STATUS=$FAULT_STATUS \
  node --test --test-reporter=spec anthropic_sdk.test.mjs) || status=$?

if ((status == 0)) && [[ "$MODE" == through-claude ]]; then
  # The pool served every request with its one key, and /api/tokens shows it
  # without the secret.
  tokens=$(curl -sf -H "x-api-key: $API_KEY" "http://127.0.0.1:$LLMUX_PORT/api/tokens") || e2e_fail "/api/tokens failed"
  e2e_log "/api/tokens: $tokens"
  [[ "$tokens" != *"$UPSTREAM_KEY"* ]] || e2e_fail "/api/tokens shows the secret"
  [[ "$tokens" == *'"label":"e2e"'* ]] || e2e_fail "/api/tokens does not list the token"
fi
if ((status == 0)) && ! e2e_stop_llmux "$WORK/llmux.log"; then
  e2e_fail "llmux did not shut down cleanly"
fi
if ((status != 0)); then
  e2e_dump_logs
  e2e_log "anthropic SDK ($MODE): FAIL (node exited with $status)"
else
  e2e_log "anthropic SDK ($MODE): PASS"
fi
exit "$status"
