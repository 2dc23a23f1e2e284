// GET /status: what the gateway runs now — plugins (and the files it refused),
// providers with their state and health (cooldowns), and the routes.
#pragma once

#include <string>

namespace llmux::host {

class Gateway;
class RouteTable;

std::string render_status(Gateway& gateway);

// GET /api/tokens: {"providers":[{"provider","plugin","tokens":[...]}]} for
// every provider that rotates credentials (Provider::credentials_report).
// The entries come from the plugins, which never put a secret in them.
std::string render_credentials(const RouteTable& table);

}  // namespace llmux::host
