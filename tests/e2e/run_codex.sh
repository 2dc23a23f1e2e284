#!/usr/bin/env bash
# End-to-end: the OpenAI Codex CLI (npm @openai/codex, pinned in
# tests/e2e/codex/package.json) runs a coding task headless and offline
# against a live llmux over the Responses API (POST /v1/responses).
#
#   run_codex.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|apply-patch|through-openai-native]
#
# mock (default): llmux serves the mock plugin. `codex exec` "create hello.txt
#   containing hello" must exit 0 having run the mock's exec_command call
#   (printf into hello.txt, holding exactly "hello"), then print the mock's
#   final text "Done: wrote hello.txt.".
# apply-patch: the same, with a model catalog entry (gpt-5.5's, renamed) so
#   Codex offers its freeform `apply_patch` tool (a Responses `custom` tool);
#   the mock adds the file with a patch, which ends every line with a newline.
# through-openai-native: llmux's openai plugin with `responses: native`
#   forwards Codex's bodies to a second llmux serving the mock (an upstream
#   that speaks the Responses API itself); its access log must show only
#   Responses requests.
#
# Codex gets a fresh HOME whose config.toml names llmux as its only provider
# (wire_api "responses") and turns off update checks, analytics, feedback,
# telemetry and plugin sync, so it makes no other network request. Stream and
# request retries are off: a failed request fails the run. Each request must
# appear in llmux's access log as api "openai.responses" with status 200.
# The CLI is installed once into BUILD_DIR/e2e/codex (again only when the
# package files change); when the registry cannot be reached the test fails,
# it is never skipped. A Codex run is bounded by LLMUX_CODEX_TIMEOUT (180 s).
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR [mock|apply-patch|through-openai-native]" >&2
  exit 2
fi
MODE=${4:-mock}

source "$(dirname "$0")/lib.sh"
e2e_bounded 540 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
PKG_SRC=$SOURCE_DIR/tests/e2e/codex
CACHE=$BUILD_DIR/e2e/codex
CODEX_TIMEOUT=${LLMUX_CODEX_TIMEOUT:-180}
API_KEY=llmux-e2e-codex-key-5e0d
MODEL=coder
PROMPT="create hello.txt containing hello"

[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"
case "$MODE" in
  mock | apply-patch) ;;
  through-openai-native)
    [[ -f "$BUILD_DIR/plugins/llmux-openai.so" ]] || e2e_fail "no openai plugin at $BUILD_DIR/plugins/llmux-openai.so"
    ;;
  *) e2e_fail "unknown mode '$MODE'" ;;
esac

e2e_workdir codex

# ---- the CLI: a Node launcher (bin/codex.js) that runs the native binary of
# the platform package npm picked among the optional dependencies
# (@openai/codex-linux-x64 = npm:@openai/codex@<version>-linux-x64, ~315 MB).
e2e_npm_install "$PKG_SRC" "$CACHE" "@openai/codex" "node_modules/.bin/codex"
CODEX=$CACHE/node_modules/.bin/codex
if ! version=$(HOME=$WORK "$CODEX" --version 2>"$WORK/version.err"); then
  cat "$WORK/version.err" >&2
  rm -f "$CACHE/node_modules/.llmux-e2e-lock.sha256"  # npm skips a failed optional package silently: reinstall next time
  e2e_fail "$CODEX --version does not run (is the platform package installed?)"
fi
[[ "$version" == "codex-cli $E2E_NPM_VERSION" ]] || e2e_fail "codex --version says '$version', want 'codex-cli $E2E_NPM_VERSION'"
e2e_log "@openai/codex $E2E_NPM_VERSION ($version)"

# ---- llmux
ACCESS_LOG=$WORK/access.log
UPSTREAM_ACCESS_LOG=$WORK/upstream-access.log
if [[ "$MODE" == through-openai-native ]]; then
  UPSTREAM_KEY=llmux-e2e-codex-upstream-key-91f4
  cat >"$WORK/upstream.yaml" <<EOF
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$UPSTREAM_KEY"]
access_log: $UPSTREAM_ACCESS_LOG
providers:
  mock: {plugin: mock}
