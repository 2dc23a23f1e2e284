#include "gateway/gateway.h"

#include <sys/stat.h>

#include <sstream>

#include "services/log.h"

namespace llmux::host {

Gateway::Gateway(GatewayOptions options) : options_(std::move(options)), registry_(timers_, http_) {}

Gateway::~Gateway() {
  // A reload or config write still running in the background finishes first.
  blocking_work_.drain();
  // Providers die before the timer thread and the plugin libraries.
  std::lock_guard lock(table_mutex_);
  table_.reset();
}

void Gateway::record_reload(bool ok, const std::exception* error) {
  ReloadResult result{std::chrono::system_clock::now(), ok, {}, std::nullopt};
  if (error) {
    result.error = error->what();
    if (const auto* config_error = dynamic_cast<const ConfigError*>(error)) result.config_error = *config_error;
  }
  std::lock_guard lock(table_mutex_);
  last_reload_ = std::move(result);
}

std::optional<ReloadResult> Gateway::last_reload() const {
  std::lock_guard lock(table_mutex_);
  return last_reload_;
}

Gateway::FileStamp Gateway::stamp_of(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return {};
  return {true, static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
}

void Gateway::note_file_read() {
  // Taken before the read: a change made while reading is seen next time.
  FileStamp stamp = stamp_of(options_.config_path);
  std::lock_guard lock(stamp_mutex_);
  loaded_stamp_ = stamp;
}

bool Gateway::config_changed_on_disk() const {
  FileStamp now = stamp_of(options_.config_path);
  std::lock_guard lock(stamp_mutex_);
  return now.exists && !(now == loaded_stamp_);
}

void Gateway::load() {
  std::lock_guard lock(reload_mutex_);
  note_file_read();
  std::shared_ptr<const RouteTable> table;
  try {
    table = build_table(load_gateway_config(options_.config_path));
  } catch (const std::exception& e) {
    record_reload(false, &e);
    throw;
  }
  observability_->access_log().configure(table->config().access_log);
  observability_->set_metrics_enabled(table->config().metrics.enabled);
  admin_auth_.configure({table->config().admin_key, table->config().admin.session_ttl});
  observability_->history().set_capacity(table->config().admin.history);
  std::lock_guard table_lock(table_mutex_);
  table_ = std::move(table);
  ++generation_;
  last_reload_ = ReloadResult{std::chrono::system_clock::now(), true, {}, std::nullopt};
}

bool Gateway::reload() {
  std::lock_guard lock(reload_mutex_);
  note_file_read();
  std::shared_ptr<const RouteTable> table;
  try {
    table = build_table(load_gateway_config(options_.config_path));
  } catch (const std::exception& e) {
    Log::write(LogLevel::Error, "config", std::string("reload rejected, still serving the previous table: ") + e.what());
    observability_->metrics().config_reload(false);
    record_reload(false, &e);
    return false;
  }
  auto old = this->table();
  if (old) {
    const auto& before = old->config();
    const auto& after = table->config();
    if (before.listen_host != after.listen_host || before.listen_port != after.listen_port) {
      Log::write(LogLevel::Warn, "config", "'listen' changed; the new address takes effect after a restart");
    }
    if (before.threads != after.threads) {
      Log::write(LogLevel::Warn, "config", "'threads' changed; takes effect after a restart");
    }
    if (after.max_body_bytes > before.max_body_bytes) {
      // The server refuses bodies over the limit it started with before reading them.
      Log::write(LogLevel::Warn, "config",
                 "'max_body' raised; bodies over the limit llmux started with are refused until a restart");
    }
    if (before.metrics.listen_host != after.metrics.listen_host ||
        before.metrics.listen_port != after.metrics.listen_port) {
      Log::write(LogLevel::Warn, "config", "'metrics.listen' changed; takes effect after a restart");
    }
  }
  observability_->access_log().configure(table->config().access_log);
  observability_->set_metrics_enabled(table->config().metrics.enabled);
  admin_auth_.configure({table->config().admin_key, table->config().admin.session_ttl});
  observability_->history().set_capacity(table->config().admin.history);
  observability_->metrics().config_reload(true);
  {
    std::lock_guard table_lock(table_mutex_);
    table_ = std::move(table);
    ++generation_;
    last_reload_ = ReloadResult{std::chrono::system_clock::now(), true, {}, std::nullopt};
  }
  Log::write(LogLevel::Info, "config", "reloaded " + options_.config_path.string());
  return true;
}

std::shared_ptr<const RouteTable> Gateway::table() const {
  std::lock_guard lock(table_mutex_);
  return table_;
}

std::uint64_t Gateway::generation() const {
  std::lock_guard lock(table_mutex_);
  return generation_;
}

std::shared_ptr<const RouteTable> Gateway::build_table(GatewayConfig config) {
  if (options_.plugins_dir) config.plugins_dir = *options_.plugins_dir;
  registry_.load_directory(config.plugins_dir);  // loads only files not loaded yet
  responses_.set_limits(config.responses_store);

  // One store per folder; providers of a later table share it while it is unchanged.
  if (!state_ || state_->dir() != config.state_dir) state_ = std::make_shared<FileStateStore>(config.state_dir);

  std::vector<ProviderSlot> slots;
  for (const ProviderDecl& decl : config.providers) {
    ProviderSlot slot{decl.name, decl.plugin, nullptr, {}, decl.retry, decl.cooldown};
    const LoadedPlugin* plugin = registry_.find(decl.plugin);
    if (!plugin) {
      slot.state = "unavailable: plugin '" + decl.plugin + "' is not loaded";
    } else {
      try {
        slot.provider = registry_.create_provider(*plugin, decl.name, decl.options, state_);
        slot.state = "ready";
      } catch (const ConfigError&) {
        throw;  // a wrong option is an error in the file: reject it
      } catch (const NotConfigured& e) {
        slot.state = std::string("not configured: ") + e.what();
        slot.not_configured = true;
      } catch (const std::exception& e) {
        slot.state = std::string("unavailable: ") + e.what();
      }
    }
    LogLevel level = slot.ready() ? LogLevel::Info : LogLevel::Warn;
    Log::write(level, "providers", "provider '" + slot.name + "' (plugin " + slot.plugin + "): " + slot.state);
    slots.push_back(std::move(slot));
  }
  return std::make_shared<const RouteTable>(std::move(config), std::move(slots));
}

std::string Gateway::describe() const {
  auto table = this->table();
  std::ostringstream out;
  const auto& config = table->config();
  out << "config: " << config.source.string() << "\n";
  out << "listen: " << config.listen_host << ":" << config.listen_port << "\n";
  out << "plugins: " << config.plugins_dir.string() << "\n";
  for (const LoadedPlugin* plugin : registry_.plugins()) {
    out << "  " << plugin->name << " " << plugin->version << " (" << plugin->file.filename().string() << ")\n";
  }
  for (const auto& failure : registry_.failures()) {
    out << "  skipped " << failure.file.string() << ": " << failure.reason << "\n";
  }
  out << "client auth: " << (config.client_keys.empty() ? "off" : std::to_string(config.client_keys.size()) + " key(s)")
      << "\n";
  out << "providers:\n";
  auto health = health_.snapshot();
  for (const auto& slot : table->slots()) {
    out << "  " << slot.name << " (plugin " << slot.plugin << "): " << slot.state;
    for (const auto& status : health) {
      if (status.provider == slot.name) out << "; " << status.state << " (last error: " << status.last_error << ")";
    }
    out << "\n";
  }
  auto chain_text = [&](const std::vector<ChainStep>& chain) {
    std::string text;
    for (const auto& step : chain) {
      if (!text.empty()) text += " -> ";
      text += step.provider;
      if (!step.upstream_model.empty()) text += " (as " + step.upstream_model + ")";
      const ProviderSlot* slot = table->find_slot(step.provider);
      if (slot && !slot->ready()) text += " [skipped: " + slot->state + "]";
    }
    return text;
  };
  out << "routes:\n";
  for (const auto& route : config.routes) out << "  " << route.pattern << ": " << chain_text(route.chain) << "\n";
  if (!config.default_chain.empty()) out << "  (default): " << chain_text(config.default_chain) << "\n";
  if (!config.aliases.empty()) {
    out << "aliases:\n";
    for (const auto& alias : config.aliases) out << "  " << alias.name << " -> " << alias.target << "\n";
  }
  return out.str();
}

}  // namespace llmux::host
