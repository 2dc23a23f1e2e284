#include "support/plugin_harness.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <map>
#include <stdexcept>

#include "config/gateway_config.h"
#include "http/http_engine.h"
#include "llmux/codec/openai.h"
#include "llmux/plugin_abi.h"
#include "support/test_gateway.h"

namespace llmux::test {

// ---------------------------------------------------------------------------
// LiveHost, LiveCall

LiveHost::LiveHost() : engine_(std::make_unique<host::HttpEngine>()) {}

// The engine's last callbacks (cancelled transfers) may still use `fake`.
LiveHost::~LiveHost() { engine_.reset(); }

bool commits(const ChatRequest& request, const Event& event) {
  if (event.terminal()) return true;
  if (!request.stream) return false;
  return event.content();
}

void LiveCall::emit(Event event) {
  {
    std::lock_guard lock(mu_);
    if (terminal_) return;  // as the host's call: nothing after the terminal event
    if (commits(request_, event)) committed_ = true;
    if (event.kind == Event::Kind::Raw) raw_bytes_ += event.text.size();
    terminal_ = event.terminal();
    events_.push_back(std::move(event));
  }
  arrived_.notify_all();
}

std::vector<Event> LiveCall::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

bool LiveCall::wait_for_raw_bytes(std::size_t bytes, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return arrived_.wait_for(lock, timeout, [&] { return raw_bytes_ >= bytes || terminal_; }) && raw_bytes_ >= bytes;
}

bool LiveCall::wait_for_terminal(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return arrived_.wait_for(lock, timeout, [&] { return terminal_; });
}

// ---------------------------------------------------------------------------
// FakeHost

std::optional<std::string> MemoryStateStore::load(std::string_view key) {
  std::lock_guard lock(mu);
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

bool MemoryStateStore::store(std::string_view key, std::string_view value, std::string*) {
  std::lock_guard lock(mu);
  values[std::string(key)] = std::string(value);
  ++writes;
  return true;
}

bool MemoryStateStore::update(std::string_view key, const Mutation& mutation, std::string*) {
  std::lock_guard lock(mu);
  auto it = values.find(key);
  std::optional<std::string> current;
  if (it != values.end()) current = it->second;
  auto next = mutation(current);
  if (next) {
    values[std::string(key)] = std::move(*next);
    ++writes;
  }
  return true;
}

void FakeHost::log(LogLevel level, std::string_view message) {
  std::lock_guard lock(mu);
  lines.emplace_back(level, std::string(message));
}

Timers::Id FakeHost::schedule(std::chrono::milliseconds delay, std::function<void()> callback) {
  std::lock_guard lock(mu);
  timers_.push_back({++next_id_, delay, std::move(callback)});
  return next_id_;
}

bool FakeHost::cancel(Id id) {
  std::lock_guard lock(mu);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->id == id) {
      timers_.erase(it);
      ++cancelled_timers;
      return true;
    }
  }
  return false;
}

std::shared_ptr<HttpTransfer> FakeHost::start(HttpRequest request, std::shared_ptr<HttpHandler> handler) {
  auto transfer = std::make_shared<FakeTransfer>();
  HttpClient* real = real_http_.load();
  {
    std::lock_guard lock(mu);
    started.push_back({request, handler, transfer});
  }
  if (real != nullptr) return real->start(std::move(request), std::move(handler));
  return transfer;
}

bool FakeHost::run_timer(std::chrono::milliseconds* delay) {
  std::function<void()> fn;
  {
    std::lock_guard lock(mu);
    if (timers_.empty()) return false;
    fn = std::move(timers_.front().fn);
    if (delay) *delay = timers_.front().delay;
    timers_.erase(timers_.begin());
  }
  fn();
  return true;
}

std::size_t FakeHost::pending_timers() {
  std::lock_guard lock(mu);
  return timers_.size();
}

std::string FakeHost::log_text() {
  std::lock_guard lock(mu);
  std::string out;
  for (const auto& [level, line] : lines) out += line + "\n";
  return out;
}

