#!/usr/bin/env bash
# End-to-end: a real Prometheus server (Debian's `prometheus`, its own instance
# on loopback, 1 s scrape interval, storage in a temporary folder) scrapes a
# live llmux's GET /metrics with the admin key while requests run; the counters
# are then read back through Prometheus's HTTP API (/api/v1/query).
#
#   run_prometheus.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR
#
# llmux serves the mock on declared routes, plus one chain whose first
# provider (a mock configured to fail every call with 503) hands over to the
# mock, so one fallback is counted. Requests (curl): OpenAI chat streamed and
# not, Anthropic /v1/messages streamed and not, an unknown model (404), the
# fallback. Checked:
# - through Prometheus: up{job="llmux"} == 1; the requests counted by API and
#   status (the scrapes themselves and /healthz are counted too, under
#   api="metrics" and api="health", and left out of the sums); output tokens;
#   the fallback broken -> mock; time-to-first-token observations;
# - `promtool check metrics` on the exposition passes with nothing to say, and
#   /metrics refuses a request without the admin key;
# - the access log: one JSON line per request sent (by the x-request-id each
#   answer carried) with time, id, client, api, model, provider, status,
#   outcome, duration_ms and tokens; the admin key is in no log;
# - SIGUSR1 reopens the access log: after the file is moved away, the next
#   request's line lands in a new file at the configured path.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi

source "$(dirname "$0")/lib.sh"
e2e_bounded 150 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")

