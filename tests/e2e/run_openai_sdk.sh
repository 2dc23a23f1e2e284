#!/usr/bin/env bash
# End-to-end: the official openai npm SDK (tests/e2e/openai_sdk) against a live
# llmux, with a client key required.
#
#   run_openai_sdk.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|through-openai|through-claude]
#
# mock (default): llmux serves the mock plugin.
# through-openai: llmux's openai plugin forwards to a second llmux that serves
#   the mock (an upstream speaking the exact OpenAI wire format), so the SDK's
#   streams, tools and errors cross llmux -> openai plugin -> upstream.
# through-claude: the same through llmux's claude plugin to a second llmux
#   answering /v1/messages: an OpenAI client reaching a Claude model.
#
# The npm packages are installed once into BUILD_DIR/e2e/openai_sdk (again only
# when package-lock.json changes). No network at test time except that install;
# when it cannot be done the test fails, it is never skipped.
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|through-openai|through-claude]" >&2
  exit 2
fi
MODE=${4:-mock}

# The whole test is bounded: re-run under timeout(1) unless already there.
if [[ -z "${LLMUX_E2E_BOUNDED:-}" ]]; then
  export LLMUX_E2E_BOUNDED=1
  exec timeout --kill-after=10 "${LLMUX_E2E_TIMEOUT:-300}" bash "$0" "$@"
fi

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
TEST_SRC=$SOURCE_DIR/tests/e2e/openai_sdk
CACHE=$BUILD_DIR/e2e/openai_sdk
API_KEY=llmux-e2e-client-key-7f3a

source "$SOURCE_DIR/tests/e2e/lib.sh"

[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmux-e2e-openai.XXXXXX")
UPSTREAM_PID=""
cleanup() {
  local status=$?
  e2e_stop_llmux || true
  if [[ -n "$UPSTREAM_PID" ]]; then kill "$UPSTREAM_PID" 2>/dev/null; wait "$UPSTREAM_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# npm packages: a cache inside the build tree, refreshed when the lock changes.
e2e_npm_install "$TEST_SRC" "$CACHE" openai
have=$E2E_NPM_VERSION
cp "$TEST_SRC/openai_sdk.test.mjs" "$CACHE/"  # beside node_modules, so `import 'openai'` resolves

cat >"$WORK/providers.yaml" <<EOF
listen: 127.0.0.1:8080   # overridden by --listen
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
providers:
  mock:
    plugin: mock
    options:
      models: [mock]
routes:
  mock: [mock]
EOF

case "$MODE" in
  mock) ;;
  through-openai)
    [[ -f "$BUILD_DIR/plugins/llmux-openai.so" ]] || e2e_fail "no openai plugin at $BUILD_DIR/plugins/llmux-openai.so"
    # The upstream: an llmux serving the mock, with its own key.
    UPSTREAM_KEY=llmux-e2e-upstream-key-51c0
    sed "s/$API_KEY/$UPSTREAM_KEY/" "$WORK/providers.yaml" >"$WORK/upstream.yaml"
    e2e_start_llmux "$LLMUX_BINARY" "$WORK/upstream.yaml" "$WORK/upstream.log"
    UPSTREAM_PID=$LLMUX_PID
    UPSTREAM_PORT=$LLMUX_PORT
    LLMUX_PID=""
    cat >"$WORK/providers.yaml" <<YAML
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
providers:
  upstream:
    plugin: openai
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: http://127.0.0.1:$UPSTREAM_PORT/v1
      api_key: $UPSTREAM_KEY
routes:
  mock: [upstream]
YAML
    ;;
  through-claude)
    [[ -f "$BUILD_DIR/plugins/llmux-claude.so" ]] || e2e_fail "no claude plugin at $BUILD_DIR/plugins/llmux-claude.so"
    # OpenAI in -> claude plugin (requests rendered as Anthropic Messages, the
    # answers parsed back) -> an upstream llmux serving the mock on /v1/messages.
    UPSTREAM_KEY=llmux-e2e-upstream-key-c3d8
    sed "s/$API_KEY/$UPSTREAM_KEY/" "$WORK/providers.yaml" >"$WORK/upstream.yaml"
    e2e_start_llmux "$LLMUX_BINARY" "$WORK/upstream.yaml" "$WORK/upstream.log"
    UPSTREAM_PID=$LLMUX_PID
    UPSTREAM_PORT=$LLMUX_PORT
    LLMUX_PID=""
    cat >"$WORK/providers.yaml" <<YAML
plugins_dir: $BUILD_DIR/plugins
state_dir: $WORK/state
client_keys: ["$API_KEY"]
providers:
  claude:
    plugin: claude
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: http://127.0.0.1:$UPSTREAM_PORT
      credentials:
        - label: e2e
          api_key: $UPSTREAM_KEY
routes:
  mock: [claude]
YAML
    ;;
  *) e2e_fail "unknown mode '$MODE'" ;;
esac

e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"

e2e_log "openai@$have on node $(node --version) against http://127.0.0.1:$LLMUX_PORT/v1 ($MODE)"
status=0
(cd "$CACHE" && LLMUX_BASE_URL="http://127.0.0.1:$LLMUX_PORT/v1" LLMUX_API_KEY="$API_KEY" \
  node --test --test-reporter=spec openai_sdk.test.mjs) || status=$?

if ((status == 0)) && ! e2e_stop_llmux "$WORK/llmux.log"; then
  e2e_fail "llmux did not shut down cleanly"
fi
if ((status != 0)); then
  echo "---- llmux log (last 60 lines) ----" >&2
  tail -n 60 "$WORK/llmux.log" >&2
  if [[ -f "$WORK/upstream.log" ]]; then echo "---- upstream llmux log ----" >&2; tail -n 30 "$WORK/upstream.log" >&2; fi
  e2e_log "openai SDK ($MODE): FAIL (node exited with $status)"
else
  e2e_log "openai SDK ($MODE): PASS"
fi
exit "$status"
