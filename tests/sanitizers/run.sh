#!/usr/bin/env bash
# Runs the unit, host, HTTP-engine and provider test suites of a sanitized build and fails on any
# sanitizer report, including reports from child processes (the CLI tests run
# the llmux binary itself) and reports that did not make a test fail.
#
#   tests/sanitizers/run.sh address BUILD_DIR   # built with -DLLMUX_SANITIZE=address (ASan+UBSan)
#   tests/sanitizers/run.sh thread  BUILD_DIR   # built with -DLLMUX_SANITIZE=thread  (TSan)
#
# Environment:
#   LLMUX_SAN_REPEAT   extra rounds of the concurrency-heavy host tests (default 3; 0 = none)
#   LLMUX_SAN_TIMEOUT  seconds allowed per suite run before it counts as hung (default 900)
#   LLMUX_SAN_LOGS     directory for the sanitizer logs (default: a new temporary directory)
#
# Every report is written to $LLMUX_SAN_LOGS/<tool>.<pid> (log_path), printed at
# the end, and makes the script exit non-zero.
set -uo pipefail

usage() { echo "usage: $0 address|thread BUILD_DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
mode=$1
build=$(cd "$2" 2>/dev/null && pwd) || { echo "no build directory '$2'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repeat=${LLMUX_SAN_REPEAT:-3}
limit=${LLMUX_SAN_TIMEOUT:-900}
logs=${LLMUX_SAN_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/llmux-sanitizers.XXXXXX")}
mkdir -p "$logs"

# The suites must have been built with the sanitizer we are asked to check:
# an uninstrumented binary would pass silently.
case "$mode" in
  address) runtime=libasan ;;
  thread) runtime=libtsan ;;
  *) usage ;;
esac
# (ldd's output is read whole: `grep -q` would stop at the match, and under
# pipefail the SIGPIPE that ldd then gets fails the check.)
libraries=$(ldd "$build/bin/host_tests" 2>/dev/null || true)
if [[ "$libraries" != *"$runtime"* ]]; then
  echo "$build/bin/host_tests is not linked with $runtime: configure with -DLLMUX_SANITIZE=$mode" >&2
  exit 2
fi

case "$mode" in
  address)
    # halt_on_error: ASan stops at the first error anyway (no -fsanitize-recover);
    # UBSan is built with -fno-sanitize-recover=undefined, so it aborts too.
    export ASAN_OPTIONS="suppressions=$here/asan.supp:detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$logs/asan"
    # One log_path for all three: ASan, UBSan and LSan share the common flags,
    # and the last *_OPTIONS parsed would win.
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/asan"
    ;;
  thread)
    # halt_on_error=0: collect every race of the run, not just the first;
    # exitcode=66 makes a run with reports fail even when all tests passed.
    # history_size=4 (512K accesses per thread, default 128K): with ~200 client
    # threads the default lost the second stack of some reports ("failed to
    # restore the stack"), which then no suppression can match.
    export TSAN_OPTIONS="second_deadlock_stack=1:history_size=4:halt_on_error=0:exitcode=66:suppressions=$here/tsan.supp:log_path=$logs/tsan"
    ;;
esac

failed=0
passed=0
declare -a summary

run_suite() {  # name, then the command line
  local name=$1
  shift
  local out="$logs/$name.out" start end rc
  start=$(date +%s)
  timeout --kill-after=30 "$limit" "$@" >"$out" 2>&1
  rc=$?
  end=$(date +%s)
  local verdict=ok
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    verdict="HUNG (>${limit}s)"
  elif [[ $rc -ne 0 ]]; then
    verdict="FAILED (exit $rc)"
  fi
  summary+=("$(printf '%-28s %-16s %4ss' "$name" "$verdict" "$((end - start))")")
  if [[ $verdict == ok ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "---- $name: $verdict; last lines of its output:"
    tail -n 40 "$out"
  fi
  grep -h '^\[  \(PASSED\|FAILED\) \]' "$out" | sort | uniq -c | sed "s/^/  $name: /"
}

echo "== sanitizer: $mode, build: $build, logs: $logs"
for suite in sdk_tests routing_tests mock_tests host_tests http_tests provider_tests; do
  run_suite "$suite" "$build/bin/$suite"
done
if [[ $repeat -gt 0 ]]; then
  run_suite "host_tests(stress x$repeat)" "$build/bin/host_tests" \
    --gtest_filter='Concurrency.*:StreamStress.*:FileStateStore.*:Reload.*:Fallback.*:Server.*:Retry.*:Cooldown.*:AdminApi.TheLiveFeed*:RequestHistory*' --gtest_repeat="$repeat"
fi

# Sanitizer logs: anything that looks like a report fails the run, whether or
# not the process that wrote it failed (child processes, exitcode overrides).
reports=0
shopt -s nullglob
for log in "$logs"/asan.* "$logs"/tsan.*; do
  [[ -s $log ]] || continue
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:|ThreadSanitizer: (reported|CHECK)' "$log"; then
    reports=$((reports + 1))
    echo "---- sanitizer report: $log"
  else
    echo "---- sanitizer message (not a report): $log"
  fi
  cat "$log"
done

echo "== $mode: time per suite run"
printf '  %s\n' "${summary[@]}"
[[ $reports -eq 0 ]] || failed=$((failed + 1))
echo "== $mode: $reports sanitizer report file(s)"
echo "$mode: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
