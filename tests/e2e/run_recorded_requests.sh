#!/usr/bin/env bash
# End-to-end: request bodies shaped like real coding agents' (tests/e2e/fixtures/)
# POSTed to a live llmux serving the mock; the answers must be what those
# agents need to go on.
#
#   run_recorded_requests.sh LLMUX_BINARY BUILD_DIR SOURCE_DIR xml|kilo|anthropic|codex
#
# xml: the XML-tag tool protocol of the Kilo Code / Roo Code / Cline VS Code
#   extensions (no `tools`; the tools are described in the system prompt, the
#   reply must use one in plain content). Turn one must answer with a complete
#   <write_to_file> (path hello.txt, content hello, line_count 1); turn two,
#   after the "[write_to_file for 'hello.txt'] Result:" message, with a complete
#   <attempt_completion><result>...</result></attempt_completion>. Streamed and
#   not streamed.
# kilo: the first request Kilo Code CLI 7.7.7 sent for "create hello.txt with
#   the text hello" (recorded on loopback): the answer must stream one call of
#   its `write` tool with filePath .../hello.txt and content "hello".
# anthropic: Claude Code's shape of request (system blocks, tools with
#   input_schema, <system-reminder> text blocks) on POST /v1/messages: turn one
#   must stream a tool_use of its Write tool (file_path absolute in the working
#   directory its system prompt names, content "hello"), stop_reason tool_use;
#   turn two, after the tool_result, a text block and stop_reason end_turn.
# codex: the second request Codex CLI 0.171.0 sent on POST /v1/responses for
#   "create hello.txt containing hello" (recorded; paths renamed), and the first
#   (its input without the call and its output), streamed and not: with only
#   exec_command offered, turn one must answer with a function_call whose `cmd`,
#   run by bash in a scratch folder, writes exactly "hello" to hello.txt
#   (workdir: the <cwd> of Codex's environment context); with the freeform
#   apply_patch offered, with a custom_tool_call adding hello.txt. Turn two,
#   after the call's output, is the final message "Done: wrote hello.txt.".
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 LLMUX_BINARY BUILD_DIR SOURCE_DIR xml|kilo|anthropic|codex" >&2
  exit 2
fi
MODE=$4

source "$(dirname "$0")/lib.sh"
e2e_bounded 120 "$0" "$@"

LLMUX_BINARY=$(realpath "$1")
BUILD_DIR=$(realpath "$2")
SOURCE_DIR=$(realpath "$3")
FIXTURES=$SOURCE_DIR/tests/e2e/fixtures


[[ -x "$LLMUX_BINARY" ]] || e2e_fail "no llmux binary at $LLMUX_BINARY"
[[ -f "$BUILD_DIR/plugins/llmux-mock.so" ]] || e2e_fail "no mock plugin at $BUILD_DIR/plugins/llmux-mock.so"

e2e_workdir recorded

cat >"$WORK/providers.yaml" <<EOF
plugins_dir: $BUILD_DIR/plugins
providers:
  mock: {plugin: mock}
routes:
  coder: [mock]
  mock: [mock]
  "claude-*": [mock]
EOF
e2e_start_llmux "$LLMUX_BINARY" "$WORK/providers.yaml" "$WORK/llmux.log"

status=0
python3 - "$MODE" "$LLMUX_PORT" "$FIXTURES" <<'PY' || status=$?
import json, os, re, subprocess, sys, tempfile, urllib.request

mode, port, fixtures = sys.argv[1], sys.argv[2], sys.argv[3]
url = f"http://127.0.0.1:{port}/v1/chat/completions"
failures = []

def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        failures.append(what)

