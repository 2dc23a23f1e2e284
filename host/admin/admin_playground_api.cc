// POST /playground: a chat sent from the panel, answered by the real inbound
// API (/v1/chat/completions or /v1/messages) byte for byte, streams included,
// so the panel shows exactly what an editor pointed at llmux would get.
#include "admin/admin_api.h"
#include "gateway/gateway.h"
#include "llmux/json.h"

namespace llmux::host {
namespace {

// The panel's chat as the inbound API reads it.
class PlaygroundRequest final : public InboundRequest {
 public:
  PlaygroundRequest(bool anthropic, std::string body) : anthropic_(anthropic), body_(std::move(body)) {}
  std::string_view method() const override { return "POST"; }
  std::string_view path() const override { return anthropic_ ? "/v1/messages" : "/v1/chat/completions"; }
  std::optional<std::string> header(std::string_view name) const override {
    if (name == "Content-Type") return std::string("application/json");
    if (anthropic_ && name == "anthropic-version") return std::string("2023-06-01");
    return std::nullopt;
  }
  std::string& body() override { return body_; }

 private:
  bool anthropic_;
  std::string body_;
};

std::shared_ptr<Exchange> playground(ApiCall& call) {
  rapidjson::Document doc;
  if (!admin::parse_body(call, doc)) return nullptr;
  auto api = admin::string_member(doc, "api").value_or("openai");
  auto body = doc.FindMember("body");
  if ((api != "openai" && api != "anthropic") || body == doc.MemberEnd() || !body->value.IsObject()) {
    admin::reply_error(call, 400, "invalid_request",
                       R"(Send {"api":"openai"|"anthropic","body":{...the request body...}}.)");
    return nullptr;
  }
  PlaygroundRequest request(api == "anthropic", json::to_string(body->value));
  const InboundApi* target = default_registry().find(request.path(), "POST");
  const Dialect& dialect = target->dialect(request);
  call.context->api = std::string(target->name());
  call.context->traffic = true;  // a chat like any other: the live log shows it
  call.context->dialect = dialect.api();
  call.context->bytes_in = request.body().size();
  ApiCall inner(call.gateway, call.table, request, call.context, call.channel, dialect, call.close_connection);
  inner.admin = call.admin;  // whole answers and errors keep the panel's headers; streams are the API's own
  return target->serve(inner);
}

}  // namespace

void add_playground_api(std::vector<std::unique_ptr<InboundApi>>& apis) {
  apis.push_back(std::make_unique<AdminEndpoint>("admin.playground", "POST", "/playground", playground));
}

}  // namespace llmux::host
