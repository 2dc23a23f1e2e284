#!/usr/bin/env bash
# The plugin ABI guard (sdk/cmake/abi_check.cmake) against a scratch copy of
# the SDK: the committed stamp matches; a comment-only change passes; a
# changed plugin-facing type without a version bump fails the build step; a
# bump without a new stamp fails too; bump + restamp passes.
set -euo pipefail
src="$1"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$src/sdk" "$scratch/sdk"
check() { cmake -DSDK_DIR="$scratch/sdk" -P "$scratch/sdk/cmake/abi_check.cmake" >"$scratch/out" 2>&1; }
fail() { echo "FAIL: $*"; cat "$scratch/out"; exit 1; }

check || fail "the committed abi.stamp does not match the SDK headers"

echo "// a comment changes no layout" >>"$scratch/sdk/include/llmux/provider.h"
check || fail "a comment-only change was refused"

sed -i 's|  std::string reason;  // why, when not Up (never a secret)|&\n  int forgotten_bump = 0;|' \
  "$scratch/sdk/include/llmux/provider.h"
grep -q forgotten_bump "$scratch/sdk/include/llmux/provider.h" || fail "test setup: the edit did not apply"
if check; then fail "a changed plugin-facing type passed without an ABI bump"; fi
grep -q "Bump it in plugin_abi.h" "$scratch/out" || fail "the refusal does not say what to do"

version=$(sed -n 's/#define LLMUX_ABI_VERSION \([0-9]*\)u/\1/p' "$scratch/sdk/include/llmux/plugin_abi.h")
sed -i "s/#define LLMUX_ABI_VERSION ${version}u/#define LLMUX_ABI_VERSION $((version + 1))u/" \
  "$scratch/sdk/include/llmux/plugin_abi.h"
if check; then fail "a bump without a new stamp passed"; fi

cmake -DUPDATE=ON -DSDK_DIR="$scratch/sdk" -P "$scratch/sdk/cmake/abi_check.cmake" >/dev/null
check || fail "bump + restamp was refused"
echo "abi stamp guard: OK"
