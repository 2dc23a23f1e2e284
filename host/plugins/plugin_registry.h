// Loads provider plugins (shared libraries) with Boost.DLL and creates
// providers from them.
//
// Lifetime rule: a plugin's library stays mapped while any object from it
// lives. Every Plugin and Provider handed out is a shared_ptr that owns a
// reference to its library, and the HostServices given to a provider attach
// the same reference to every timer the provider schedules.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llmux/http.h"
#include "llmux/provider.h"
#include "services/state_store.h"
#include "services/timer_service.h"

namespace llmux::host {

struct LoadedPlugin {
  std::string name;
  std::string version;
  std::filesystem::path file;
  std::shared_ptr<const void> library;  // keeps the .so mapped
  std::shared_ptr<Plugin> plugin;       // owns `library` too
};

struct PluginLoadFailure {
  std::filesystem::path file;
  std::string reason;
};

class PluginRegistry {
 public:
  PluginRegistry(TimerService& timers, HttpClient& http) : timers_(timers), http_(http) {}

  // Loads every *.so in `dir` that is not loaded yet. Each failure is logged
  // as one line naming the file and the reason, and skipped.
  void load_directory(const std::filesystem::path& dir);
  // Loads one file; returns the failure instead of logging it.
  std::optional<PluginLoadFailure> load_file(const std::filesystem::path& file);

  const LoadedPlugin* find(const std::string& name) const;
  std::vector<const LoadedPlugin*> plugins() const;
  const std::vector<PluginLoadFailure>& failures() const { return failures_; }

  // Creates a provider from a loaded plugin. Throws ConfigError / NotConfigured
  // from the plugin; any other exception is rethrown as std::runtime_error
  // naming the plugin.
  // `state` backs the provider's StateStore (kept alive as long as the provider).
  std::shared_ptr<Provider> create_provider(const LoadedPlugin& plugin, const std::string& provider_name,
                                            const ConfigNode& options, std::shared_ptr<FileStateStore> state);

 private:
  TimerService& timers_;
  HttpClient& http_;
  std::map<std::string, LoadedPlugin> by_name_;
  std::map<std::filesystem::path, std::string> by_file_;  // canonical path -> plugin name
  std::vector<PluginLoadFailure> failures_;
};

}  // namespace llmux::host