routes:
  $MODEL: [mock]
EOF
  e2e_start_upstream "$WORK/upstream.yaml" "$WORK/upstream.log"
  cat >"$WORK/providers.yaml" <<EOF
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
access_log: $ACCESS_LOG
providers:
  real:
    plugin: openai
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      base_url: "http://127.0.0.1:$UPSTREAM_PORT/v1"
      api_key: $UPSTREAM_KEY
      responses: native
routes:
  $MODEL: [real]
EOF
  PROVIDER=real
else
  cat >"$WORK/providers.yaml" <<EOF
plugins_dir: $BUILD_DIR/plugins
client_keys: ["$API_KEY"]
access_log: $ACCESS_LOG
providers:
  mock: {plugin: mock}
routes:
  $MODEL: [mock]
EOF
  PROVIDER=mock
fi
e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"

# ---- Codex's home: llmux is its one provider, nothing else goes out.
HOME_DIR=$WORK/home
mkdir -p "$HOME_DIR/.codex" "$WORK/ws" "$WORK/tmp"
catalog_line=""
if [[ "$MODE" == apply-patch ]]; then
  # The bundled catalog (no network) has gpt-5.5, whose tools include the
  # freeform apply_patch; the same entry under our model's name.
  HOME=$HOME_DIR "$CODEX" debug models --bundled >"$WORK/bundled-models.json" 2>"$WORK/debug-models.err" ||
    { cat "$WORK/debug-models.err" >&2; e2e_fail "codex debug models --bundled failed"; }
  node -e '
    const [src, dst, slug] = process.argv.slice(1);
    const entry = JSON.parse(require("fs").readFileSync(src, "utf8")).models.find((m) => m.slug === "gpt-5.5");
    if (!entry) { console.error("no gpt-5.5 in the bundled catalog"); process.exit(1); }
    entry.slug = entry.display_name = slug;
    require("fs").writeFileSync(dst, JSON.stringify({ models: [entry] }));' \
    "$WORK/bundled-models.json" "$WORK/catalog.json" "$MODEL" || e2e_fail "cannot make the model catalog"
  catalog_line="model_catalog_json = \"$WORK/catalog.json\""
fi
cat >"$HOME_DIR/.codex/config.toml" <<EOF
model = "$MODEL"
model_provider = "gw"
check_for_update_on_startup = false
$catalog_line

[model_providers.gw]
name = "llmux"
base_url = "http://127.0.0.1:$LLMUX_PORT/v1"
env_key = "LLMUX_E2E_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"

[features]
plugins = false
EOF

# ---- the run
status=0
started=$SECONDS
(
  cd "$WORK/ws"
  exec env -i PATH="$PATH" HOME="$HOME_DIR" TMPDIR="$WORK/tmp" SHELL=/bin/bash LANG=C.UTF-8 \
    LLMUX_E2E_KEY="$API_KEY" \
    timeout --kill-after=5 "$CODEX_TIMEOUT" "$CODEX" exec --strict-config --skip-git-repo-check \
    --dangerously-bypass-approvals-and-sandbox --color never --json -o "$WORK/last.txt" "$PROMPT" \
    </dev/null >"$WORK/events.jsonl" 2>"$WORK/err.txt"
) || status=$?
e2e_log "codex exec ($MODE): exit $status after $((SECONDS - started)) s"
codex_output() {
  echo "---- codex events ----" >&2; tail -c 4000 "$WORK/events.jsonl" >&2 || true
  echo "---- codex stderr ----" >&2; tail -c 4000 "$WORK/err.txt" >&2 || true
  e2e_dump_logs
}
if ((status != 0)); then
  codex_output
  ((status == 124)) && e2e_fail "codex exec timed out after $CODEX_TIMEOUT s"
  e2e_fail "codex exec exited with status $status"
fi

