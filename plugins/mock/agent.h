// The mock's agent simulator: reads a canonical conversation the way a coding
// agent's model would (which turn this is, whether a tool result came back,
// what the user's task names) and plans the next move against the tools the
// client offers, native (`tools`) or described as XML tags in the system
// prompt (the older Kilo Code / Roo Code / Cline extension protocol).
//
// Everything here is a pure function of the request: the same conversation
// always gets the same answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"

namespace llmux::mock {

// One tool call the mock will make.
struct PlannedToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // compact JSON object text
};

// What one answer says, before it is cut into chunks and paced.
struct Answer {
  std::string reasoning;
  std::string text;
  std::vector<PlannedToolCall> tool_calls;
  std::optional<Error> error;                // the call fails with this (nothing else is said)
  std::optional<FinishReason> finish;        // default: tool_calls when calling tools, else stop
  std::optional<std::chrono::milliseconds> first_byte_delay;
  std::optional<std::chrono::milliseconds> chunk_delay;
  std::int64_t cut_after = -1;               // -1 = not set here
  std::int64_t stall_after = -1;
  std::string origin;                        // for the debug log: "agent: write", "scenario turn 2", ...
};

// The conversation as the agent simulator sees it.
struct Conversation {
  int turn = 1;                 // 1 + the assistant messages so far
  bool tool_result = false;     // tool results came back after the last assistant turn
  int task_tool_turns = 0;      // tool-using assistant turns (answered) since the task began
  std::string task;             // the user's task, cleaned (see clean_user_text)
  std::string last_user;        // the last user message, cleaned
  std::string system;           // system and developer messages joined
  std::string working_directory;  // from a "Working directory: /x" line or a <cwd>/x</cwd> tag, if any
  std::string last_tool;        // the tool the last assistant turn used (native name or XML tag)
  std::string last_write_path;  // the file the last assistant turn wrote, if it did
  std::string last_tool_result; // text of the last tool result
};
Conversation analyze(const ChatRequest& request);

// A user message without the context blocks clients add around the prompt
// (<environment_details>, <system-reminder>, Codex's <environment_context>),
// the inside of <task> or <user_message> when present, trimmed, without a
// pair of quotes around it.
std::string clean_user_text(std::string_view text);

// A file name and content named by a task such as
// "create hello.txt with the text hello" (-> "hello.txt", "hello").
struct FileTask {
  std::string path = "mock.txt";
  std::string content = "Hello from the llmux mock.\n";
  bool path_named = false;
  bool content_named = false;
};
FileTask file_task(std::string_view task);

// True when the task reads like a question rather than work on files.
bool looks_like_question(std::string_view task);

// A file-writing tool among those offered, and which of its properties take
// the path, the content and (Roo/Cline) the line count.
struct WriteTool {
  const Tool* tool = nullptr;
  std::string path_key;
  std::string content_key;
  std::string line_count_key;  // empty when the schema has none
  bool wants_absolute = false; // the path property's description asks for an absolute path
};
std::optional<WriteTool> find_write_tool(const std::vector<Tool>& tools);

// Arguments for `tool` writing `content` to `path`: the path and content
// first, then whatever else its schema requires.
std::string write_arguments(const WriteTool& tool, const std::string& path, const std::string& content);

// `path` as the tool wants it: joined to the conversation's working directory
// when the tool asks for an absolute path and the client named the directory.
std::string write_path(const WriteTool& tool, const Conversation& conversation, const std::string& path);

// Codex CLI's tools that can write a file without a dedicated write tool, in
// the order the mock prefers them: the freeform `apply_patch` (a patch in
// {"input": text}), `exec_command` ({"cmd": string}), `shell_command`
// ({"command": string}) and `shell` ({"command": ["bash", "-lc", ...]}).
struct CommandTool {
  enum class Kind { ApplyPatch, ExecCommand, ShellCommand, Shell };
  const Tool* tool = nullptr;
  Kind kind = Kind::ExecCommand;
  bool has_workdir = false;  // the schema has a `workdir` property
};
std::optional<CommandTool> find_command_tool(const std::vector<Tool>& tools);

// `s` as one single-quoted POSIX shell word ("it's" -> 'it'\''s').
std::string shell_quote(std::string_view s);

// A shell command that writes exactly `content` (no newline added) to `path`,
// relative to the working directory, creating its parent folders:
// "printf '%s' 'hello' > 'hello.txt'".
std::string write_command(const std::string& path, const std::string& content);

// An apply_patch patch adding the file `path` with `content`
// ("*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n").
std::string add_file_patch(const std::string& path, const std::string& content);

// Arguments for `tool` writing `content` to `path` (relative paths stay
// relative: Codex resolves them against its working directory, which goes
// into `workdir` when the schema has one and the conversation names it).
std::string command_arguments(const CommandTool& tool, const Conversation& conversation, const std::string& path,
                              const std::string& content);

// The call that writes `content` to `path` with what the client offers: its
// write tool (path made absolute when the tool asks), else a Codex command
// tool (find_command_tool); nullopt when neither is offered.
std::optional<PlannedToolCall> file_write_call(const std::vector<Tool>& tools, const Conversation& conversation,
                                               const std::string& path, const std::string& content);
bool can_write_files(const std::vector<Tool>& tools);

// The file a write call made by the mock (or a model like it) names: a
// path-like argument, the target of the last `>` redirection of a command,
// or the first file an apply_patch patch adds or updates. Empty when none.
std::string written_path(std::string_view arguments);

// Lines in `content` as an editor counts them ("a\nb" and "a\nb\n" are 2).
std::int64_t line_count(std::string_view content);

// The XML tool tags the system prompt describes, among the known ones
// (write_to_file, attempt_completion, read_file, ...), in a fixed order.
std::vector<std::string> xml_tools_described(std::string_view system);

// A deterministic tool-call id for this call of `name` in this conversation.
std::string tool_call_id(const ChatRequest& request, const Conversation& conversation, std::string_view name,
                         int index);

struct AgentSettings {
  bool tool_calls = true;      // false: never call native tools
  int max_tool_turns = 8;      // tool-using turns per task before the mock insists on text
  std::string reply;           // fixed text for text answers, when set
};

// The built-in agent's answer, or nullopt when the request is not an agent
// turn it has a plan for (the caller then answers with the plain behaviour).
std::optional<Answer> agent_answer(const ChatRequest& request, const Conversation& conversation,
                                   const AgentSettings& settings);

}  // namespace llmux::mock
