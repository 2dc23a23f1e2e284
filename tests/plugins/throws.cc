#include <stdexcept>

#include "llmux/plugin_abi.h"

LLMUX_PLUGIN_EXPORT std::uint32_t llmux_plugin_abi() { return LLMUX_ABI_VERSION; }
LLMUX_PLUGIN_EXPORT ::llmux::Plugin* llmux_plugin_create() {
  throw std::runtime_error("fixture refuses to initialize");
}
