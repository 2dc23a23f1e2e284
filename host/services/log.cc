#include "services/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace llmux::host {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::Info)};
std::mutex g_mutex;
Log::Capture g_capture;  // guarded by g_mutex

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "DEBUG";
    case LogLevel::Info: return "INFO ";
    case LogLevel::Warn: return "WARN ";
    case LogLevel::Error: return "ERROR";
  }
  return "?";
}

}  // namespace

void Log::write(LogLevel level, std::string_view component, std::string_view message) {
  if (!enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  std::string line;
  line.reserve(48 + component.size() + message.size());
  line.append(stamp).append(" ").append(level_name(level)).append(" [").append(component).append("] ");
  line.append(message);
  // One record is one line: a newline inside a message would forge a second record.
  for (auto& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  line.push_back('\n');
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  if (g_capture) g_capture(level, std::string_view(line.data(), line.size() - 1));
}

void Log::set_min_level(LogLevel level) { g_min_level = static_cast<int>(level); }

bool Log::enabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

void Log::set_capture(Capture capture) {
  std::lock_guard lock(g_mutex);
  g_capture = std::move(capture);
}

}  // namespace llmux::host
