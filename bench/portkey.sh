#!/usr/bin/env bash
# Installs the Portkey gateway (the peer the bench compares with) from npm into
# a cache dir, pinned, once. Prints the path of its start script.
#   bench/portkey.sh CACHE_DIR
# Portkey streams only with @hono/node-server 1.13.5 (newer versions answer
# 500 "immutable"), so that is pinned through npm overrides.
set -euo pipefail
cache=${1:?usage: portkey.sh CACHE_DIR}
gateway_version=1.15.2
node_server_version=1.13.5
start="$cache/node_modules/@portkey-ai/gateway/build/start-server.js"
stamp="$cache/.installed-$gateway_version-$node_server_version"
if [[ -f "$stamp" && -f "$start" ]]; then echo "$start"; exit 0; fi
command -v npm >/dev/null || { echo "portkey.sh: npm is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
mkdir -p "$cache"
cat > "$cache/package.json" <<JSON
{
  "name": "llmux-bench-peer",
  "private": true,
  "dependencies": {
    "@portkey-ai/gateway": "$gateway_version",
    "@hono/node-server": "$node_server_version"
  },
  "overrides": { "@hono/node-server": "$node_server_version" }
}
JSON
echo "portkey.sh: installing @portkey-ai/gateway@$gateway_version with @hono/node-server@$node_server_version into $cache" >&2
(cd "$cache" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
[[ -f "$start" ]] || { echo "portkey.sh: $start not found after install" >&2; exit 1; }
touch "$stamp"
echo "$start"
