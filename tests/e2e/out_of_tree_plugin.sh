#!/usr/bin/env bash
# End-to-end: a provider plugin built outside the llmux tree loads and serves.
#
#   out_of_tree_plugin.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR
#
# 1. Copies examples/hello-plugin out of the source tree and builds it against
#    the build tree's CMake package (-Dllmux_DIR=BUILD_DIR).
# 2. Installs BUILD_DIR to a temporary prefix and builds the example again
#    against that prefix (CMAKE_PREFIX_PATH), checking that nothing in that
#    build reaches into the source tree.
# 3. For each of the two plugin builds: a plugins folder with llmux-hello.so
#    and the mock, a providers.yaml routing "hello" to it, llmux on a free port,
#    a chat completion (plain and streamed) answered by the plugin,
#    --check-config listing the plugin. A wrong plugin option must be rejected.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi

source "$(dirname "$0")/lib.sh"
e2e_bounded 300 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
EXAMPLE_DIR=$SOURCE_DIR/examples/hello-plugin


[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/llmuxConfig.cmake" ]] || e2e_fail "$BUILD_DIR has no llmuxConfig.cmake (not an llmux build tree?)"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"
[[ -f "$EXAMPLE_DIR/CMakeLists.txt" ]] || e2e_fail "no example at $EXAMPLE_DIR"

e2e_workdir plugin

# Build the example like its README says, with the compiler (and sanitizer
# flags) of the llmux build, so the plugin links against that llmux_sdk.
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD_DIR/CMakeCache.txt" | head -n1; }
CXX_COMPILER=$(cache_value CMAKE_CXX_COMPILER)
SANITIZE=$(cache_value LLMUX_SANITIZE)
SANITIZE_FLAGS=""
case "$SANITIZE" in
  "") ;;
  address) SANITIZE_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" ;;
  thread) SANITIZE_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" ;;
  *) e2e_fail "unknown LLMUX_SANITIZE '$SANITIZE' in $BUILD_DIR" ;;
esac
common_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
[[ -n "$CXX_COMPILER" ]] && common_args+=("-DCMAKE_CXX_COMPILER=$CXX_COMPILER")
if [[ -n "$SANITIZE_FLAGS" ]]; then
  common_args+=("-DCMAKE_CXX_FLAGS=$SANITIZE_FLAGS" "-DCMAKE_MODULE_LINKER_FLAGS=$SANITIZE_FLAGS")
fi

# The example's sources, outside the llmux tree: only the package can help it.
cp -r "$EXAMPLE_DIR" "$WORK/hello-src"
rm -rf "$WORK/hello-src/build"

# Include directories the compiler was given, one per line.
include_dirs() {
  python3 - "$1/compile_commands.json" <<'EOF'
import json, shlex, sys
for entry in json.load(open(sys.argv[1])):
    args = entry.get("arguments") or shlex.split(entry["command"])
    for i, a in enumerate(args):
        for flag in ("-I", "-isystem"):
            if a == flag and i + 1 < len(args):
                print(args[i + 1])
            elif a.startswith(flag) and len(a) > len(flag):
                print(a[len(flag):])
EOF
}

build_example() {  # build_example NAME CMAKE_ARGS...
  local name=$1
  shift
  e2e_log "building the hello example against $name"
  cmake -S "$WORK/hello-src" -B "$WORK/build-$name" "${common_args[@]}" "$@" >"$WORK/build-$name.log" 2>&1 ||
    { cat "$WORK/build-$name.log" >&2; e2e_fail "configuring the example against $name failed"; }
  cmake --build "$WORK/build-$name" -j2 >>"$WORK/build-$name.log" 2>&1 ||
    { cat "$WORK/build-$name.log" >&2; e2e_fail "building the example against $name failed"; }
  [[ -f "$WORK/build-$name/llmux-hello.so" ]] || e2e_fail "no llmux-hello.so from the $name build"
  # Only the two entry points leave the library.
  local exported
  exported=$(nm -D --defined-only "$WORK/build-$name/llmux-hello.so" | awk '$2 ~ /^[TW]$/ {print $3}' | sort | tr '\n' ' ')
  [[ "$exported" == "llmux_plugin_abi llmux_plugin_create " ]] ||
    e2e_fail "llmux-hello.so ($name) exports more than its entry points: $exported"
}

# (a) Against the build tree. Its headers come from SOURCE_DIR/sdk/include (the
# build tree's package points there); nothing else of the source tree may be used.
build_example build-tree "-Dllmux_DIR=$BUILD_DIR"
while read -r dir; do
  case "$(realpath -m "$dir")" in
    "$SOURCE_DIR/sdk/include" | "$SOURCE_DIR/sdk/include/"*) ;;
    "$SOURCE_DIR" | "$SOURCE_DIR/"*) e2e_fail "the build-tree build of the example uses $dir from the llmux sources" ;;
  esac
done < <(include_dirs "$WORK/build-build-tree")

# (b) Against an install prefix: self-contained, no path into the source or build tree.
e2e_log "installing $BUILD_DIR to a temporary prefix"
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; e2e_fail "cmake --install $BUILD_DIR failed"; }
for f in lib/cmake/llmux/llmuxConfig.cmake lib/cmake/llmux/llmuxPlugin.cmake include/llmux/plugin_abi.h; do
  [[ -f "$WORK/prefix/$f" ]] || e2e_fail "the install prefix lacks $f"
done
build_example prefix "-DCMAKE_PREFIX_PATH=$WORK/prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
grep -q "^llmux_DIR:PATH=$WORK/prefix/" "$WORK/build-prefix/CMakeCache.txt" ||
  e2e_fail "the prefix build did not find llmux in the prefix: $(grep '^llmux_DIR' "$WORK/build-prefix/CMakeCache.txt")"
