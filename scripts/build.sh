#!/usr/bin/env bash
# Configures and builds llmux into ./build (or $LLMUX_BUILD_DIR).
# Leaves build/bin/llmux and build/plugins/*.so.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${LLMUX_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${LLMUX_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
