#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: unit, codec,
# config, routing, live-server integration, plugin loading, and the end-to-end
# tests with the official npm clients (installed into build/, never globally).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh test
./scripts/build.sh
ctest --test-dir "${LLMUX_BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" "$@"
