// GET /status: what the gateway runs now — plugins (and the files it refused),
// providers with their state and health (cooldowns), and the routes.
#pragma once

#include <map>
#include <string>

#include "gateway/provider_health.h"

namespace llmux::host {

class Gateway;
class RouteTable;
struct ProviderSlot;

// The provider's state as the metrics and the panel name it: "up",
// "cooldown", "unauthorized", "not_configured" or "unavailable".
const char* provider_state(const ProviderSlot& slot, const std::map<std::string, ProviderHealth::Status>& health);
// ProviderHealth::snapshot() by provider name.
std::map<std::string, ProviderHealth::Status> health_by_provider(const ProviderHealth& health);

std::string render_status(Gateway& gateway);

// GET /api/tokens: {"providers":[{"provider","plugin","tokens":[...]}]} for
// every provider that rotates credentials (Provider::credentials_report).
// The entries come from the plugins, which never put a secret in them.
std::string render_credentials(const RouteTable& table);

}  // namespace llmux::host
