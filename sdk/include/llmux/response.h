// A whole (non-streamed) answer: the events of one call folded together.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"

namespace llmux {

struct ChatResponse {
  std::string text;
  std::string reasoning;
  std::string reasoning_signature;          // Anthropic: signature of the thinking text
  std::vector<std::string> redacted_reasoning;  // Anthropic redacted_thinking data
  std::string raw;  // pass-through body (Event::Kind::Raw); when set, the rest is empty
  std::vector<ToolCall> tool_calls;  // in index order
  std::vector<std::vector<float>> embeddings;  // embedding calls: by input index
  std::optional<Usage> usage;
  std::optional<FinishReason> finish;
  std::optional<Error> error;

  bool complete() const { return finish.has_value() || error.has_value(); }
};

// Folds events into a ChatResponse. Tool-call fragments are joined by index.
class ResponseCollector {
 public:
  void add(const Event& event);
  const ChatResponse& response() const { return response_; }
  ChatResponse take() { return std::move(response_); }

 private:
  ChatResponse response_;
  std::vector<int> tool_indexes_;  // event index -> position in response_.tool_calls
};

// The events that reproduce a response (Role first, terminal last): lets a
// provider that holds a whole answer deliver it through the event interface.
std::vector<Event> to_events(const ChatResponse& response);

}  // namespace llmux
