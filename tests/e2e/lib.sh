# shellcheck shell=bash
# Helpers shared by the end-to-end scripts in this folder. Source it from a
# script that runs under `set -euo pipefail`.
#
#   e2e_fail MESSAGE...               print "e2e: FAIL: ..." and exit 1
#   e2e_free_port                     print a TCP port that is free on 127.0.0.1 now
#   e2e_start_llmux BIN CONFIG LOG    start llmux on a free port; sets LLMUX_PID and
#                                     LLMUX_PORT, waits until /healthz answers
#   e2e_stop_llmux [LOG]              stop the llmux started above (TERM, then KILL);
#                                     fails unless it exits cleanly

e2e_log() { echo "e2e: $*" >&2; }

# e2e_bounded SECONDS SCRIPT ARGS...: re-runs the script under timeout(1)
# unless it already runs under it, so every e2e test stops by itself.
# $LLMUX_E2E_TIMEOUT overrides SECONDS.
e2e_bounded() {
  local seconds=$1
  shift
  [[ -n "${LLMUX_E2E_BOUNDED:-}" ]] && return 0
  export LLMUX_E2E_BOUNDED=1
  exec timeout --kill-after=10 "${LLMUX_E2E_TIMEOUT:-$seconds}" bash "$@"
}

# e2e_workdir NAME: a scratch folder in $WORK, removed on exit together with
# the llmux (and upstream llmux) the script started.
UPSTREAM_PID=""
UPSTREAM_PORT=""
e2e_workdir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmux-e2e-$1.XXXXXX")
  trap e2e_cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
}
e2e_cleanup() {
  local status=$?
  e2e_stop_llmux || true
  e2e_stop_upstream
  rm -rf "$WORK"
  exit "$status"
}

# e2e_start_upstream CONFIG LOG: a second llmux standing in for a real
# upstream; sets UPSTREAM_PID and UPSTREAM_PORT.
e2e_start_upstream() {
  e2e_start_llmux "$LLMUX_BINARY" "$1" "$2"
  UPSTREAM_PID=$LLMUX_PID
  UPSTREAM_PORT=$LLMUX_PORT
  LLMUX_PID=""
}
e2e_stop_upstream() {
  if [[ -n "$UPSTREAM_PID" ]]; then kill "$UPSTREAM_PID" 2>/dev/null; wait "$UPSTREAM_PID" 2>/dev/null || true; fi
  UPSTREAM_PID=""
}

# e2e_through_claude ROUTE_PATTERN: turns the mock setup in $WORK/providers.yaml
# into "llmux -> claude plugin -> upstream llmux -> mock": the upstream serves
# the current file with its own key (UPSTREAM_KEY), and the new file routes
# ROUTE_PATTERN to a claude pool holding that one key. Needs API_KEY,
# BUILD_DIR, UPSTREAM_KEY. Retries and cooldown are off so the client sees
# every upstream answer as it is.
e2e_through_claude() {
  [[ -f "$BUILD_DIR/plugins/llmux-claude.so" ]] || e2e_fail "no claude plugin in $BUILD_DIR/plugins"
  sed "s/$API_KEY/$UPSTREAM_KEY/" "$WORK/providers.yaml" >"$WORK/upstream.yaml"
  e2e_start_upstream "$WORK/upstream.yaml" "$WORK/upstream.log"
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
  "$1": [claude]
YAML
}

# e2e_dump_logs: the tails of $WORK/llmux.log and $WORK/upstream.log (after a failure).
e2e_dump_logs() {
  if [[ -f "$WORK/llmux.log" ]]; then echo "---- llmux log (last 60 lines) ----" >&2; tail -n 60 "$WORK/llmux.log" >&2; fi
  if [[ -f "$WORK/upstream.log" ]]; then echo "---- upstream llmux log ----" >&2; tail -n 30 "$WORK/upstream.log" >&2; fi
}

e2e_fail() {
  echo "e2e: FAIL: $*" >&2
  exit 1
}

e2e_free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

LLMUX_PID=""
LLMUX_PORT=""

