// Folding events into a whole answer, and back.
#include "llmux/response.h"

#include <algorithm>

namespace llmux {

void ResponseCollector::add(const Event& event) {
  switch (event.kind) {
    case Event::Kind::Role:
      break;
    case Event::Kind::TextDelta:
      response_.text += event.text;
      break;
    case Event::Kind::ReasoningDelta:
      response_.reasoning += event.text;
      break;
    case Event::Kind::ReasoningSignature:
      response_.reasoning_signature += event.text;
      break;
    case Event::Kind::RedactedReasoning:
      response_.redacted_reasoning.push_back(event.text);
      break;
    case Event::Kind::Raw:
      response_.raw += event.text;
      break;
    case Event::Kind::ToolCallDelta: {
      // tool_indexes_[k] is the event index of response_.tool_calls[k]:
      // calls appear in the order their first fragment was seen.
      const auto it = std::find(tool_indexes_.begin(), tool_indexes_.end(), event.index);
      ToolCall* call;
      if (it == tool_indexes_.end()) {
        tool_indexes_.push_back(event.index);
        call = &response_.tool_calls.emplace_back();
      } else {
        call = &response_.tool_calls[static_cast<std::size_t>(it - tool_indexes_.begin())];
      }
      if (!event.id.empty() && call->id.empty()) call->id = event.id;
      if (!event.name.empty() && call->name.empty()) call->name = event.name;
      call->arguments += event.text;
      break;
    }
    case Event::Kind::Embedding:
      if (event.index >= 0) {
        const auto at = static_cast<std::size_t>(event.index);
        if (response_.embeddings.size() <= at) response_.embeddings.resize(at + 1);
        response_.embeddings[at] = event.embedding;
      }
      break;
    case Event::Kind::Usage:
      response_.usage = event.usage;
      break;
    case Event::Kind::Finish:
      if (!response_.complete()) response_.finish = event.finish;
      break;
    case Event::Kind::Error:
      if (!response_.complete()) response_.error = event.error;
      break;
  }
}

std::vector<Event> to_events(const ChatResponse& response) {
  std::vector<Event> events;
  events.reserve(5 + response.tool_calls.size());
  events.push_back(Event::role());
  if (!response.raw.empty()) events.push_back(Event::raw(response.raw));
  for (const std::string& data : response.redacted_reasoning) events.push_back(Event::redacted_reasoning(data));
  if (!response.reasoning.empty()) events.push_back(Event::reasoning_delta(response.reasoning));
  if (!response.reasoning_signature.empty()) {
    events.push_back(Event::reasoning_signature(response.reasoning_signature));
  }
  if (!response.text.empty()) events.push_back(Event::text_delta(response.text));
  for (std::size_t i = 0; i < response.tool_calls.size(); ++i) {
    const ToolCall& call = response.tool_calls[i];
    events.push_back(Event::tool_call_delta(static_cast<int>(i), call.id, call.name, call.arguments));
  }
  for (std::size_t i = 0; i < response.embeddings.size(); ++i) {
    events.push_back(Event::embedding_of(static_cast<int>(i), response.embeddings[i]));
  }
  if (response.usage) events.push_back(Event::usage_report(*response.usage));
  if (response.error) {
    events.push_back(Event::failed(*response.error));
  } else {
    events.push_back(Event::finished(response.finish.value_or(FinishReason::Stop)));
  }
  return events;
}

}  // namespace llmux
