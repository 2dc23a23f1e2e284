// GET /status: what the gateway runs now — plugins (and the files it refused),
// providers with their state and health (cooldowns), and the routes.
#pragma once

#include <string>

namespace llmux::host {

class Gateway;

std::string render_status(Gateway& gateway);

}  // namespace llmux::host
