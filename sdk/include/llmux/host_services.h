// What the host offers a plugin. Everything a provider may use of the host
// arrives through this interface; a plugin never reaches into host internals.
// The state store joins in a later issue (with an ABI bump).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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

class HostServices {
 public:
  virtual ~HostServices() = default;
  virtual Logger& logger() = 0;  // lines are prefixed with the plugin's name
  virtual Clock& clock() = 0;
  virtual Timers& timers() = 0;
  virtual HttpClient& http() = 0;  // requests go to URLs from the provider's config only
};

}  // namespace llmux
