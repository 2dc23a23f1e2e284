// Provider plugins driven in process through the plugin ABI: a recording host
// (HTTP client, timers, logger), a scripted ChatCall, and the plugin loading
// and provider creation the unit tests of the provider plugins share.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmux/chat.h"
#include "llmux/config.h"
#include "llmux/event.h"
#include "llmux/host_services.h"
#include "llmux/http.h"
#include "llmux/provider.h"

namespace llmux::test {

// ---------------------------------------------------------------------------
// A recording host

// A transfer that only counts what the provider asks of it.
struct FakeTransfer final : HttpTransfer {
  int cancels = 0, pauses = 0, resumes = 0;
  void cancel() override { ++cancels; }
  void pause() override { ++pauses; }
  void resume() override { ++resumes; }
};

// One request a provider started, with its handler (to play the upstream).
struct Started {
  HttpRequest request;
  std::shared_ptr<HttpHandler> handler;
  std::shared_ptr<FakeTransfer> transfer;
};

// A state store in memory (what a restart keeps is tested with the host's
// FileStateStore); `writes` counts stores and effective updates.
class MemoryStateStore final : public StateStore {
 public:
  std::optional<std::string> load(std::string_view key) override;
  bool store(std::string_view key, std::string_view value, std::string* error = nullptr) override;
  bool update(std::string_view key, const Mutation& mutation, std::string* error = nullptr) override;

  std::mutex mu;
  std::map<std::string, std::string, std::less<>> values;
  int writes = 0;
};

// Host services that record: log lines (with their level), started requests
// (sent nowhere unless send_through() was called) and timers (run only by
// run_timer()). The clock is the system's plus what advance() added, so a
// test moves time on instead of sleeping.
class FakeHost final : public HostServices, Logger, Clock, Timers, llmux::HttpClient {
 public:
  Logger& logger() override { return *this; }
  Clock& clock() override { return *this; }
  Timers& timers() override { return *this; }
  llmux::HttpClient& http() override { return *this; }
  StateStore& state() override { return state_store; }

  void log(LogLevel level, std::string_view message) override;
  bool enabled(LogLevel) const override { return true; }
  std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now() + offset(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now() + offset(); }
  // Moves the clock on by `by` (timers do not run by themselves: run_timer).
  void advance(std::chrono::milliseconds by) { offset_ms_ += by.count(); }

  // From now on, started requests also go out through `client` (e.g. the
  // host's HttpEngine to a FakeUpstream on loopback); `client` must outlive
  // every transfer.
  void send_through(HttpClient& client) { real_http_ = &client; }

  Id schedule(std::chrono::milliseconds delay, std::function<void()> callback) override;
  bool cancel(Id id) override;
  std::shared_ptr<HttpTransfer> start(HttpRequest request, std::shared_ptr<HttpHandler> handler) override;

  // Runs the earliest pending timer (its delay into `delay`); false if none.
  bool run_timer(std::chrono::milliseconds* delay = nullptr);
  std::size_t pending_timers();
  // The log lines, one a line.
  std::string log_text();

  std::mutex mu;
  std::vector<std::pair<LogLevel, std::string>> lines;
  std::vector<Started> started;
  int cancelled_timers = 0;
  MemoryStateStore state_store;

 private:
  struct Timer {
    Id id;
    std::chrono::milliseconds delay;
    std::function<void()> fn;
  };
  std::chrono::milliseconds offset() const { return std::chrono::milliseconds(offset_ms_.load()); }

