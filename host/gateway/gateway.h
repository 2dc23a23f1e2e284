// The running gateway's state: the plugins, the timer thread, and the current
// routing table. A table is immutable; reload builds a new one beside it and
// swaps it in atomically. In-flight requests hold the table they started with.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "admin/admin_auth.h"
#include "config/gateway_config.h"
#include "gateway/provider_health.h"
#include "http/http_engine.h"
#include "services/idle_trim.h"
#include "observability/observability.h"
#include "plugins/plugin_registry.h"
#include "routing/route_table.h"
#include "services/blocking_work.h"
#include "services/timer_service.h"

namespace llmux::host {

struct GatewayOptions {
  std::filesystem::path config_path;
  std::optional<std::filesystem::path> plugins_dir;  // --plugins: overrides the file's plugins_dir
};

// The outcome of the latest load or reload of the config file.
struct ReloadResult {
  std::chrono::system_clock::time_point at;
  bool ok = false;
  std::string error;                        // empty when ok; never holds a secret
  std::optional<ConfigError> config_error;  // when the file was wrong (position and key path)
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();

  // First load: throws ConfigError (file:line:column) when the file is bad.
  void load();
  // Re-reads the file; on success swaps the table in and returns true. On
  // failure logs the error, keeps the current table, returns false
  // (last_reload() says why).
  bool reload();
  // The latest load() or reload() outcome; std::nullopt before the first.
  std::optional<ReloadResult> last_reload() const;
  std::chrono::system_clock::time_point started_at() const { return started_at_; }
  // The file differs on disk (time, size, inode) from what the latest load or
  // reload read: the watcher reloads only then, so a change that was already
  // loaded (an apply from the admin API reloads itself) is not loaded twice.
  bool config_changed_on_disk() const;

  std::shared_ptr<const RouteTable> table() const;
  const PluginRegistry& plugins() const { return registry_; }
  TimerService& timers() { return timers_; }
  HttpEngine& http() { return http_; }
  IdleTrim& idle_trim() { return idle_trim_; }
  ProviderHealth& health() { return health_; }
  Observability& observability() { return *observability_; }
  ResponseStore& responses() { return responses_; }
  AdminAuth& admin_auth() { return admin_auth_; }
  // Where admin actions that block (config writes, reloads, credential
  // writes) run, off the I/O threads.
  BlockingWork& blocking_work() { return blocking_work_; }
  const GatewayOptions& options() const { return options_; }
  std::uint64_t generation() const;  // tables built so far

  // Human-readable summary of plugins, providers and routes (--check-config).
  std::string describe() const;

 private:
  std::shared_ptr<const RouteTable> build_table(GatewayConfig config);
  void record_reload(bool ok, const std::exception* error);
  void note_file_read();  // before each read of the config file

  struct FileStamp {
    bool exists = false;
    std::int64_t mtime_ns = 0;
    std::int64_t size = 0;
    std::uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp stamp_of(const std::filesystem::path& file);
  mutable std::mutex stamp_mutex_;
  FileStamp loaded_stamp_;

  const std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();

  GatewayOptions options_;
  // Outlives every request context (they hold it too); survives reloads.
  std::shared_ptr<Observability> observability_ = std::make_shared<Observability>();
  ProviderHealth health_;  // survives reloads; destroyed last
  TimerService timers_;
  ResponseStore responses_;  // survives reloads; its limits follow the config
  AdminAuth admin_auth_;     // admin sessions survive reloads (not a change of admin_key)
  HttpEngine http_;  // outlives the providers (destroyed after the registry and table)
  PluginRegistry registry_;
  std::shared_ptr<FileStateStore> state_;  // touched only under reload_mutex_ (build_table)
  std::mutex reload_mutex_;  // one reload at a time
  mutable std::mutex table_mutex_;
  std::shared_ptr<const RouteTable> table_;
  std::uint64_t generation_ = 0;
  std::optional<ReloadResult> last_reload_;  // guarded by table_mutex_
  // After a burst, gives what it freed back to the system (services/idle_trim.h).
  IdleTrim idle_trim_{[this] {
                        const double requests = observability_->metrics().active_requests();
                        return IdleTrim::Load{
                            http_.active_transfers() + (requests > 0 ? static_cast<std::size_t>(requests) : 0),
                            observability_->requests_started() + http_.transfers_started()};
                      }};
  BlockingWork blocking_work_;  // last: destroyed first, finishing its jobs while the rest still lives
};

}  // namespace llmux::host
