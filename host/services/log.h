// Process-wide log output: one line per record, "<time> <LEVEL> [component] message",
// written to stderr (or to a capture function in tests). Thread-safe.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "llmux/host_services.h"

namespace llmux::host {

class Log {
 public:
  using Capture = std::function<void(LogLevel, std::string_view line)>;
  static void write(LogLevel level, std::string_view component, std::string_view message);
  static void set_min_level(LogLevel level);
  static bool enabled(LogLevel level);
  // Tests: also hand every formatted line to `capture` (nullptr removes it).
  static void set_capture(Capture capture);
};

// Runs `fn`; an exception it throws is logged as "<what> threw: <reason>"
// under `component` instead of ending the thread that runs it (event loops,
// timer and worker threads run code they do not own).
template <typename Fn>
void run_logging_exceptions(std::string_view component, std::string_view what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    Log::write(LogLevel::Error, component, std::string(what) + " threw: " + e.what());
  } catch (...) {
    Log::write(LogLevel::Error, component, std::string(what) + " threw a non-standard exception");
  }
}

// A Logger that tags every line with a component name ("router", "mock:fast").
class ComponentLogger final : public Logger {
 public:
  explicit ComponentLogger(std::string component) : component_(std::move(component)) {}
  void log(LogLevel level, std::string_view message) override { Log::write(level, component_, message); }
  bool enabled(LogLevel level) const override { return Log::enabled(level); }

 private:
  std::string component_;
};

}  // namespace llmux::host