// ---------------------------------------------------------------------------
// FakeCall

void FakeCall::emit(Event event) {
  std::lock_guard lock(mu_);
  if (commits(request_, event)) committed_ = true;
  bool terminal = event.terminal();
  events.push_back(std::move(event));
  if (terminal) ended_.notify_all();
}

bool FakeCall::committed() const {
  const int forced = forced_committed_;
  return forced >= 0 ? forced == 1 : committed_.load();
}

bool FakeCall::wait_for_end(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return ended_.wait_for(lock, timeout, [&] {
    return std::any_of(events.begin(), events.end(), [](const Event& e) { return e.terminal(); });
  });
}

void FakeCall::on_cancel(std::function<void()> fn) {
  if (cancelled_) {
    fn();
    return;
  }
  on_cancel_ = std::move(fn);
}

void FakeCall::cancel() {
  cancelled_ = true;
  if (auto fn = std::move(on_cancel_)) fn();
}

ChatRequest request_for(const std::string& body) {
  ChatRequest request;
  if (auto error = openai::parse_chat_request(body, request)) {
    throw std::invalid_argument("not a chat request (" + error->message + "): " + body);
  }
  return request;
}

ChatRequest client_request(const std::string& body) {
  ChatRequest request;
  request.original_body = std::make_shared<const std::string>(body);
  if (auto error = openai::parse_chat_request(body, request)) {
    throw std::invalid_argument("not a chat request (" + error->message + "): " + body);
  }
  return request;
}

std::string header(const HttpRequest& request, std::string_view name) {
  auto value = find_header(request.headers, name);
  return value ? std::string(*value) : std::string("<absent>");
}

// ---------------------------------------------------------------------------
// Plugins through the ABI

namespace {

std::shared_ptr<Plugin> load_plugin(const std::string& file) {
  void* handle = ::dlopen((plugin_dir() / file).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) throw std::runtime_error("dlopen " + file + ": " + ::dlerror());
  auto abi = reinterpret_cast<std::uint32_t (*)()>(::dlsym(handle, kPluginAbiSymbol));
  auto create = reinterpret_cast<Plugin* (*)()>(::dlsym(handle, kPluginCreateSymbol));
  if (abi == nullptr || create == nullptr || abi() != LLMUX_ABI_VERSION) {
    throw std::runtime_error(file + " is not a plugin of this ABI");
  }
  return std::shared_ptr<Plugin>(create());
}

}  // namespace

Plugin& loaded_plugin(const std::string& file) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<Plugin>> plugins;
  std::lock_guard lock(mu);
  auto& plugin = plugins[file];
  if (!plugin) plugin = load_plugin(file);
  return *plugin;
}

ConfigNode options_of(const std::string& yaml) {
  std::string text = "options:\n";
  if (yaml.empty()) text += "  {}\n";
  std::size_t start = 0;
  while (start < yaml.size()) {
    std::size_t end = yaml.find('\n', start);
    if (end == std::string::npos) end = yaml.size();
    text += "  " + yaml.substr(start, end - start) + "\n";
    start = end + 1;
  }
  ConfigNode root = host::parse_yaml_tree(text, "providers.yaml");
  return *root.find("options");
}

std::shared_ptr<Provider> create(Plugin& plugin, const std::string& yaml, HostServices& host,
                                 const std::string& name) {
  ConfigNode options = options_of(yaml);
  return plugin.create_provider(ProviderSpec{name, options, host});
}

std::string config_error(Plugin& plugin, const std::string& yaml, const std::string& name) {
  FakeHost host;
  try {
    create(plugin, yaml, host, name);
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const NotConfigured& e) {
    return std::string("NotConfigured: ") + e.what();
  }
  return "no error";
}

std::string not_configured(Plugin& plugin, const std::string& yaml, const std::string& name) {
  FakeHost host;
  try {
    create(plugin, yaml, host, name);
  } catch (const NotConfigured& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  }
  return "no exception";
}

}  // namespace llmux::test
