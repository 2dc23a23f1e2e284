#include "api/inbound_api.h"

#include "api/anthropic_api.h"
#include "api/openai_api.h"

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
  std::string headers = answer_headers({}, context->id);
  headers.append(extra_headers);
  std::string bytes = make_response(status, content_type, body, headers, close_connection);
  context->note_committed(status, false);
  context->note_written(bytes.size());
  channel->write(std::move(bytes));
  context->finish(outcome);
}

void ApiCall::fail(const Error& error, Outcome outcome) {
  respond(error.status, "application/json", dialect.error_body(error), error_headers(error), outcome);
}

const Dialect& InboundApi::dialect(const InboundRequest&) const { return openai_dialect(); }

void ApiRegistry::add(std::unique_ptr<InboundApi> api) {
  for (std::string& path : api->paths()) by_path_.emplace_back(std::move(path), api.get());
  apis_.push_back(std::move(api));
}

const InboundApi* ApiRegistry::find(std::string_view path) const {
  for (const auto& [known, api] : by_path_) {
    if (known == path) return api;
  }
  // "/chat/completions" for "/v1/chat/completions": base URLs without /v1.
  if (path.substr(0, 4) != "/v1/") {
    for (const auto& [known, api] : by_path_) {
      if (known.size() == path.size() + 3 && known.compare(0, 3, "/v1") == 0 && known.compare(3, known.npos, path) == 0) {
        return api;
      }
    }
  }
  return nullptr;
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
