#include "api/chat_flow.h"

#include <mutex>
#include <unordered_set>

#include "gateway/exchange.h"
#include "gateway/gateway.h"
#include "services/log.h"

namespace llmux::host {
namespace {

// A codec warning is logged at warn level once per process (Codex sends the
// same dropped built-in tool with every turn); the access log has every one.
bool first_time(const std::string& warning) {
  static std::mutex mu;
  static std::unordered_set<std::string> seen;
  std::lock_guard lock(mu);
  if (seen.size() >= 256) return false;  // bounded: a client cannot grow it without end
  return seen.insert(warning).second;
}

}  // namespace

std::optional<RoutedChat> route_chat(ApiCall& call, ChatParser parse) {
  const auto& config = call.table->config();
  std::string& body = call.request.body();
  if (body.size() > config.max_body_bytes) {
    call.fail(Error::make(413, "invalid_request_error",
                          "Request body is " + std::to_string(body.size()) + " bytes; the limit is " +
                              std::to_string(config.max_body_bytes) + " bytes (max_body in providers.yaml).",
                          "request_too_large"));
    return std::nullopt;
  }
  RoutedChat routed;
  ChatRequest& chat = routed.request;
  if (auto error = parse(body, chat)) {
    call.fail(*error);
    return std::nullopt;
  }
  if (!chat.warnings.empty()) {
    for (const std::string& warning : chat.warnings) {
      const bool first = first_time(warning);
      Log::write(first ? LogLevel::Warn : LogLevel::Debug, call.context->api,
                 warning + " (request " + call.context->id + (first ? "; repeats are logged at debug level)" : ")"));
    }
    call.context->warnings = chat.warnings;
  }
  call.context->model_requested = chat.model;
  call.context->stream = chat.stream;
  auto resolution = call.table->resolve(chat.model);
  if (!resolution) {
    std::string served;
    for (const auto& name : call.table->served_models()) served += (served.empty() ? "" : ", ") + name;
    call.fail(Error::make(404, "invalid_request_error",
                          "The model '" + chat.model + "' does not exist or is not served by this gateway. Served models: " +
                              (served.empty() ? "(none)" : served) + ".",
                          "model_not_found", "model"));
    return std::nullopt;
  }
  call.context->route = resolution->matched_route;
  call.context->model_label = std::string(call.table->model_label(resolution->requested, resolution->resolved));
  chat.traceparent = call.context->traceparent;
  // The transport reuses its buffer once the handler returns: take the body.
  chat.original_body = std::make_shared<const std::string>(std::move(body));
  routed.resolution = std::move(*resolution);
  return routed;
}

std::shared_ptr<Exchange> start_chat(ApiCall& call, RoutedChat routed, std::unique_ptr<AnswerWriter> writer) {
  if (!writer) writer = call.dialect.make_writer(call.answer_context(), routed.request);
  auto exchange = std::make_shared<Exchange>(
      Exchange::Services{call.gateway.timers(), call.gateway.health()}, call.table, std::move(routed.resolution),
      std::move(routed.request), std::move(writer), call.channel, call.context);
  exchange->start();
  return exchange;
}

}  // namespace llmux::host
