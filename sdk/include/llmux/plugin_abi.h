// The binary contract between the host and a plugin library.
//
// A plugin exports two C symbols: llmux_plugin_abi() returning the ABI version
// it was built against, and llmux_plugin_create() returning a new Plugin. The
// host checks the version before it calls anything else. The version changes
// whenever a type that crosses the boundary (everything in sdk/include/llmux)
// changes layout or virtual functions, so a stale plugin is refused, not run.
#pragma once

#include <cstdint>

#include "llmux/provider.h"

#define LLMUX_ABI_VERSION 7u

#define LLMUX_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

// Use once in a plugin library: LLMUX_DECLARE_PLUGIN(MyPlugin)
#define LLMUX_DECLARE_PLUGIN(PluginClass)                                          \
  LLMUX_PLUGIN_EXPORT std::uint32_t llmux_plugin_abi() { return LLMUX_ABI_VERSION; } \
  LLMUX_PLUGIN_EXPORT ::llmux::Plugin* llmux_plugin_create() { return new PluginClass(); }

namespace llmux {
inline constexpr const char* kPluginAbiSymbol = "llmux_plugin_abi";
inline constexpr const char* kPluginCreateSymbol = "llmux_plugin_create";
}  // namespace llmux
