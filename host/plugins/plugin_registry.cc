#include "plugins/plugin_registry.h"

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <system_error>

#include "llmux/plugin_abi.h"
#include "services/log.h"

namespace llmux::host {
namespace {

using Library = boost::dll::shared_library;

// Boost.DLL's what() ends with ": <errno text>" after the dlerror text; the
// errno part is noise ("Success", "No such file"), the dlerror part says it all.
std::string describe(const std::system_error& e) {
  std::string what = e.what();
  auto errno_text = ": " + e.code().message();
  if (what.size() > errno_text.size() && what.ends_with(errno_text)) what.resize(what.size() - errno_text.size());
  return what;
}

// Keeps a plugin's HTTP handler and its library together: the handler (plugin
// code) is destroyed first, then the hold on the library.
class AnchoredHttpHandler final : public HttpHandler {
 public:
  AnchoredHttpHandler(std::shared_ptr<const void> library, std::shared_ptr<HttpHandler> handler)
      : library_(std::move(library)), handler_(std::move(handler)) {}
  ~AnchoredHttpHandler() override { handler_.reset(); }
  void on_response(int status, const HttpHeaders& headers) override { handler_->on_response(status, headers); }
  bool on_body(std::string_view bytes) override { return handler_->on_body(bytes); }
  void on_complete(const HttpOutcome& outcome) override { handler_->on_complete(outcome); }

 private:
  std::shared_ptr<const void> library_;
  std::shared_ptr<HttpHandler> handler_;
};

// The host services of one provider. Timers and HTTP transfers started through
// it keep the plugin library mapped until they have run or been cancelled.
class ProviderServices final : public HostServices, public Timers, public Clock, public HttpClient {
 public:
  ProviderServices(std::string component, TimerService& timers, HttpClient& http,
                   std::shared_ptr<const void> library, std::shared_ptr<FileStateStore> files)
      : logger_(component), timers_(timers), http_(http), library_(std::move(library)),
        files_(std::move(files)), state_(files_->for_provider(std::move(component), library_)) {}

  Logger& logger() override { return logger_; }
  Clock& clock() override { return *this; }
  Timers& timers() override { return *this; }
  HttpClient& http() override { return *this; }
  StateStore& state() override { return *state_; }

  std::shared_ptr<HttpTransfer> start(HttpRequest request, std::shared_ptr<HttpHandler> handler) override {
    return http_.start(std::move(request), std::make_shared<AnchoredHttpHandler>(library_, std::move(handler)));
  }

  Id schedule(std::chrono::milliseconds delay, std::function<void()> callback) override {
    return timers_.schedule(delay, std::move(callback), library_);
  }
  bool cancel(Id id) override { return timers_.cancel(id); }

  std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }

 private:
  ComponentLogger logger_;
  TimerService& timers_;
  HttpClient& http_;
  std::shared_ptr<const void> library_;
  std::shared_ptr<FileStateStore> files_;
  std::unique_ptr<StateStore> state_;
};

// Owns a provider, its services and its library, destroyed in that order.
struct ProviderAnchor {
  std::shared_ptr<const void> library;
  std::unique_ptr<ProviderServices> services;
  std::shared_ptr<Provider> provider;
  ~ProviderAnchor() {
    provider.reset();  // plugin code runs here, while services and library live
    services.reset();
  }
};

}  // namespace

void PluginRegistry::load_directory(const std::filesystem::path& dir) {
  failures_.clear();  // this scan's failures; files that failed are retried on the next scan
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    Log::write(LogLevel::Error, "plugins", "plugins directory " + dir.string() + " does not exist");
    failures_.push_back({dir, "plugins directory does not exist"});
    return;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".so") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // deterministic order (duplicates: first wins)
  for (const auto& file : files) {
    if (auto failure = load_file(file)) {
      Log::write(LogLevel::Error, "plugins", "skipped " + failure->file.string() + ": " + failure->reason);
      failures_.push_back(std::move(*failure));
    }
  }
}

