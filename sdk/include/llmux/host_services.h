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
// The embedded store keeps one file per provider key, replaced atomically
// (temp file, fsync, rename, mode 0600), so a crash or kill -9 leaves the old
// or the new state, never a mix. `update` is a read-modify-write transaction: a
// shared store serving several llmux instances implements it as
// compare-and-swap, so two instances never both spend one single-use refresh
// token.
//
// Durable means: written and synced to disk, so the value survives kill -9 or
// a power cut. The host makes every write on a thread of its own, one at a
// time, in the order they were asked for (`store`, `update` and `update_async`
// alike, from any thread); the host's shutdown finishes the writes still
// queued. `store` and `update` wait for theirs (never call them on a thread
// that serves requests: an HTTP callback runs on one); `update_async` does not.
// `load` reads what is durable: a value whose update_async has not completed
// yet is not seen.
class StateStore {
 public:
  // Gets the current value (nullopt when absent) and returns the new value to
  // store, or nullopt to leave it unchanged. May run more than once under a
  // shared store (on a lost compare-and-swap), so it must be free of effects.
  using Mutation = std::function<std::optional<std::string>(const std::optional<std::string>& current)>;
  // The outcome of an update_async: ok once the value is durable (or the
  // mutation left it unchanged), else false and why.
  using Done = std::function<void(bool ok, const std::string& error)>;

  virtual ~StateStore() = default;
  virtual std::optional<std::string> load(std::string_view key) = 0;
  // Returns, once durable, false (and why, in `error`) when the value could
  // not be made durable.
  virtual bool store(std::string_view key, std::string_view value, std::string* error = nullptr) = 0;
  virtual bool update(std::string_view key, const Mutation& mutation, std::string* error = nullptr) = 0;
  // `update` without waiting for the disk: returns at once; the transaction
  // runs later on the store's thread, then `done` (if set) runs there. Both
  // run after the caller returned, so they must own what they read (capture
  // by value) and `done` must be short: every provider's writes share that
  // thread. This default waits (for stores without a thread of their own).
  virtual void update_async(std::string_view key, Mutation mutation, Done done) {
    std::string error;
    const bool ok = update(key, mutation, &error);
    if (done) done(ok, error);
  }
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
