// The factory of every inbound API llmux ships; api_registry.cc registers them.
#pragma once

#include <memory>

#include "api/inbound_api.h"

namespace llmux::host {

std::unique_ptr<InboundApi> make_openai_chat_api();              // openai_chat_api.cc
std::unique_ptr<InboundApi> make_completions_api();              // completions_api.cc
std::unique_ptr<InboundApi> make_models_api();                   // models_api.cc
std::unique_ptr<InboundApi> make_embeddings_api();               // embeddings_api.cc
std::unique_ptr<InboundApi> make_anthropic_messages_api();       // anthropic_messages_api.cc
std::unique_ptr<InboundApi> make_anthropic_count_tokens_api();   // anthropic_messages_api.cc
std::unique_ptr<InboundApi> make_health_api();                   // operations_api.cc
std::unique_ptr<InboundApi> make_root_api();                     // operations_api.cc
std::unique_ptr<InboundApi> make_status_api();                   // operations_api.cc
std::unique_ptr<InboundApi> make_tokens_api();                   // operations_api.cc
std::unique_ptr<InboundApi> make_metrics_api();                  // operations_api.cc
std::unique_ptr<InboundApi> make_responses_create_api();         // responses_api.cc
std::unique_ptr<InboundApi> make_responses_get_api();            // responses_api.cc
std::unique_ptr<InboundApi> make_responses_delete_api();         // responses_api.cc
std::unique_ptr<InboundApi> make_responses_input_items_api();    // responses_api.cc
std::unique_ptr<InboundApi> make_static_assets_api();            // admin/static_api.cc

}  // namespace llmux::host