  std::vector<Timer> timers_;
  Id next_id_ = 0;
  std::atomic<std::int64_t> offset_ms_{0};  // read on the HTTP thread, moved by the test
  std::atomic<HttpClient*> real_http_{nullptr};
};

// The host's commit rule as the test calls play it (the host's answer writer
// decides it for real): a streamed answer commits with its first content
// event, a whole one with its terminal event.
bool commits(const ChatRequest& request, const Event& event);

// A chat call that records the events emitted; the test cancels it, sets its
// backlog and runs the drained callbacks. Events may come from another
// thread (a real HTTP client): wait_for_end() before reading them then.
class FakeCall final : public ChatCall {
 public:
  explicit FakeCall(ChatRequest request) : request_(std::move(request)) {}
  const ChatRequest& request() const override { return request_; }
  void emit(Event event) override;
  // As the host would say (commits()), unless the test forced an answer.
  bool committed() const override;
  // From now on committed() answers `value`, whatever was emitted.
  void force_committed(bool value) { forced_committed_ = value ? 1 : 0; }
  // Waits until a terminal event has been emitted (true) or `timeout` passed.
  bool wait_for_end(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool cancelled() const override { return cancelled_; }
  void on_cancel(std::function<void()> fn) override;
  bool client_backlogged() const override { return backlogged; }
  void on_client_drained(std::function<void()> fn) override { drained.push_back(std::move(fn)); }

  // Cancels the call (runs the provider's cancel hook).
  void cancel();
  bool has_cancel_hook() const { return static_cast<bool>(on_cancel_); }

  std::vector<Event> events;
  bool backlogged = false;
  std::vector<std::function<void()>> drained;

 private:
  ChatRequest request_;
  bool cancelled_ = false;
  std::function<void()> on_cancel_;
  std::atomic<bool> committed_{false};
  std::atomic<int> forced_committed_{-1};  // -1: not forced
  std::mutex mu_;
  std::condition_variable ended_;
};

// ---------------------------------------------------------------------------
// Plugins over real sockets

// Host services whose HTTP client is the host's own engine (real requests, to
// a fake upstream on loopback); logger, clock, timers and state are `fake`'s.
// Destroy the providers first: the engine cancels what is left and joins.
class LiveHost final : public HostServices {
 public:
  LiveHost();
  ~LiveHost() override;
  Logger& logger() override { return fake.logger(); }
  Clock& clock() override { return fake.clock(); }
  Timers& timers() override { return fake.timers(); }
  llmux::HttpClient& http() override { return *engine_; }
  StateStore& state() override { return fake.state(); }

  FakeHost fake;

 private:
  std::unique_ptr<llmux::HttpClient> engine_;
};

// A chat call answered on the engine's thread: the events under a lock, and
// waits on their arrival (never a sleep). Never cancelled nor backlogged.
class LiveCall final : public ChatCall {
 public:
  explicit LiveCall(ChatRequest request) : request_(std::move(request)) {}
  const ChatRequest& request() const override { return request_; }
  void emit(Event event) override;
  bool committed() const override { return committed_; }  // as the host would say (commits())
  bool cancelled() const override { return false; }
  void on_cancel(std::function<void()>) override {}
  bool client_backlogged() const override { return false; }
  void on_client_drained(std::function<void()> fn) override { fn(); }

  std::vector<Event> events() const;
  // Waits until the Raw events so far hold at least `bytes` bytes; false on timeout.
  bool wait_for_raw_bytes(std::size_t bytes, std::chrono::milliseconds timeout);
  // Waits for the terminal event; false on timeout.
  bool wait_for_terminal(std::chrono::milliseconds timeout);

 private:
  ChatRequest request_;
  mutable std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<Event> events_;
  std::size_t raw_bytes_ = 0;
  bool terminal_ = false;
  std::atomic<bool> committed_{false};
};

// A chat request parsed from an OpenAI request body; throws
// std::invalid_argument if `body` is not one.
ChatRequest request_for(const std::string& body);
// The same as the host hands it to a provider: the original body kept (so an
// OpenAI provider may pass it through).
ChatRequest client_request(const std::string& body);

// The value of a request header ("<absent>" when missing).
std::string header(const HttpRequest& request, std::string_view name);

// ---------------------------------------------------------------------------
// Plugins through the ABI

// The plugin in `file` of plugin_dir(), loaded once per process and never
// unloaded (like the host does while in use). Throws std::runtime_error if it
// does not load or is not a plugin of this ABI.
Plugin& loaded_plugin(const std::string& file);

// The `options` map of a YAML text (its keys at column 1), as from providers.yaml.
ConfigNode options_of(const std::string& yaml);

// A provider of `plugin` named `name` with the options in `yaml`.
std::shared_ptr<Provider> create(Plugin& plugin, const std::string& yaml, HostServices& host,
                                 const std::string& name = "up");

// What creating a provider from `yaml` throws: a ConfigError's message,
// "NotConfigured: <message>", or "no error".
std::string config_error(Plugin& plugin, const std::string& yaml, const std::string& name = "up");

// The NotConfigured message creating a provider from `yaml` throws,
// "other exception: <message>", or "no exception".
std::string not_configured(Plugin& plugin, const std::string& yaml, const std::string& name = "up");

}  // namespace llmux::test
