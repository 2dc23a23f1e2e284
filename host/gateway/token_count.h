// Input-token counting (Anthropic's /v1/messages/count_tokens): a routing
// decision, so it lives beside the exchange, not in the transport.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "gateway/provider_health.h"
#include "llmux/chat.h"
#include "routing/route_table.h"

namespace llmux::host {

// Called once, on any thread, with the count and whether it is exact.
using TokenCountAnswer = std::function<void(std::int64_t input_tokens, bool exact)>;

// Asks the first ready, admitted provider of the route to count exactly
// (Provider::count_tokens; the claude plugin asks Anthropic). When that
// provider cannot count, or its count fails, answers with
// anthropic::estimate_input_tokens. Takes no cooldown probe slot: a count is
// no health probe.
void count_input_tokens(ProviderHealth& health, std::shared_ptr<const RouteTable> table, const Resolution& resolution,
                        ChatRequest request, TokenCountAnswer answer);

}  // namespace llmux::host