std::optional<PluginLoadFailure> PluginRegistry::load_file(const std::filesystem::path& file) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(file, ec);
  if (ec) canonical = file;
  if (by_file_.count(canonical)) return std::nullopt;  // already loaded (reload)

  std::shared_ptr<Library> library;
  try {
    // rtld_now: an unresolved symbol fails here, not at the first call.
    library = std::make_shared<Library>(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::system_error& e) {
    return PluginLoadFailure{file, "cannot load: " + describe(e)};
  }
  if (!library->has(kPluginAbiSymbol) || !library->has(kPluginCreateSymbol)) {
    return PluginLoadFailure{file, std::string("not an llmux plugin (no ") + kPluginAbiSymbol + "/" +
                                       kPluginCreateSymbol + " symbols)"};
  }
  std::uint32_t abi = library->get<std::uint32_t()>(kPluginAbiSymbol)();
  if (abi != LLMUX_ABI_VERSION) {
    return PluginLoadFailure{file, "built for plugin ABI " + std::to_string(abi) + ", this llmux speaks ABI " +
                                       std::to_string(LLMUX_ABI_VERSION) + " (rebuild it against this SDK)"};
  }

  std::shared_ptr<const void> anchor = library;
  std::shared_ptr<Plugin> plugin;
  try {
    Plugin* raw = library->get<Plugin*()>(kPluginCreateSymbol)();
    if (!raw) return PluginLoadFailure{file, "plugin factory returned null"};
    // The deleter holds the library, so it is unmapped only after the delete.
    plugin = std::shared_ptr<Plugin>(raw, [anchor](Plugin* p) { delete p; });
  } catch (const std::exception& e) {
    return PluginLoadFailure{file, std::string("initialization failed: ") + e.what()};
  } catch (...) {
    return PluginLoadFailure{file, "initialization failed with a non-standard exception"};
  }

  LoadedPlugin loaded;
  try {
    loaded.name = plugin->name();
    loaded.version = plugin->version();
  } catch (const std::exception& e) {
    return PluginLoadFailure{file, std::string("initialization failed: ") + e.what()};
  }
  if (loaded.name.empty()) return PluginLoadFailure{file, "plugin reports an empty name"};
  if (auto existing = by_name_.find(loaded.name); existing != by_name_.end()) {
    return PluginLoadFailure{file, "plugin name '" + loaded.name + "' is already provided by " +
                                       existing->second.file.string()};
  }
  loaded.file = file;
  loaded.library = anchor;
  loaded.plugin = std::move(plugin);
  Log::write(LogLevel::Info, "plugins",
             "loaded plugin '" + loaded.name + "' " + loaded.version + " from " + file.string());
  by_file_.emplace(canonical, loaded.name);
  by_name_.emplace(loaded.name, std::move(loaded));
  return std::nullopt;
}

const LoadedPlugin* PluginRegistry::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second;
}

std::vector<const LoadedPlugin*> PluginRegistry::plugins() const {
  std::vector<const LoadedPlugin*> out;
  for (const auto& [name, plugin] : by_name_) out.push_back(&plugin);
  return out;
}

std::shared_ptr<Provider> PluginRegistry::create_provider(const LoadedPlugin& plugin,
                                                          const std::string& provider_name,
                                                          const ConfigNode& options,
                                                          std::shared_ptr<FileStateStore> state) {
  auto anchor = std::make_shared<ProviderAnchor>();
  anchor->library = plugin.library;
  anchor->services =
      std::make_unique<ProviderServices>(provider_name, timers_, http_, plugin.library, std::move(state));
  ProviderSpec spec{provider_name, options, *anchor->services};
  try {
    anchor->provider = plugin.plugin->create_provider(spec);
  } catch (const ConfigError&) {
    throw;
  } catch (const NotConfigured&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error("plugin '" + plugin.name + "' failed to create provider '" + provider_name +
                             "': " + e.what());
  }
  if (!anchor->provider) {
    throw std::runtime_error("plugin '" + plugin.name + "' returned no provider for '" + provider_name + "'");
  }
  Provider* raw = anchor->provider.get();
  return std::shared_ptr<Provider>(std::move(anchor), raw);
}

}  // namespace llmux::host