# The file, byte for byte.
[[ -f "$WORK/ws/hello.txt" ]] || { codex_output; e2e_fail "codex exited 0 but left no hello.txt (workspace: $(ls -A "$WORK/ws" | tr '\n' ' '))"; }
want=hello
[[ "$MODE" == apply-patch ]] && want=$'hello\n'  # an added patch line ends with a newline
have=$(cat "$WORK/ws/hello.txt"; printf x)
have=${have%x}
[[ "$have" == "$want" ]] || e2e_fail "hello.txt holds $(printf %q "$have"), expected $(printf %q "$want")"
e2e_log "hello.txt = $(printf %q "$have")"

# What Codex did: the mock's tool call (run, successful), then its final text.
node -e '
  const [file, mode] = process.argv.slice(1);
  const events = require("fs").readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const items = events.filter((e) => e.type === "item.completed").map((e) => e.item);
  const fail = (m) => { console.error(m); console.error(JSON.stringify(items, null, 1).slice(0, 3000)); process.exit(1); };
  if (mode === "apply-patch") {
    const p = items.find((i) => i.type === "file_change");
    if (!p || p.status !== "completed" || !p.changes.some((c) => c.path.endsWith("hello.txt") && c.kind === "add"))
      fail("no completed file_change adding hello.txt");
  } else {
    const c = items.find((i) => i.type === "command_execution");
    if (!c || c.exit_code !== 0 || !c.command.includes("hello.txt")) fail("no successful command_execution writing hello.txt");
  }
  if (events.some((e) => e.type === "error" || e.type === "turn.failed")) fail("error events: " + JSON.stringify(events.filter((e) => e.type === "error" || e.type === "turn.failed")));
  if (!events.some((e) => e.type === "turn.completed")) fail("no turn.completed");' \
  "$WORK/events.jsonl" "$MODE" || { codex_output; e2e_fail "codex did not run the mock's tool call as expected"; }
last=$(cat "$WORK/last.txt" 2>/dev/null || true)
[[ "$last" == "Done: wrote hello.txt." ]] || { codex_output; e2e_fail "final message '$last', expected 'Done: wrote hello.txt.'"; }

# ---- the access logs (complete once llmux has stopped)
e2e_stop_llmux "$WORK/llmux.log" || e2e_fail "llmux did not shut down cleanly"
e2e_stop_upstream
# check_access_log FILE PROVIDER WHO: Codex's two requests (the tool call,
# the final text), both Responses requests answered 200 for MODEL by PROVIDER.
check_access_log() {
  python3 - "$1" "$2" "$3" "$MODEL" <<'PY'
import json, sys
path, provider, who, model = sys.argv[1:]
try:
    lines = [json.loads(l) for l in open(path) if l.strip()]
except (OSError, ValueError) as e:
    sys.exit(f"  {who} access log: {e}")
seen = [o for o in lines if o.get("api") not in ("health", "metrics", "models")]  # the openai plugin asks for /v1/models
bad = [o for o in seen if (o.get("api"), o.get("status"), o.get("provider"), o.get("model")) !=
       ("openai.responses", 200, provider, model)]
for o in bad:
    print(f"  {who}: unexpected line {json.dumps(o)[:300]}", file=sys.stderr)
if len(seen) != 2:
    print(f"  {who}: {len(seen)} requests, want 2 (tool call, final text)", file=sys.stderr)
sys.exit(1 if bad or len(seen) != 2 else 0)
PY
}
check_access_log "$ACCESS_LOG" "$PROVIDER" llmux || { e2e_dump_logs; e2e_fail "llmux's access log"; }
if [[ "$MODE" == through-openai-native ]]; then
  # The upstream got Responses requests too: the openai plugin passed them on natively.
  check_access_log "$UPSTREAM_ACCESS_LOG" mock "upstream llmux" || e2e_fail "the upstream's access log (not native?)"
fi
e2e_log "access log: 2 openai.responses requests, status 200, provider $PROVIDER"
e2e_log "codex ($MODE): PASS"
