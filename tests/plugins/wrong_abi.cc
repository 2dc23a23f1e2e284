#include "llmux/plugin_abi.h"

LLMUX_PLUGIN_EXPORT std::uint32_t llmux_plugin_abi() { return LLMUX_ABI_VERSION + 100; }
LLMUX_PLUGIN_EXPORT ::llmux::Plugin* llmux_plugin_create() { return nullptr; }
