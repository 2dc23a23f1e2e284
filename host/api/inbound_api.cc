#include "api/inbound_api.h"

#include "api/anthropic_api.h"
#include "api/openai_api.h"
#include "admin/security_headers.h"

namespace llmux::host {

ApiCall::ApiCall(Gateway& gateway_, std::shared_ptr<const RouteTable> table_, InboundRequest& request_,
                 std::shared_ptr<RequestContext> context_, std::shared_ptr<ClientChannel> channel_,
                 const Dialect& dialect_, bool close_connection_)
    : gateway(gateway_),
      table(std::move(table_)),
      request(request_),
      context(std::move(context_)),
      channel(std::move(channel_)),
      dialect(dialect_),
      close_connection(close_connection_) {}

void ApiCall::respond(int status, std::string_view content_type, std::string_view body,
                      std::string_view extra_headers) {
  respond(status, content_type, body, extra_headers, status < 400 ? Outcome::Ok : Outcome::Rejected);
}

void ApiCall::respond(int status, std::string_view content_type, std::string_view body,
                      std::string_view extra_headers, Outcome outcome) {
  respond_whole(answer_context(), status, content_type, body, extra_headers, outcome, admin != nullptr);
}

void respond_whole(const AnswerContext& answer, int status, std::string_view content_type, std::string_view body,
                   std::string_view extra_headers, Outcome outcome, bool panel) {
  std::string headers = answer_headers({}, answer.request->id);
  if (panel) headers.append(kPanelSecurityHeaders).append("Cache-Control: no-store\r\n");
  headers.append(extra_headers);
  std::string bytes = make_response(status, content_type, body, headers, answer.close_connection);
  answer.request->note_committed(status, false);
  answer.request->note_written(bytes.size());
  answer.channel->write(std::move(bytes));
  answer.request->finish(outcome);
}

void ApiCall::fail(const Error& error, Outcome outcome) {
  respond(error.status, "application/json", dialect.error_body(error), error_headers(error), outcome);
}

const Dialect& InboundApi::dialect(const InboundRequest&) const { return openai_dialect(); }

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

void ApiRegistry::add(std::unique_ptr<InboundApi> api) {
  for (std::string& path : api->paths()) by_path_.emplace_back(std::move(path), api.get());
  apis_.push_back(std::move(api));
}

namespace {

// `pattern` is a registered path; a segment "{id}" in it matches any one
// non-empty segment of `path`.
bool path_matches(std::string_view pattern, std::string_view path) {
  while (!pattern.empty() && !path.empty()) {
    const auto pattern_end = pattern.find('/', 1);
    const auto path_end = path.find('/', 1);
    std::string_view pattern_segment = pattern.substr(0, pattern_end);
    std::string_view path_segment = path.substr(0, path_end);
    if (pattern_segment == "/{id}") {
      if (path_segment.size() < 2) return false;
    } else if (pattern_segment != path_segment) {
      return false;
    }
    pattern = pattern_end == std::string_view::npos ? std::string_view() : pattern.substr(pattern_end);
    path = path_end == std::string_view::npos ? std::string_view() : path.substr(path_end);
  }
  return pattern.empty() && path.empty();
}

}  // namespace

const InboundApi* ApiRegistry::find(std::string_view path, std::string_view method) const {
  // "/chat/completions" for "/v1/chat/completions": base URLs without /v1.
  std::string prefixed;
  if (path.substr(0, 4) != "/v1/") {
    prefixed.reserve(path.size() + 3);
    prefixed.append("/v1").append(path);
  }
  const InboundApi* path_only = nullptr;
  for (const auto& [known, api] : by_path_) {
    if (!path_matches(known, path) && (prefixed.empty() || !path_matches(known, prefixed))) continue;
    if (method.empty() || api->method() == method || (method == "HEAD" && api->method() == "GET")) return api;
    if (path_only == nullptr) path_only = api;
  }
  return path_only;
}

const Dialect& dialect_for_unknown(const InboundRequest& request) {
  std::string_view path = request.path();
  if (path.substr(0, 12) == "/v1/messages" || path.substr(0, 9) == "/messages" ||
      request.header("anthropic-version").has_value()) {
    return anthropic_dialect();
  }
  return openai_dialect();
}

}  // namespace llmux::host
