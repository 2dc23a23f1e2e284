// POST /v1/chat/completions: the OpenAI Chat Completions API.
#include "api/chat_flow.h"
#include "api/openai_api.h"
#include "api/registrations.h"
#include "llmux/codec/openai.h"

namespace llmux::host {
namespace {

class ChatCompletionsApi final : public InboundApi {
 public:
  std::string_view name() const override { return "openai.chat"; }
  std::vector<std::string> paths() const override { return {"/v1/chat/completions"}; }
  std::string_view method() const override { return "POST"; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    // Routing-only when an OpenAI upstream takes the body as it is (docs/architecture.md, "Upstreams").
    static constexpr RoutingShape kRouting{Api::OpenAIChat, "messages", true};
    auto routed = route_chat(call, &openai::parse_chat_request, &kRouting);
    if (!routed) return nullptr;
    return start_chat(call, std::move(*routed));
  }
};

}  // namespace

std::unique_ptr<InboundApi> make_openai_chat_api() { return std::make_unique<ChatCompletionsApi>(); }

}  // namespace llmux::host