while read -r dir; do
  case "$(realpath -m "$dir")" in
    "$SOURCE_DIR" | "$SOURCE_DIR/"* | "$BUILD_DIR" | "$BUILD_DIR/"*)
      e2e_fail "the prefix build of the example uses $dir instead of the install prefix" ;;
  esac
done < <(include_dirs "$WORK/build-prefix")

# JSON helpers (python3 is a test dependency of llmux).
json_content() {  # the message text of a non-streamed answer
  python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"])'
}
sse_content() {  # the joined text deltas of a streamed answer; checks the framing
  python3 -c '
import json, sys
body = sys.stdin.read()
assert body.endswith("data: [DONE]\n\n"), "stream does not end with data: [DONE]"
text = ""
for event in body.split("\n\n")[:-2]:
    assert event.startswith("data: "), "malformed event: %r" % event
    for choice in json.loads(event[6:])["choices"]:
        text += choice["delta"].get("content") or ""
print(text)'
}

chat() {  # chat MODEL TEXT [STREAM]
  local body
  body=$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "stream": sys.argv[3] == "1",
    "messages": [{"role": "user", "content": sys.argv[2]}]}))' "$1" "$2" "${3:-0}")
  curl -sS --fail-with-body --max-time 30 -H 'content-type: application/json' \
    -d "$body" "http://127.0.0.1:$LLMUX_PORT/v1/chat/completions"
}

expect_equal() {  # expect_equal WHAT EXPECTED ACTUAL
  [[ "$2" == "$3" ]] || e2e_fail "$1: expected '$2', got '$3'"
}

# (c) Serve with each build of the plugin.
for name in build-tree prefix; do
  run=$WORK/run-$name
  mkdir -p "$run/plugins"
  cp "$WORK/build-$name/llmux-hello.so" "$BUILD_DIR/plugins/llmux-mock.so" "$run/plugins/"
  cat >"$run/providers.yaml" <<'EOF'
listen: 127.0.0.1:8080   # overridden by --listen
plugins_dir: plugins     # relative to this file
providers:
  hello:
    plugin: hello
  howdy:
    plugin: hello
    options:
      greeting: Howdy
      models: [howdy]
  mock:
    plugin: mock
routes:
  hello: [hello]
  howdy: [howdy]
  mock: [mock]
EOF

  e2e_log "[$name] llmux --check-config"
  check=$("$LLMUX_BINARY" --config "$run/providers.yaml" --check-config 2>"$run/check.log") ||
    { cat "$run/check.log" >&2; echo "$check" >&2; e2e_fail "[$name] --check-config rejected the config"; }
  grep -Eq '^ +hello 1\.0\.0 \(llmux-hello\.so\)$' <<<"$check" ||
    { echo "$check" >&2; e2e_fail "[$name] --check-config does not list plugin hello 1.0.0"; }
  grep -Eq '^ +hello \(plugin hello\): ready$' <<<"$check" ||
    { echo "$check" >&2; e2e_fail "[$name] --check-config does not show provider hello ready"; }

  e2e_start_llmux "$LLMUX_BINARY" "$run/providers.yaml" "$run/llmux.log"

  answer=$(chat hello "e2e tester") || { cat "$run/llmux.log" >&2; e2e_fail "[$name] chat request failed: $answer"; }
  text=$(json_content <<<"$answer") || e2e_fail "[$name] unexpected answer: $answer"
  [[ "$text" == *"Hello from the hello plugin"* ]] || e2e_fail "[$name] answer without the greeting: $answer"
  expect_equal "[$name] answer" "Hello from the hello plugin, e2e tester!" "$text"
  grep -q '"finish_reason":"stop"' <<<"$answer" || e2e_fail "[$name] finish_reason is not stop: $answer"

  # (the trailing "x" keeps the stream's final blank line from $(...)'s trimming)
  stream=$(chat hello "e2e tester" 1 && echo x) || e2e_fail "[$name] streamed chat request failed: $stream"
  stream=${stream%x}
  text=$(printf %s "$stream" | sse_content) || { echo "$stream" >&2; e2e_fail "[$name] malformed stream"; }
  expect_equal "[$name] streamed answer" "Hello from the hello plugin, e2e tester!" "$text"

  answer=$(chat howdy "partner") || e2e_fail "[$name] chat request for howdy failed: $answer"
  expect_equal "[$name] greeting option" "Howdy from the hello plugin, partner!" "$(json_content <<<"$answer")"

  models=$(curl -sS --fail-with-body --max-time 10 "http://127.0.0.1:$LLMUX_PORT/v1/models") ||
    e2e_fail "[$name] GET /v1/models failed: $models"
  grep -q '"hello"' <<<"$models" || e2e_fail "[$name] /v1/models does not list hello: $models"

  e2e_stop_llmux "$run/llmux.log" || e2e_fail "[$name] llmux did not shut down cleanly"
done

# A wrong option of the plugin is an error in the file, with its position.
bad=$WORK/run-prefix/bad.yaml
cat >"$bad" <<'EOF'
listen: 127.0.0.1:8080
plugins_dir: plugins
providers:
  hello:
    plugin: hello
    options:
      greting: Hi
routes:
  hello: [hello]
EOF
if out=$("$LLMUX_BINARY" --config "$bad" --check-config 2>&1); then
  echo "$out" >&2
  e2e_fail "--check-config accepted an unknown option of the hello plugin"
fi
grep -q "greting" <<<"$out" || { echo "$out" >&2; e2e_fail "the error does not name the unknown key"; }
grep -q "bad.yaml:7:" <<<"$out" || { echo "$out" >&2; e2e_fail "the error does not point at bad.yaml line 7"; }

e2e_log "out-of-tree plugin: PASS"
