#include "gateway/token_count.h"

#include <string>

#include "llmux/codec/anthropic.h"
#include "services/log.h"

namespace llmux::host {

void count_input_tokens(ProviderHealth& health, std::shared_ptr<const RouteTable> table, const Resolution& resolution,
                        ChatRequest request, TokenCountAnswer answer) {
  const std::int64_t estimate = anthropic::estimate_input_tokens(request);
  for (const ResolvedStep& step : resolution.chain) {
    if (step.slot->unusable_reason()) continue;
    std::string why;
    const auto admission = health.admit(step.slot->name, &why);
    if (admission == ProviderHealth::Admission::Skip) continue;
    if (admission == ProviderHealth::Admission::Probe) health.release_probe(step.slot->name);
    request.model = step.upstream_model;
    // The provider may answer on another thread after this returns: the
    // callback holds the table (and so the provider) alive.
    const bool counting = step.slot->provider->count_tokens(
        request, [answer, estimate, table, provider = step.slot->name](std::int64_t tokens, std::optional<Error> error) {
          if (error) {
            Log::write(LogLevel::Warn, "count_tokens",
                       "provider '" + provider + "' could not count (" + error->message + "); answering an estimate");
            answer(estimate, false);
            return;
          }
          answer(tokens, true);
        });
    if (counting) return;
    break;  // the provider that would answer cannot count
  }
  answer(estimate, false);
}

}  // namespace llmux::host
