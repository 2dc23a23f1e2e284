#include "llmux/plugin_abi.h"

extern "C" int llmux_symbol_nobody_defines();

LLMUX_PLUGIN_EXPORT std::uint32_t llmux_plugin_abi() { return static_cast<std::uint32_t>(llmux_symbol_nobody_defines()); }
LLMUX_PLUGIN_EXPORT ::llmux::Plugin* llmux_plugin_create() { return nullptr; }