[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"
PROMETHEUS=$(command -v prometheus || true)
PROMTOOL=$(command -v promtool || true)
[[ -n "$PROMETHEUS" && -n "$PROMTOOL" ]] ||
  e2e_fail "prometheus and promtool are needed (Debian package prometheus: scripts/install-deps.sh test)"

e2e_workdir prometheus
PROM_PID=""
PROM_PORT=""
prom_cleanup() {
  local status=$?
  if ((status != 0)); then
    e2e_dump_logs
    if [[ -f "$WORK/prometheus.log" ]]; then
      echo "---- prometheus log (last 30 lines) ----" >&2
      tail -n 30 "$WORK/prometheus.log" >&2
    fi
  fi
  if [[ -n "$PROM_PID" ]]; then
    kill -TERM "$PROM_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PROM_PID" 2>/dev/null || true
    wait "$PROM_PID" 2>/dev/null || true
    PROM_PID=""
  fi
  e2e_stop_llmux || true
  rm -rf "$WORK"
  exit "$status"
}
trap prom_cleanup EXIT

ADMIN_KEY="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
ACCESS_LOG=$WORK/access.log
cat >"$WORK/providers.yaml" <<YAML
plugins_dir: $BUILD_DIR/plugins
state_dir: $WORK/state
admin_key: "$ADMIN_KEY"
access_log: $ACCESS_LOG
metrics: {enabled: true}
providers:
  mock: {plugin: mock}
  broken:                       # fails every call, at once: the fallback's first step
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options: {fail_status: 503}
routes:
  "gpt-*": {chain: [mock], models: [gpt-4o, gpt-4o-mini]}
  "claude-*": {chain: [mock], models: [claude-sonnet-4-5]}
  fallback-model: [broken, mock]
YAML
e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"
BASE=http://127.0.0.1:$LLMUX_PORT

# ---- Prometheus: its own config, storage and port; never the system's.
mkdir -p "$WORK/tsdb"
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: llmux
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: "$ADMIN_KEY"
    static_configs:
      - targets: ["127.0.0.1:$LLMUX_PORT"]
YAML
out=$("$PROMTOOL" check config "$WORK/prometheus.yml" 2>&1) || { echo "$out" >&2; e2e_fail "promtool check config"; }

prometheus_on() {
  exec "$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$1" --storage.tsdb.retention.time=1h \
    --web.console.templates="$WORK/none" --web.console.libraries="$WORK/none" --log.level=info
}
e2e_serve prometheus "$WORK/prometheus.log" /-/ready 30 "address already in use" prometheus_on
PROM_PID=$E2E_SERVED_PID
PROM_PORT=$E2E_SERVED_PORT

# prom_query EXPR: the value of the first sample of an instant query, "none"
# when the result is empty.
prom_query() {
  curl -sf --max-time 5 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["data"]["result"] if d.get("status") == "success" else []
print(r[0]["value"][1] if r else "none")'
}
# check_query EXPR OP WANT: the query's value compared with awk (==, >, >=).
failures=0
check_query() {
  local expr=$1 op=$2 want=$3 got
  got=$(prom_query "$expr") || got="error"
  if [[ "$got" != none && "$got" != error ]] && awk -v a="$got" -v b="$want" -v op="$op" \
      'BEGIN { exit !((op == "==" && a + 0 == b + 0) || (op == ">" && a + 0 > b + 0) || (op == ">=" && a + 0 >= b + 0)) }'; then
    echo "  ok   $expr = $got ($op $want)" >&2
  else
    echo "  FAIL $expr = $got, want $op $want" >&2
    failures=$((failures + 1))
  fi
}

# Prometheus scrapes llmux before any request is sent.
for _ in $(seq 1 100); do  # up to 20 s
  [[ "$(prom_query 'up{job="llmux"}')" == 1 ]] && break
  sleep 0.2
done
[[ "$(prom_query 'up{job="llmux"}')" == 1 ]] || e2e_fail "prometheus does not scrape llmux (up{job=\"llmux\"} is not 1)"

# ---- requests. send NAME STATUS API PATH BODY [CURL ARGS...]: POSTs BODY,
# requires the HTTP status, and records "NAME STATUS API X-REQUEST-ID".
mkdir -p "$WORK/answers"
: >"$WORK/sent.txt"
send() {
  local name=$1 want=$2 api=$3 path=$4 body=$5 code id
  shift 5
  code=$(curl -s --max-time 20 -o "$WORK/answers/$name.body" -D "$WORK/answers/$name.head" -w '%{http_code}' \
    -H 'Content-Type: application/json' "$@" -d "$body" "$BASE$path") || code="curl failed"
  [[ "$code" == "$want" ]] || { head -c 400 "$WORK/answers/$name.body" >&2; e2e_fail "$name: HTTP $code, want $want"; }
  id=$(tr -d '\r' <"$WORK/answers/$name.head" | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
  [[ -n "$id" ]] || e2e_fail "$name: no x-request-id in the answer"
  echo "$name $want $api $id" >>"$WORK/sent.txt"
}
ANTHROPIC=(-H 'anthropic-version: 2023-06-01')
for i in 1 2 3; do
  send "openai-json-$i" 200 openai.chat /v1/chat/completions \
    '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello '"$i"'"}]}'
  send "openai-sse-$i" 200 openai.chat /v1/chat/completions \
    '{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Stream a hello '"$i"'"}]}'
  grep -q '^data: \[DONE\]' "$WORK/answers/openai-sse-$i.body" || e2e_fail "openai-sse-$i: no data: [DONE]"
done
send anthropic-json 200 anthropic.messages /v1/messages \
  '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Say hello"}]}' "${ANTHROPIC[@]}"
send anthropic-sse 200 anthropic.messages /v1/messages \
  '{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Stream a hello"}]}' "${ANTHROPIC[@]}"
grep -q '^event: message_stop' "$WORK/answers/anthropic-sse.body" || e2e_fail "anthropic-sse: no message_stop event"
send unknown-model 404 openai.chat /v1/chat/completions \
  '{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}'
send fallback 200 openai.chat /v1/chat/completions \
  '{"model":"fallback-model","messages":[{"role":"user","content":"Say hello"}]}'
grep -qi '^x-llmux-provider: mock' "$WORK/answers/fallback.head" || e2e_fail "fallback: not answered by the mock"
SENT=$(wc -l <"$WORK/sent.txt")
STREAMS=$(grep -c -- '-sse' "$WORK/sent.txt")
OPENAI_200=$(grep -c ' 200 openai.chat ' "$WORK/sent.txt")
ANTHROPIC_200=$(grep -c ' 200 anthropic.messages ' "$WORK/sent.txt")
e2e_log "sent $SENT requests ($OPENAI_200 openai.chat 200, $ANTHROPIC_200 anthropic.messages 200, 1 404, 1 fallback)"

# /metrics wants the admin key.
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$BASE/metrics")
[[ "$code" == 401 ]] || e2e_fail "GET /metrics without the admin key: HTTP $code, want 401"
curl -sf --max-time 5 -H "Authorization: Bearer $ADMIN_KEY" "$BASE/metrics" >"$WORK/metrics.txt" ||
  e2e_fail "GET /metrics with the admin key failed"

# Wait until llmux itself has counted every request (the count is taken as a
# request ends, which may be just after the client read its last byte), then
# until Prometheus has a scrape that started after that.
counted=""
for _ in $(seq 1 50); do  # up to 10 s
  counted=$(curl -sf --max-time 5 -H "Authorization: Bearer $ADMIN_KEY" "$BASE/metrics" |
    awk '/^llmux_requests_total\{/ && !/api="(metrics|health)"/ { n += $NF } END { print n + 0 }')
  [[ "$counted" == "$SENT" ]] && break
  sleep 0.2
done
[[ "$counted" == "$SENT" ]] || e2e_fail "llmux's own /metrics counts $counted requests, $SENT were sent"
after=$(date +%s.%N)
scraped=""
for _ in $(seq 1 100); do  # up to 20 s (scrape interval 1 s)
  scraped=$(prom_query 'timestamp(up{job="llmux"})')
  [[ "$scraped" != none ]] && awk -v a="$scraped" -v b="$after" 'BEGIN { exit !(a > b) }' && break
  sleep 0.2
done
awk -v a="$scraped" -v b="$after" 'BEGIN { exit !(a > b) }' ||
  e2e_fail "no Prometheus scrape after the requests within 20 s (last scrape at $scraped, requests done at $after)"
e2e_log "prometheus scraped at $scraped (requests done at $after)"

check_query 'up{job="llmux"}' == 1
check_query 'sum(llmux_requests_total{job="llmux",api!~"metrics|health"})' == "$SENT"
check_query 'sum(llmux_requests_total{api="openai.chat",status="200"})' == "$OPENAI_200"
check_query 'sum(llmux_requests_total{api="anthropic.messages",status="200"})' == "$ANTHROPIC_200"
check_query 'sum(llmux_requests_total{api="openai.chat",status="404",route="none"})' == 1
check_query 'sum(llmux_requests_total{api="metrics",status="200"})' ">=" 1
check_query 'sum(llmux_tokens_total{direction="output"})' ">" 0
check_query 'sum(llmux_tokens_total{direction="input"})' ">" 0
check_query 'sum(llmux_fallbacks_total{from="broken",to="mock"})' == 1
check_query 'sum(llmux_fallbacks_total)' == 1
check_query 'sum(llmux_upstream_attempts_total{provider="broken",outcome="error"})' == 1
check_query 'sum(llmux_time_to_first_token_seconds_count)' == "$STREAMS"
check_query 'sum(llmux_request_duration_seconds_count{api!~"metrics|health"})' == "$SENT"
check_query 'sum(llmux_request_duration_seconds_bucket{api="openai.chat",le="+Inf"})' == "$((OPENAI_200 + 1))"
check_query 'llmux_provider_state{provider="mock",state="up"}' == 1
check_query 'llmux_build_info' == 1
check_query 'llmux_config_generation' == 1
check_query 'llmux_active_streams' == 0
check_query 'process_resident_memory_bytes{job="llmux"}' ">" 0
((failures == 0)) || e2e_fail "$failures Prometheus check(s) failed"
# Prometheus complains in its log about expositions it ingests badly
# (duplicate series, out-of-order samples, unparsable lines).
if grep -E 'level=(warn|error)' "$WORK/prometheus.log" | grep -Ei 'scrape|target|sample'; then
  e2e_fail "prometheus logged problems with the scrape (above)"
fi

# ---- promtool on the exposition: exit 0 and no lint findings.
status=0
lint=$("$PROMTOOL" check metrics <"$WORK/metrics.txt" 2>&1) || status=$?
if ((status != 0)) || [[ -n "$lint" ]]; then
  echo "$lint" >&2
  e2e_fail "promtool check metrics: exit $status"
fi
e2e_log "promtool check metrics: clean ($(grep -c '^# TYPE' "$WORK/metrics.txt") families)"

# ---- access log. check_access_log FILE SENT_FILE: every line is a JSON
# object with the documented fields; each request in SENT_FILE has exactly
# one line, with its status and api; there are no other inference lines.
check_access_log() {
  python3 - "$1" "$2" <<'PY'
import json, sys
log_path, sent_path = sys.argv[1], sys.argv[2]
need = ["time", "id", "client", "api", "model", "provider", "status", "outcome", "duration_ms", "tokens"]
sent = [line.split() for line in open(sent_path) if line.strip()]
lines = open(log_path).read().splitlines()
by_id, bad = {}, []
for n, line in enumerate(lines, 1):
    try:
        obj = json.loads(line)
    except ValueError as e:
        bad.append(f"line {n} is not JSON ({e}): {line[:200]}")
        continue
    missing = [k for k in need if k not in obj]
    if missing:
        bad.append(f"line {n} lacks {missing}: {line[:200]}")
    by_id.setdefault(obj.get("id"), []).append(obj)
for name, status, api, rid in sent:
    got = by_id.get(rid, [])
    if len(got) != 1:
        bad.append(f"{name} ({rid}): {len(got)} lines, want 1")
        continue
    obj = got[0]
    if obj.get("status") != int(status) or obj.get("api") != api:
        bad.append(f"{name}: status {obj.get('status')} api {obj.get('api')}, want {status} {api}")
    if status == "200" and not isinstance(obj.get("tokens"), dict):
        bad.append(f"{name}: tokens {obj.get('tokens')!r}, want an object")
    if name == "fallback" and [a.get("provider") for a in obj.get("attempts", [])] != ["broken", "mock"]:
        bad.append(f"fallback: attempts {obj.get('attempts')}, want broken then mock")
    if name == "unknown-model" and obj.get("provider") != "none":
        bad.append(f"unknown-model: provider {obj.get('provider')!r}, want 'none'")
inference = [o for os_ in by_id.values() for o in os_ if o.get("api") not in ("metrics", "health")]
if len(inference) != len(sent):
    bad.append(f"{len(inference)} lines for inference APIs, {len(sent)} requests sent")
for b in bad:
    print("  FAIL " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
# wait_for_line FILE ID: the access log is written by its own thread.
wait_for_line() {
  for _ in $(seq 1 50); do  # up to 10 s
    [[ -f "$1" ]] && grep -qF "\"id\":\"$2\"" "$1" && return 0
    sleep 0.2
  done
  e2e_fail "no access log line for request $2 in $1 within 10 s"
}
while read -r _ _ _ id; do wait_for_line "$ACCESS_LOG" "$id"; done <"$WORK/sent.txt"
check_access_log "$ACCESS_LOG" "$WORK/sent.txt" || e2e_fail "access log"
e2e_log "access log: one line per request ($SENT), documented fields present"

# ---- SIGUSR1: move the file away, signal, and the next line goes to a new file.
mv "$ACCESS_LOG" "$WORK/access.log.1"
kill -USR1 "$LLMUX_PID"
for _ in $(seq 1 50); do [[ -f "$ACCESS_LOG" ]] && break; sleep 0.1; done  # up to 5 s
[[ -f "$ACCESS_LOG" ]] || e2e_fail "SIGUSR1 did not reopen $ACCESS_LOG within 5 s"
mv "$WORK/sent.txt" "$WORK/sent-before.txt"
send after-reopen 200 openai.chat /v1/chat/completions \
  '{"model":"gpt-4o","messages":[{"role":"user","content":"After the reopen"}]}'
mv "$WORK/sent.txt" "$WORK/sent-after.txt"
read -r _ _ _ after_id <"$WORK/sent-after.txt"
wait_for_line "$ACCESS_LOG" "$after_id"
check_access_log "$ACCESS_LOG" "$WORK/sent-after.txt" || e2e_fail "access log after SIGUSR1"
if grep -qF "\"id\":\"$after_id\"" "$WORK/access.log.1"; then
  e2e_fail "the request after SIGUSR1 was written to the moved file"
fi
e2e_log "SIGUSR1: the access log was reopened at $ACCESS_LOG"

# ---- no log carries the admin key (Prometheus sent it with every scrape).
for f in "$WORK/access.log.1" "$ACCESS_LOG" "$WORK/llmux.log"; do
  if grep -qF "$ADMIN_KEY" "$f"; then e2e_fail "the admin key appears in $(basename "$f")"; fi
done

e2e_stop_llmux "$WORK/llmux.log" || e2e_fail "llmux did not shut down cleanly"
e2e_log "prometheus: PASS"
