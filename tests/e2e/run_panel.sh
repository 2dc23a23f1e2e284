#!/usr/bin/env bash
# End-to-end: the web panel (/ui/) and /docs in headless Chromium, driven by
# playwright-core (pinned in tests/e2e/panel) against a live llmux with an admin
# key, on loopback: the mock plugin, and fake upstreams this script starts
# (tests/e2e/panel/fakes.mjs: an OpenAI-compatible server that fails, an
# Anthropic server with its OAuth token endpoint for a claude pool, and a page
# on another origin for the cross-site form post). The scenarios are in
# tests/e2e/panel/*.test.mjs; they run in order against the one llmux.
#
#   run_panel.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR
#
# The browser is Debian's chromium (/usr/bin/chromium; scripts/install-deps.sh
# test installs it): playwright never downloads one. playwright-core is
# installed once into BUILD_DIR/e2e/panel (again only when package-lock.json
# changes). Screenshots are left in BUILD_DIR/e2e/panel/screenshots/.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi

source "$(dirname "$0")/lib.sh"
e2e_bounded 300 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
TEST_SRC=$SOURCE_DIR/tests/e2e/panel
CACHE=$BUILD_DIR/e2e/panel
CHROMIUM=${LLMUX_E2E_CHROMIUM:-/usr/bin/chromium}
ADMIN_KEY=llmux-e2e-admin-key-93be
API_KEY=llmux-e2e-client-key-4d21

[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"
[[ -x "$CHROMIUM" ]] || e2e_fail "no Chromium at $CHROMIUM (scripts/install-deps.sh test installs Debian's chromium)"

e2e_workdir panel

e2e_npm_install "$TEST_SRC" "$CACHE" playwright-core
have=$E2E_NPM_VERSION
rm -f "$CACHE"/*.mjs
cp "$TEST_SRC"/*.mjs "$CACHE/"  # beside node_modules, so `import 'playwright-core'` resolves
mkdir -p "$CACHE/screenshots"

# The fake upstreams (tests/e2e/panel/fakes.mjs) first: the config needs their ports.
FAKES_PID=""
stop_fakes_then_cleanup() {
  local status=$?
  if [[ -n "$FAKES_PID" ]]; then kill "$FAKES_PID" 2>/dev/null || true; fi
  set +e  # e2e_cleanup reads the exit status from $?
  (exit "$status")
  e2e_cleanup
}
trap stop_fakes_then_cleanup EXIT
(cd "$CACHE" && exec node fakes.mjs "$WORK/fakes.json") >"$WORK/fakes.log" 2>&1 &
FAKES_PID=$!
for _ in $(seq 1 100); do [[ -f "$WORK/fakes.json" ]] && break; sleep 0.05; done
[[ -f "$WORK/fakes.json" ]] || { cat "$WORK/fakes.log" >&2; e2e_fail "the fake upstreams did not start"; }
fake_port() { node -p "JSON.parse(require('fs').readFileSync(process.argv[1])).$1" "$WORK/fakes.json"; }
FAILING_PORT=$(fake_port failing)
ANTHROPIC_PORT=$(fake_port anthropic)
ANTHROPIC_KEY=$(cd "$CACHE" && node -e "import('./fakes.mjs').then((m) => console.log(m.ANTHROPIC_API_KEY))")

# One llmux for every scenario (they run in order): the mock, an OpenAI-compatible
# upstream that always fails (cooldown after one failure), a claude pool on the
# fake Anthropic server, and routes and aliases for the resolver.
cat >"$WORK/providers.yaml" <<EOF
listen: 127.0.0.1:8080   # overridden by --listen
plugins_dir: $BUILD_DIR/plugins
state_dir: $WORK/state
admin_key: $ADMIN_KEY
client_keys: ["$API_KEY"]
providers:
  mock:
    plugin: mock
    options:
      models: [mock]
  failing:
    plugin: openai
    retry: {attempts: 0}
    cooldown: {after_failures: 1, period: 10m}
    options:
      base_url: http://127.0.0.1:$FAILING_PORT/v1
      api_key: sk-e2e-failing-upstream-key-9d3c2b1a
  claude:
    plugin: claude
    options:
      base_url: http://127.0.0.1:$ANTHROPIC_PORT
      token_url: http://127.0.0.1:$ANTHROPIC_PORT/v1/oauth/token
      credentials:
        - {label: team-key, api_key: $ANTHROPIC_KEY}
aliases:
  gpt-4: gpt-4o
routes:
  mock: [mock]
  flaky: [failing, mock]
  "claude-*": [claude]
  "gpt-*": [mock]
EOF

e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"

e2e_log "playwright-core@$have, $("$CHROMIUM" --version 2>/dev/null | head -n1), node $(node --version), http://127.0.0.1:$LLMUX_PORT"
status=0
(cd "$CACHE" && LLMUX_BASE_URL="http://127.0.0.1:$LLMUX_PORT" LLMUX_ADMIN_KEY="$ADMIN_KEY" LLMUX_API_KEY="$API_KEY" \
  LLMUX_E2E_CHROMIUM="$CHROMIUM" LLMUX_E2E_SCREENSHOTS="$CACHE/screenshots" \
  LLMUX_E2E_FAKES="$WORK/fakes.json" LLMUX_E2E_CONFIG="$WORK/providers.yaml" \
  node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs) || status=$?

if ((status == 0)) && ! e2e_stop_llmux "$WORK/llmux.log"; then
  e2e_fail "llmux did not shut down cleanly"
fi
if ((status != 0)); then
  e2e_dump_logs
  echo "---- fake upstreams ----" >&2; tail -n 20 "$WORK/fakes.log" >&2
  e2e_log "panel: FAIL (node exited with $status)"
else
  e2e_log "panel: PASS (screenshots in $CACHE/screenshots)"
fi
exit "$status"
