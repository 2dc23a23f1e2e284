// What the host offers a plugin. Everything a provider may use of the host
// arrives through this interface; a plugin never reaches into host internals.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "llmux/http.h"

namespace llmux {

enum class LogLevel { Debug, Info, Warn, Error };

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(LogLevel level, std::string_view message) = 0;
  virtual bool enabled(LogLevel level) const = 0;

  void debug(std::string_view m) { if (enabled(LogLevel::Debug)) log(LogLevel::Debug, m); }
  void info(std::string_view m) { log(LogLevel::Info, m); }
  void warn(std::string_view m) { log(LogLevel::Warn, m); }
  void error(std::string_view m) { log(LogLevel::Error, m); }
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual std::chrono::system_clock::time_point wall_now() const = 0;
};

// One-shot timers run on a host thread. Callbacks must be short: they share
// that thread with every other timer. A callback may schedule further timers.
class Timers {
 public:
  using Id = std::uint64_t;
  virtual ~Timers() = default;
  virtual Id schedule(std::chrono::milliseconds delay, std::function<void()> callback) = 0;
  // Returns true if the timer had not run yet and now never will.
  virtual bool cancel(Id id) = 0;
};

// Durable key-value state for a provider (a token pool's rotated refresh
// tokens, expiries, cooldowns). Keys are private to the provider: the host
// namespaces them by provider name. Values are opaque text (JSON by habit).
//
// The embedded store keeps one file per provider, replaced atomically (temp
// file, fsync, rename, mode 0600), so a crash or kill -9 leaves the old or the
// new state, never a mix. `update` is a read-modify-write transaction: a shared
// store serving several llmux instances implements it as compare-and-swap, so
// two instances never both spend one single-use refresh token.
class StateStore {
 public:
  // Gets the current value (nullopt when absent) and returns the new value to
  // store, or nullopt to leave it unchanged. May run more than once under a
  // shared store (on a lost compare-and-swap), so it must be free of effects.
  using Mutation = std::function<std::optional<std::string>(const std::optional<std::string>& current)>;

  virtual ~StateStore() = default;
  virtual std::optional<std::string> load(std::string_view key) = 0;
  // Returns false (and why, in `error`) when the value could not be made durable.
  virtual bool store(std::string_view key, std::string_view value, std::string* error = nullptr) = 0;
  virtual bool update(std::string_view key, const Mutation& mutation, std::string* error = nullptr) = 0;
};

class HostServices {
 public:
  virtual ~HostServices() = default;
  virtual Logger& logger() = 0;  // lines are prefixed with the plugin's name
  virtual Clock& clock() = 0;
  virtual Timers& timers() = 0;
  virtual HttpClient& http() = 0;  // requests go to URLs from the provider's config only
  virtual StateStore& state() = 0;  // durable, private to this provider
};

}  // namespace llmux