# Starts a server on a free loopback port and waits until it answers.
#   e2e_serve NAME LOG READY_PATH SECONDS BUSY_PATTERN START_FUNCTION
# START_FUNCTION PORT must `exec` the server (so the PID is the server's);
# e2e_serve runs it in the background with its output in LOG. A port taken between picking and binding (LOG matches
# BUSY_PATTERN) is retried with another port; any other early exit, or no
# answer at READY_PATH within SECONDS, is a failure. Sets E2E_SERVED_PID and
# E2E_SERVED_PORT.
e2e_serve() {
  local name=$1 log=$2 ready=$3 seconds=$4 busy=$5 start=$6 attempt
  for attempt in 1 2 3 4 5; do
    E2E_SERVED_PORT=$(e2e_free_port)
    "$start" "$E2E_SERVED_PORT" >"$log" 2>&1 &
    E2E_SERVED_PID=$!
    for _ in $(seq 1 $((seconds * 10))); do
      if ! kill -0 "$E2E_SERVED_PID" 2>/dev/null; then
        wait "$E2E_SERVED_PID" || true
        E2E_SERVED_PID=""
        break
      fi
      if curl -sf --max-time 2 "http://127.0.0.1:$E2E_SERVED_PORT$ready" >/dev/null 2>&1; then
        e2e_log "$name (pid $E2E_SERVED_PID) listening on 127.0.0.1:$E2E_SERVED_PORT"
        return 0
      fi
      sleep 0.1
    done
    if [[ -n "$E2E_SERVED_PID" ]]; then
      cat "$log" >&2
      e2e_fail "$name did not answer $ready on port $E2E_SERVED_PORT within $seconds s"
    fi
    if grep -qE "$busy" "$log"; then
      e2e_log "port $E2E_SERVED_PORT was taken; trying another (attempt $attempt)"
      continue
    fi
    cat "$log" >&2
    e2e_fail "$name exited during startup"
  done
  e2e_fail "could not find a free port for $name"
}

# Starts llmux and waits for /healthz (see e2e_serve).
e2e_start_llmux() {
  _E2E_LLMUX_BIN=$1
  _E2E_LLMUX_CONFIG=$2
  _e2e_llmux_on() { exec "$_E2E_LLMUX_BIN" --config "$_E2E_LLMUX_CONFIG" --listen "127.0.0.1:$1"; }
  e2e_serve llmux "$3" /healthz 20 "cannot listen" _e2e_llmux_on
  LLMUX_PID=$E2E_SERVED_PID
  LLMUX_PORT=$E2E_SERVED_PORT
}

# Stops llmux with SIGTERM, after which it must exit with status 0 within 10 s
# (a clean shutdown; under a sanitizer, also no report). Returns 1 otherwise.
# With an argument (its log file), prints the log's tail on failure.
e2e_stop_llmux() {
  [[ -n "$LLMUX_PID" ]] || return 0
  local pid=$LLMUX_PID log=${1:-} status=0
  LLMUX_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || status=$?
      if ((status != 0)); then
        [[ -n "$log" ]] && tail -n 40 "$log" >&2
        e2e_log "llmux (pid $pid) exited with status $status on SIGTERM"
        return 1
      fi
      return 0
    fi
    sleep 0.1
  done
  e2e_log "llmux (pid $pid) ignored SIGTERM for 10 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

# e2e_npm_install PKG_SRC CACHE PACKAGE [CHECK_PATH]
# Installs the npm packages pinned by PKG_SRC/package.json + package-lock.json
# into CACHE (inside the build tree), again only when the lock changes. Checks
# that PACKAGE is installed at the pinned version (and CHECK_PATH, relative to
# CACHE, exists: e.g. a binary a postinstall script provides). `npm install`
# with the lock present installs the locked tree (`npm ci` refuses locks that
# lack optional platform packages the registry does not have). Fails loudly
# when the registry cannot be reached: e2e tests are never skipped.
e2e_npm_install() {
  local src=$1 cache=$2 package=$3 check=${4:-} lock_sum stamp want have
  command -v node >/dev/null || e2e_fail "node is not installed (Node.js >= 20 is needed for this test)"
  command -v npm >/dev/null || e2e_fail "npm is not installed (needed to install $package for this test)"
  (($(node -p 'process.versions.node.split(".")[0]') >= 20)) || e2e_fail "Node.js >= 20 is needed, found $(node --version)"
  mkdir -p "$cache"
  lock_sum=$(sha256sum "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  stamp=$cache/node_modules/.llmux-e2e-lock.sha256
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" || ! -d "$cache/node_modules/$package" ||
        (-n "$check" && ! -e "$cache/$check") ]]; then
    e2e_log "installing $package into $cache"
    rm -rf "$cache/node_modules"
    cp "$src/package.json" "$src/package-lock.json" "$cache/"
    if ! (cd "$cache" && timeout 300 npm install --no-audit --no-fund) >"$cache/npm.log" 2>&1; then
      tail -n 30 "$cache/npm.log" >&2
      e2e_fail "cannot install $package from npm (registry unreachable?)"
    fi
    [[ -z "$check" || -e "$cache/$check" ]] || e2e_fail "npm installed $package but $cache/$check is missing"
    echo "$lock_sum" >"$stamp"
  fi
  want=$(node -p 'require(process.argv[1]).dependencies[process.argv[2]]' "$src/package.json" "$package")
  have=$(node -p 'require(process.argv[1]).version' "$cache/node_modules/$package/package.json")
  [[ "$want" == "$have" ]] || e2e_fail "$package $have is installed in $cache, package.json pins $want"
  E2E_NPM_VERSION=$have
}
