#!/usr/bin/env bash
# Installs what is missing, builds, and starts llmux with ./providers.yaml.
# Extra arguments go to llmux (e.g. --listen 127.0.0.1:9000, --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh build
./scripts/build.sh
exec ./build/bin/llmux --config providers.yaml "$@"
