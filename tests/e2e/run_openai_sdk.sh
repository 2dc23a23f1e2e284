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

source "$(dirname "$0")/lib.sh"
e2e_bounded 300 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
TEST_SRC=$SOURCE_DIR/tests/e2e/openai_sdk
CACHE=$BUILD_DIR/e2e/openai_sdk
API_KEY=llmux-e2e-client-key-7f3a


[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"

e2e_workdir openai

# npm packages: a cache inside the build tree, refreshed when the lock changes.
e2e_npm_install "$TEST_SRC" "$CACHE" openai
have=$E2E_NPM_VERSION
cp "$TEST_SRC"/*.test.mjs "$CACHE/"  # beside node_modules, so `import 'openai'` resolves

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
  "text-embedding-*": [mock]
EOF

case "$MODE" in
  mock) ;;
  through-openai)
    [[ -f "$BUILD_DIR/plugins/llmux-openai.so" ]] || e2e_fail "no openai plugin at $BUILD_DIR/plugins/llmux-openai.so"
    # The upstream: an llmux serving the mock, with its own key.
    UPSTREAM_KEY=llmux-e2e-upstream-key-51c0
    sed "s/$API_KEY/$UPSTREAM_KEY/" "$WORK/providers.yaml" >"$WORK/upstream.yaml"
    e2e_start_upstream "$WORK/upstream.yaml" "$WORK/upstream.log"
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
  "text-embedding-*": [upstream]
YAML
    ;;
  through-claude)
    # OpenAI in -> claude plugin (requests rendered as Anthropic Messages, the
    # answers parsed back) -> an upstream llmux serving the mock on /v1/messages.
    UPSTREAM_KEY=llmux-e2e-upstream-key-c3d8
    e2e_through_claude "mock"
    # Anthropic has no embeddings: the claude provider is skipped for them and
    # a local mock answers (the chain's skip of a provider that does not serve
    # the operation, end to end).
    sed -i 's/^providers:$/providers:\n  local-mock:\n    plugin: mock/' "$WORK/providers.yaml"
    echo '  "text-embedding-*": [claude, local-mock]' >>"$WORK/providers.yaml"
    ;;
  *) e2e_fail "unknown mode '$MODE'" ;;
esac

e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"

e2e_log "openai@$have on node $(node --version) against http://127.0.0.1:$LLMUX_PORT/v1 ($MODE)"
status=0
(cd "$CACHE" && LLMUX_BASE_URL="http://127.0.0.1:$LLMUX_PORT/v1" LLMUX_API_KEY="$API_KEY" \
  node --test --test-reporter=spec ./*.test.mjs) || status=$?

if ((status == 0)) && ! e2e_stop_llmux "$WORK/llmux.log"; then
  e2e_fail "llmux did not shut down cleanly"
fi
if ((status != 0)); then
  e2e_dump_logs
  e2e_log "openai SDK ($MODE): FAIL (node exited with $status)"
else
  e2e_log "openai SDK ($MODE): PASS"
fi
exit "$status"
