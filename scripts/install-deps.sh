#!/usr/bin/env bash
# Installs the Debian packages llmux needs to build, test and benchmark.
# Idempotent: only missing packages are installed. Needs root or sudo.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libpistache-dev rapidjson-dev libyaml-cpp-dev
            libcurl4-openssl-dev libssl-dev libboost-dev libgtest-dev libgmock-dev prometheus-cpp-dev)
# prometheus: the server and promtool for tests/e2e/run_prometheus.sh (it runs
# its own instance; the packaged service is not used). chromium (+ a font, so
# screenshots have text on a machine without any): the browser
# of tests/e2e/run_panel.sh (headless, driven by playwright-core).
test_pkgs=(nodejs npm curl python3 prometheus chromium fonts-dejavu-core)

want=("${build_pkgs[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${test_pkgs[@]}") ;;
  bench) want+=("${test_pkgs[@]}" wrk nginx-light libnginx-mod-http-echo valgrind) ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from outside Debian (e.g. NodeSource); accept any working binary.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    python3) command -v python3 >/dev/null 2>&1 && continue ;;  # test scripts pick free ports with it
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
