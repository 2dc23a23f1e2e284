// POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API.
#include "api/anthropic_api.h"
#include "api/chat_flow.h"
#include "api/registrations.h"
#include "gateway/gateway.h"
#include "gateway/token_count.h"
#include "llmux/codec/anthropic.h"

namespace llmux::host {
namespace {

// anthropic-beta / anthropic-version go on to an Anthropic upstream (pass-through).
void keep_client_headers(ApiCall& call, ChatRequest& chat) {
  for (const char* name : {"anthropic-beta", "anthropic-version"}) {
    if (auto value = call.request.header(name)) chat.client_headers.emplace_back(name, std::move(*value));
  }
}

// Both endpoints take a Messages body and answer in Anthropic's shape.
class AnthropicPostApi : public InboundApi {
 public:
  std::string_view method() const override { return "POST"; }
  const Dialect& dialect(const InboundRequest&) const override { return anthropic_dialect(); }

 protected:
  // `routing_only` for a turn an Anthropic upstream may take as it is; count_tokens reads the messages.
  static std::optional<RoutedChat> route(ApiCall& call, const RoutingShape* routing_only = nullptr) {
    auto routed = route_chat(call, &anthropic::parse_messages_request, routing_only);
    if (routed) keep_client_headers(call, routed->request);
    return routed;
  }
};

class MessagesApi final : public AnthropicPostApi {
 public:
  std::string_view name() const override { return "anthropic.messages"; }
  std::vector<std::string> paths() const override { return {"/v1/messages"}; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    static constexpr RoutingShape kRouting{Api::Anthropic, "messages", false};
    auto routed = route(call, &kRouting);
    return routed ? start_chat(call, std::move(*routed)) : nullptr;
  }
};

class CountTokensApi final : public AnthropicPostApi {
 public:
  std::string_view name() const override { return "anthropic.count_tokens"; }
  std::vector<std::string> paths() const override { return {"/v1/messages/count_tokens"}; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    auto routed = route(call);
    if (!routed) return nullptr;
    call.context->stream = false;
    // The header x-llmux-token-count says whether the provider counted or llmux estimated.
    count_input_tokens(call.gateway.health(), call.table, routed->resolution, std::move(routed->request),
                       [call = std::make_shared<ApiCall>(call)](std::int64_t tokens, bool exact) {
                         std::string body = R"({"input_tokens":)" + std::to_string(tokens) + "}";
                         call->respond(200, "application/json", body,
                                       exact ? "x-llmux-token-count: exact\r\n" : "x-llmux-token-count: estimate\r\n");
                       });
    return nullptr;
  }
};

}  // namespace

std::unique_ptr<InboundApi> make_anthropic_messages_api() { return std::make_unique<MessagesApi>(); }
std::unique_ptr<InboundApi> make_anthropic_count_tokens_api() { return std::make_unique<CountTokensApi>(); }

}  // namespace llmux::host
