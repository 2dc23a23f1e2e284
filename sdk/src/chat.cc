// The canonical chat model and events: the small out-of-line parts.
#include "llmux/chat.h"

#include "llmux/event.h"

namespace llmux {

const char* to_string(Role role) noexcept {
  switch (role) {
    case Role::System: return "system";
    case Role::Developer: return "developer";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
    case Role::Tool: return "tool";
  }
  return "user";
}

const char* to_string(Api api) noexcept {
  switch (api) {
    case Api::OpenAIChat: return "openai";
    case Api::Anthropic: return "anthropic";
    case Api::OpenAIResponses: return "responses";
    case Api::OpenAICompletions: return "completions";
    case Api::OpenAIEmbeddings: return "embeddings";
  }
  return "openai";
}

// Text parts are concatenated as they are, with no separator: a client that
// split one text over several parts gets it back unchanged.
std::string Message::text() const {
  if (content.size() == 1 && content.front().kind == ContentPart::Kind::Text) {
    return content.front().text;
  }
  std::string out;
  for (const ContentPart& part : content) {
    if (part.kind == ContentPart::Kind::Text) out += part.text;
  }
  return out;
}

std::string ChatRequest::last_user_text() const {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == Role::User) return it->text();
  }
  return {};
}

bool ChatRequest::has_tool_result() const {
  for (const Message& m : messages) {
    if (m.role == Role::Tool) return true;
  }
  return false;
}

const char* to_string(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::ToolCalls: return "tool_calls";
    case FinishReason::ContentFilter: return "content_filter";
    case FinishReason::StopSequence: return "stop";
  }
  return "stop";
}

Error Error::invalid_request(std::string message, std::string param, std::string code) {
  Error e;
  e.status = 400;
  e.type = "invalid_request_error";
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

Error Error::unavailable(std::string message) {
  Error e;
  e.status = 503;
  e.type = "server_error";
  e.code = "service_unavailable";
  e.message = std::move(message);
  return e;
}

Error Error::make(int status, std::string type, std::string message, std::string code, std::string param) {
  Error e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.code = std::move(code);
  e.param = std::move(param);
  return e;
}

Error Error::upstream(int status, std::string message) {
  Error e;
  e.status = status;
  e.message = std::move(message);
  switch (status) {
    case 401: e.type = "authentication_error"; break;
    case 403: e.type = "permission_error"; break;
    case 404: e.type = "not_found_error"; break;
    case 429: e.type = "rate_limit_error"; break;
    default:
      // 400, 413, 422 and every other 4xx are about the request; anything
      // else (5xx, or a status that is not an error at all) is the server's.
      e.type = status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
  }
  return e;
}

Error Error::from_transport(const HttpOutcome& outcome, std::string_view who) {
  bool timeout = outcome.failure == HttpFailure::FirstByteTimeout || outcome.failure == HttpFailure::IdleTimeout ||
                 outcome.failure == HttpFailure::TotalTimeout;
  // The engine's message already names the failure; fall back to its name.
  std::string message(who);
  message += ": ";
  message += outcome.message.empty() ? std::string(to_string(outcome.failure)) : outcome.message;
  Error e = upstream(timeout ? 504 : 502, std::move(message));
  e.transport = outcome.failure;
  if (outcome.failure == HttpFailure::ConnectRefused || outcome.failure == HttpFailure::Connect) {
    e.code = "upstream_unreachable";
  } else if (timeout) {
    e.code = "upstream_timeout";
  }
  return e;
}

}  // namespace llmux
