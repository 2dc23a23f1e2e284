#include "api/chat_flow.h"

#include <mutex>
#include <unordered_set>

#include "gateway/exchange.h"
#include "gateway/gateway.h"
#include "llmux/json_scan.h"
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

namespace {

// A JSON string value without escapes, as its text between the quotes; nullopt
// for anything else (an escape needs decoding: the full parse does it).
std::optional<std::string_view> plain_string(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::nullopt;
  value = value.substr(1, value.size() - 2);
  if (value.find('\\') != std::string_view::npos) return std::nullopt;
  return value;
}

// `true`, `false` or `null` (false); nullopt for anything else.
std::optional<bool> plain_bool(std::string_view value) {
  if (value == "true") return true;
  if (value == "false" || value == "null") return false;
  return std::nullopt;
}

// The chain's first step sends the request's own body up: nothing needs it parsed yet.
bool first_step_passes_through(const Resolution& resolution, Api api) {
  if (resolution.chain.empty()) return false;
  const ResolvedStep& first = resolution.chain.front();
  if (first.params && !first.params->empty()) return false;
  return first.slot->provider && first.slot->provider->passes_through(api);
}

}  // namespace

bool scan_routing_fields(std::string_view body, const RoutingShape& shape, ChatRequest& out) {
  // The syntax pass checks UTF-8 too: what the full parse would refuse is parsed for its error.
  if (!json::well_formed(body, nullptr, true)) return false;
  thread_local std::vector<json::Member> members;
  members.clear();
  if (!json::top_level_members(body, members)) return false;
  bool have_model = false, have_stream = false, have_options = false, have_content = false;
  for (const json::Member& member : members) {
    // An escaped name could be "model" in disguise: the codec decodes names.
    if (member.name_escaped) return false;
    if (member.name == "model") {
      auto model = plain_string(member.value);
      if (have_model || !model || model->empty()) return false;
      out.model.assign(*model);
      have_model = true;
    } else if (member.name == "stream") {
      auto stream = plain_bool(member.value);
      if (have_stream || !stream) return false;
      out.stream = *stream;
      have_stream = true;
    } else if (shape.stream_options && member.name == "stream_options") {
      if (have_options) return false;
      have_options = true;
      if (member.value == "null") continue;
      thread_local std::vector<json::Member> options;
      options.clear();
      if (!json::top_level_members(member.value, options)) return false;  // not an object: the codec says so
      bool have_usage = false;
      for (const json::Member& option : options) {
        if (option.name_escaped) return false;
        if (option.name != "include_usage") continue;
        auto usage = plain_bool(option.value);
        if (have_usage || !usage) return false;
        out.include_usage = *usage;
        have_usage = true;
      }
    } else if (member.name == shape.content_member) {
      have_content = true;
    }
  }
  return have_model && have_content;
}

std::optional<RoutedChat> route_chat(ApiCall& call, ChatParser parse, const RoutingShape* routing_only) {
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
  std::optional<Resolution> resolution;
  if (routing_only && scan_routing_fields(body, *routing_only, chat)) {
    resolution = call.table->resolve(chat.model);
    if (resolution && first_step_passes_through(*resolution, routing_only->api)) {
      chat.parsed = false;
      chat.source_api = routing_only->api;
      routed.parse_later = parse;
    } else {
      // Parsed in full after all (below): the codec's errors come before a 404, as always.
      chat = ChatRequest();
      resolution.reset();
    }
  }
  if (chat.parsed) {
    if (auto error = parse(body, chat)) {
      call.fail(*error);
      return std::nullopt;
    }
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
  if (!resolution) resolution = call.table->resolve(chat.model);
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
      std::move(routed.request), std::move(writer), call.channel, call.context, routed.parse_later);
  exchange->start();
  return exchange;
}

}  // namespace llmux::host
