// The registrations: one line per inbound API.
#include "api/inbound_api.h"
#include "admin/admin_api.h"
#include "api/registrations.h"

namespace llmux::host {

const ApiRegistry& default_registry() {
  static const ApiRegistry registry = [] {
    ApiRegistry r;
    r.add(make_openai_chat_api());
    r.add(make_completions_api());
    r.add(make_models_api());
    r.add(make_embeddings_api());
    r.add(make_anthropic_messages_api());
    r.add(make_anthropic_count_tokens_api());
    r.add(make_responses_create_api());
    r.add(make_responses_get_api());
    r.add(make_responses_delete_api());
    r.add(make_responses_input_items_api());
    r.add(make_health_api());
    r.add(make_root_api());
    r.add(make_status_api());
    r.add(make_tokens_api());
    r.add(make_metrics_api());
    r.add(make_static_assets_api());
    for (auto& api : make_admin_apis()) r.add(std::move(api));
    return r;
  }();
  return registry;
}

const ApiRegistry& metrics_registry() {
  static const ApiRegistry registry = [] {
    ApiRegistry r;
    r.add(make_metrics_api());
    r.add(make_health_api());
    return r;
  }();
  return registry;
}

}  // namespace llmux::host
