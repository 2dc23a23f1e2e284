// GET /v1/models: every model name a client can ask for, in the OpenAI list
// shape, or Anthropic's when the request carries anthropic-version.
#include <chrono>

#include "api/anthropic_api.h"
#include "api/openai_api.h"
#include "api/registrations.h"
#include "routing/route_table.h"

namespace llmux::host {
namespace {

class ModelsApi final : public InboundApi {
 public:
  std::string_view name() const override { return "models"; }
  std::vector<std::string> paths() const override { return {"/v1/models"}; }
  std::string_view method() const override { return "GET"; }
  const Dialect& dialect(const InboundRequest& request) const override {
    return request.header("anthropic-version") ? anthropic_dialect() : openai_dialect();
  }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    std::vector<ServedModel> list;
    for (auto& name : call.table->served_models()) {
      auto resolution = call.table->resolve(name);
      std::string owner = resolution && !resolution->chain.empty() ? resolution->chain.front().slot->name : "llmux";
      list.push_back({std::move(name), std::move(owner)});
    }
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    call.respond(200, "application/json", call.dialect.model_list(list, now.count()));
    return nullptr;
  }
};

}  // namespace

std::unique_ptr<InboundApi> make_models_api() { return std::make_unique<ModelsApi>(); }

}  // namespace llmux::host