def post(body, path="/v1/chat/completions", headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers=headers or {"Content-Type": "application/json", "Authorization": "Bearer local"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read().decode()

def sse_answer(raw):
    """Joins a chat.completion.chunk stream: content, tool calls, finish reasons, [DONE]."""
    content, calls, finishes, done = "", {}, [], False
    for line in raw.split("\n"):
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            done = True
            continue
        chunk = json.loads(data)
        if "error" in chunk:
            check(False, "no in-band error: " + data[:200])
        for ch in chunk.get("choices", []):
            d = ch.get("delta", {})
            content += d.get("content") or ""
            for tc in d.get("tool_calls") or []:
                c = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                if tc.get("id"): c["id"] = tc["id"]
                f = tc.get("function") or {}
                if f.get("name"): c["name"] = f["name"]
                c["arguments"] += f.get("arguments") or ""
            if ch.get("finish_reason"):
                finishes.append(ch["finish_reason"])
    return content, [calls[i] for i in sorted(calls)], finishes, done

# The extensions' parser: the first known tool tag, every parameter closed.
KNOWN = ["write_to_file", "attempt_completion", "read_file", "execute_command", "list_files",
         "ask_followup_question", "apply_diff", "search_files"]
def tool_use(text):
    m = re.search(r"<(" + "|".join(KNOWN) + r")>(.*?)</\1>", text, re.S)
    if not m:
        return None, {}
    params = dict((k, v) for k, v in re.findall(r"<(\w+)>(.*?)</\1>", m.group(2), re.S))
    return m.group(1), params

def strip_nl(v):  # as the extensions do for content parameters
    return v[1:] if v.startswith("\n") else v

if mode == "xml":
    for turn, expect in ((1, "write_to_file"), (2, "attempt_completion")):
        body = json.load(open(f"{fixtures}/xml-extension-turn{turn}.json"))
        check("tools" not in body, f"turn {turn} fixture offers no native tools")
        for stream in (True, False):
            body["stream"] = stream
            if not stream:
                body.pop("stream_options", None)
            st, headers, raw = post(body)
            check(st == 200, f"turn {turn} stream={stream}: HTTP 200")
            check(headers.get("x-llmux-provider") == "mock", f"turn {turn}: served by the mock")
            if stream:
                text, calls, finishes, done = sse_answer(raw)
                check(done, f"turn {turn}: stream ends with [DONE]")
                check(finishes == ["stop"], f"turn {turn}: one finish_reason stop, got {finishes}")
                check(not calls, f"turn {turn}: no native tool calls")
            else:
                msg = json.loads(raw)["choices"][0]["message"]
                text = msg.get("content") or ""
                check(not msg.get("tool_calls"), f"turn {turn}: no native tool calls")
            name, params = tool_use(text)
            check(name == expect, f"turn {turn} stream={stream}: uses <{expect}>, got {name!r} in {text!r}")
            if expect == "write_to_file":
                check(params.get("path") == "hello.txt", f"turn {turn}: <path>hello.txt</path>")
                check(strip_nl(params.get("content", "")).rstrip("\n") == "hello", f"turn {turn}: <content> hello")
                check(params.get("line_count") == "1", f"turn {turn}: <line_count>1</line_count>")
            else:
                check(params.get("result", "").strip() != "", f"turn {turn}: a non-empty <result>")
elif mode == "kilo":
    body = json.load(open(f"{fixtures}/kilo-cli-7.7.7-create-hello.json"))
    check(len(body.get("tools", [])) == 16, "fixture: Kilo's 16 native tools")
    st, headers, raw = post(body)
    check(st == 200, "HTTP 200")
    check(headers.get("Content-Type", "").startswith("text/event-stream"), "an SSE stream")
    text, calls, finishes, done = sse_answer(raw)
    check(done, "stream ends with [DONE]")
    check(finishes == ["tool_calls"], f"finish_reason tool_calls, got {finishes}")
    check(len(calls) == 1, f"one tool call, got {len(calls)}")
    if calls:
        call = calls[0]
        check(call["name"] == "write", f"calls Kilo's write tool, got {call['name']}")
        check(bool(call["id"]), "the call has an id")
        args = json.loads(call["arguments"])
        check(args.get("filePath", "").endswith("/hello.txt") or args.get("filePath") == "hello.txt",
              f"filePath names hello.txt: {args.get('filePath')}")
        check(args.get("content") == "hello", f"content is 'hello': {args.get('content')!r}")
    usage = [json.loads(l[6:]) for l in raw.split("\n") if l.startswith("data: {") and '"usage"' in l]
    check(any(u.get("usage") for u in usage), "a usage chunk (stream_options.include_usage)")
elif mode == "anthropic":
    headers = {"Content-Type": "application/json", "x-api-key": "local", "anthropic-version": "2023-06-01"}
    def anthropic_events(raw):
        """(event name, data) pairs of an Anthropic SSE stream."""
        out, name = [], None
        for line in raw.split("\n"):
            if line.startswith("event: "):
                name = line[7:].strip()
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
        return out
    for turn in (1, 2):
        body = json.load(open(f"{fixtures}/anthropic-claude-code-turn{turn}.json"))
        st, hdrs, raw = post(body, "/v1/messages", headers)
        check(st == 200, f"turn {turn}: HTTP 200")
        check(hdrs.get("x-llmux-provider") == "mock", f"turn {turn}: served by the mock")
        events = anthropic_events(raw)
        names = [n for n, _ in events]
        check(names[:1] == ["message_start"] and names[-1:] == ["message_stop"],
              f"turn {turn}: message_start ... message_stop, got {names}")
        blocks, stop = {}, None
        for name, data in events:
            check(name == data.get("type"), f"turn {turn}: event line matches data type ({name})")
            if name == "content_block_start":
                blocks[data["index"]] = dict(data["content_block"], json="")
            elif name == "content_block_delta":
                d = data["delta"]
                b = blocks[data["index"]]
                if d["type"] == "text_delta": b["text"] = b.get("text", "") + d["text"]
                if d["type"] == "input_json_delta": b["json"] += d["partial_json"]
            elif name == "message_delta":
                stop = data["delta"].get("stop_reason")
        kinds = [blocks[i]["type"] for i in sorted(blocks)]
        if turn == 1:
            check(stop == "tool_use", f"turn 1: stop_reason tool_use, got {stop}")
            uses = [b for b in blocks.values() if b["type"] == "tool_use"]
            check(len(uses) == 1, f"turn 1: one tool_use block, got {kinds}")
            if uses:
                check(uses[0]["name"] == "Write", f"turn 1: Claude Code's Write tool, got {uses[0]['name']}")
                check(uses[0]["id"].startswith("toolu_") or len(uses[0]["id"]) > 0, "turn 1: the tool_use has an id")
                args = json.loads(uses[0]["json"] or "{}")
                check(args.get("file_path") == "/home/dev/project/hello.txt", f"turn 1: absolute file_path, got {args}")
                check(args.get("content") == "hello", f"turn 1: content hello, got {args}")
        else:
            check(stop == "end_turn", f"turn 2: stop_reason end_turn, got {stop}")
            check(kinds == ["text"], f"turn 2: one text block, got {kinds}")
            text = "".join(b.get("text", "") for b in blocks.values())
            check(text == "Done: wrote /home/dev/project/hello.txt.", f"turn 2: final text, got {text!r}")
elif mode == "codex":
    def responses_events(raw):
        """(event name, data) pairs of a Responses stream, checked for framing and order."""
        out, name = [], None
        for line in raw.split("\n"):
            if line.startswith("event: "):
                name = line[7:].strip()
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
        seqs = [d.get("sequence_number") for _, d in out]
        check(all(n == d.get("type") for n, d in out), "event lines match their data's type")
        check(all(isinstance(a, int) for a in seqs) and seqs == sorted(set(seqs)), "sequence_number increases")
        names = [n for n, _ in out]
        terminal = [n for n in names if n in ("response.completed", "response.incomplete", "response.failed")]
        check(names[:1] == ["response.created"] and terminal == ["response.completed"] and names[-1:] == terminal,
              f"response.created ... one response.completed, got {names}")
        return out

    def answer(body, what):
        """The output items of a streamed (output_item.done) or whole answer."""
        st, hdrs, raw = post(body, "/v1/responses")
        check(st == 200, f"{what}: HTTP 200")
        check(hdrs.get("x-llmux-provider") == "mock", f"{what}: served by the mock")
        if not body.get("stream"):
            r = json.loads(raw)
            check(r.get("object") == "response" and r.get("status") == "completed", f"{what}: a completed response")
            return r.get("output", [])
        events = responses_events(raw)
        items = [d["item"] for n, d in events if n == "response.output_item.done"]
        done = [d["response"] for n, d in events if n == "response.completed"]
        if done:
            check([i.get("type") for i in done[0].get("output", [])] == [i.get("type") for i in items],
                  f"{what}: response.completed lists the streamed items")
        return items

    for fixture, tool in (("codex-cli-0.171.0-exec-command.json", "exec_command"),
                          ("codex-cli-0.171.0-apply-patch.json", "apply_patch")):
        recorded = json.load(open(f"{fixtures}/{fixture}"))
        check([i["type"] for i in recorded["input"][4:]] in (["function_call", "function_call_output"],
                                                              ["custom_tool_call", "custom_tool_call_output"]),
              f"{fixture}: turn two of a recorded run")
        for stream in (True, False):
            turn1 = dict(recorded, input=recorded["input"][:4], stream=stream)
            what = f"{tool} turn 1 stream={stream}"
            items = answer(turn1, what)
            check(len(items) == 1, f"{what}: one output item, got {[i.get('type') for i in items]}")
            item = items[0] if items else {}
            check(bool(item.get("call_id")), f"{what}: the call has a call_id")
            if tool == "exec_command":
                check(item.get("type") == "function_call" and item.get("name") == "exec_command",
                      f"{what}: an exec_command function_call, got {item}")
                args = json.loads(item.get("arguments") or "{}")
                check(args.get("cmd") == "printf '%s' 'hello' > 'hello.txt'", f"{what}: the command, got {args}")
                check(args.get("workdir") == "/home/dev/project", f"{what}: workdir is Codex's cwd, got {args}")
                with tempfile.TemporaryDirectory() as ws:
                    rc = subprocess.run(["bash", "--noprofile", "--norc", "-c", args.get("cmd", "false")], cwd=ws).returncode
                    path = os.path.join(ws, "hello.txt")
                    content = open(path).read() if os.path.exists(path) else None
                check(rc == 0 and content == "hello", f"{what}: running it leaves hello.txt = 'hello', got {content!r}")
            else:
                check(item.get("type") == "custom_tool_call" and item.get("name") == "apply_patch",
                      f"{what}: an apply_patch custom_tool_call, got {item}")
                check(item.get("input") == "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n",
                      f"{what}: the patch adds hello.txt, got {item.get('input')!r}")
            what = f"{tool} turn 2 stream={stream}"
            items = answer(dict(recorded, stream=stream), what)
            check([i.get("type") for i in items] == ["message"], f"{what}: one message, got {items}")
            text = "".join(p.get("text", "") for i in items for p in i.get("content", []) if p.get("type") == "output_text")
            check(text == "Done: wrote hello.txt.", f"{what}: the final text, got {text!r}")
else:
    check(False, f"unknown mode {mode}")

sys.exit(1 if failures else 0)
PY

if ((status == 0)) && ! e2e_stop_llmux "$WORK/llmux.log"; then
  e2e_fail "llmux did not shut down cleanly"
fi
if ((status != 0)); then
  tail -n 40 "$WORK/llmux.log" >&2
  e2e_fail "recorded requests ($MODE)"
fi
e2e_log "recorded requests ($MODE): PASS"
