// Scripted mock conversations: a YAML file of turns, each with conditions on
// the request and the answer to give when they hold. The first turn whose
// conditions all hold answers; when none does, the built-in agent answers.
//
//   turns:
//     - name: greet                       # optional, shown in the debug log
//       match:                            # every condition must hold; none = always
//         user: "(?i)^hello"              # ECMAScript regex searched in the last user message
//         tool_result: false              # a tool result came back after the last assistant turn
//         turn: 1                         # 1-based: 1 + assistant messages; N, [N, M] or "N+"
//         system: "Kilo"                  # the system prompt contains this text
//         tool: write                     # a tool of this name is offered ("@write": any way to write a file)
//       reasoning: "Thinking about it"    # reasoning deltas before the answer
//       text: "Hello! You said {{user}}"  # the answer's text
//       tool_calls:                       # tool calls ("@write" = the client's file-writing tool, or Codex's apply_patch / exec_command / shell)
//         - name: "@write"
//           arguments: {path: "{{file}}", content: "{{content}}"}
//       error: 503                        # or {status: 429, message: "slow down", retry_after: 2s}
//       finish: stop                      # stop | length | tool_calls | content_filter
//       delay: 200ms                      # before the first byte
//       chunk_delay: 20ms                 # between chunks
//       cut_after: 3                      # break the stream after 3 chunks
//       stall_after: 3                    # stop sending after 3 chunks until the client leaves
//       agent: true                       # answer as the built-in agent (pacing/faults above still apply)
//
// Placeholders in text, reasoning and argument strings: {{user}} (the last
// user message), {{task}}, {{file}} and {{content}} (what the task names),
// {{turn}}, {{tool_result}}, {{working_directory}}, {{0}}..{{9}} (groups of
// the `user` regex).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent.h"
#include "llmux/config.h"

namespace llmux::mock {

class Scenario {
 public:
  struct Turn;
  struct Match {
    Answer answer;
    bool agent = false;  // the built-in agent answers; `answer` holds only pacing and faults
    std::size_t index = 0;
  };

  // Parses scenario YAML. `source_name` names the file in errors. Throws
  // ConfigError with the file, line and column of the offending node.
  static std::shared_ptr<const Scenario> parse(const std::string& yaml, const std::string& source_name);
  // Reads and parses a file; a file that cannot be read is a ConfigError at `where`.
  static std::shared_ptr<const Scenario> load(const std::string& path, const ConfigNode& where);

  ~Scenario();
  std::size_t size() const;
  const std::string& source() const { return source_; }

  // The first matching turn's answer, or nullopt when no turn matches.
  std::optional<Match> match(const ChatRequest& request, const Conversation& conversation) const;

 private:
  Scenario() = default;
  std::string source_;
  std::vector<Turn> turns_;
};

}  // namespace llmux::mock
