// The mock provider: a deterministic, network-free provider for tests and
// demos. It plays a coding agent against the tools a client offers (agent.h):
// on a fresh task it calls the client's file-writing tool with the file and
// content the task names, and once the tool result is back it finishes (with
// attempt_completion when offered, else with text); clients that describe
// their tools as XML tags in the system prompt get the same in that protocol.
// A scenario file (scenario.h) scripts turns instead. Otherwise it answers by
// echoing the last user message (or a configured reply), with one tool call
// built from the schema when the request offers tools. Embedding requests get
// deterministic vectors derived from their texts (embeddings.h). A legacy
// completion (/v1/completions) gets a deterministic text for the cursor
// (completion.h), cut at max_tokens. It injects faults on demand, either from
// its options or from markers in the last user message (for a completion: in
// its prompt):
//
//   [[mock:fail=503]]              fail the call with that HTTP status
//   [[mock:cut=K]]                 end the stream with an Error after K chunks
//   [[mock:stall=K]]               stop emitting after K chunks until cancelled
//   [[mock:delay=MS]]              delay between chunks
//   [[mock:first_byte_delay=MS]]   delay before the first event
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent.h"
#include "llmux/provider.h"
#include "scenario.h"

namespace llmux::mock {

inline constexpr const char* kPluginName = "mock";
inline constexpr const char* kPluginVersion = "1.1.0";
inline constexpr const char* kOwnedBy = "llmux-mock";

struct MockOptions {
  std::vector<std::string> models{"mock"};
  std::int64_t chunk_size = 16;  // characters (code points) per delta, >= 1
  std::chrono::milliseconds chunk_delay{0};
  std::chrono::milliseconds first_byte_delay{0};
  std::string reply;             // fixed answer text; empty = derived from the request
  bool tool_calls = true;        // "auto" (true) | "never" (false)
  int fail_status = 0;           // 0 = off
  std::string fail_message;      // empty = "mock: injected failure (HTTP <status>)"
  std::int64_t cut_after = -1;   // -1 = off
  std::int64_t stall_after = -1; // -1 = off
  bool agent = true;             // "auto" (true): play the agent; "off": echo / schema tool call only
  int max_tool_turns = 8;        // tool-using turns per task, after which the mock answers with text
  std::string scenario_path;     // resolved path of the scenario file, empty = none
  std::shared_ptr<const Scenario> scenario;

  // Reads and validates a provider's `options` map. Throws ConfigError.
  static MockOptions parse(const ConfigNode& options);
};

// Plain behaviour and the agent simulator, without scenario or faults: the
// answer the mock gives to `request` by itself.
Answer builtin_answer(const MockOptions& options, const ChatRequest& request, const Conversation& conversation);

// Per-call overrides found in "[[mock:...]]" markers of the last user text.
struct Markers {
  int fail = 0;
  std::int64_t cut = -1;
  std::int64_t stall = -1;
  std::int64_t delay_ms = -1;
  std::int64_t first_byte_delay_ms = -1;
};
Markers parse_markers(std::string_view text);

// Splits `text` into pieces of at most `chars` UTF-8 characters each, never
// inside a multibyte sequence. Empty text gives no pieces.
std::vector<std::string> split_utf8(std::string_view text, std::size_t chars);
// Number of UTF-8 characters (code points) in `text`.
std::size_t utf8_length(std::string_view text);

// Compact JSON arguments that satisfy the JSON Schema `parameters_json`
// (required properties filled by type); "{}" when the schema is not usable.
std::string arguments_for_schema(std::string_view parameters_json);

// The events of one call, in order, plus where they are paced. Computed up
// front, so the streamed and the collected answer are the same.
struct Plan {
  struct Step {
    std::chrono::milliseconds delay{0};  // before this step
    std::vector<Event> events;
  };
  std::vector<Step> steps;
  bool stall = false;  // after the last step, emit nothing until cancelled
  std::string origin;  // who decided the answer (debug log)
};
Plan make_plan(const MockOptions& options, const ChatRequest& request);

class MockProvider : public Provider {
 public:
  MockProvider(std::string name, MockOptions options, HostServices& host);
  // Builds a provider from a ProviderSpec. Throws ConfigError for bad options.
  static std::shared_ptr<MockProvider> create(const ProviderSpec& spec);

  std::vector<ModelInfo> models() const override;
  void chat(ChatCallPtr call) override;
  // Chat, completions and embeddings (embeddings.h).
  bool serves(Operation) const override { return true; }

  const MockOptions& options() const { return options_; }

 private:
  std::string name_;
  MockOptions options_;
  HostServices& host_;
};

}  // namespace llmux::mock
