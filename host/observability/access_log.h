// The JSON access log: one line per finished request, built from its
// RequestContext (never a secret, a prompt or an answer). Lines are formatted
// on the thread that ends the request and written by the log's own thread, so
// a slow disk never stalls an I/O thread: when the queue is full, the line is
// dropped and counted (llmux_access_log_dropped_total).
//
// The writer is woken by the first line of a batch, then gathers lines for up
// to kMaxDelay (or until kWakeAt wait) and writes them at once: waking it per
// line cost a futex call and two context switches per request (+22 % CPU per
// request in bench/, docs/performance.md).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "config/gateway_config.h"

namespace llmux::host {

class RequestContext;

class AccessLog {
 public:
  explicit AccessLog(std::function<void()> on_drop = {});
  ~AccessLog();  // writes what is queued, then stops

  // Switches the destination (off, stderr, a file opened for appending).
  // A file that cannot be opened is reported on the log and the log stays off.
  void configure(const AccessLogTarget& target);
  // Reopens the file (SIGUSR1, after logrotate moved it away).
  void reopen();
  bool enabled() const;

  void record(const RequestContext& context);
  // Blocks until every queued line is written (tests, shutdown).
  void flush();

  // One JSON object without the newline (the documented line format).
  static std::string format(const RequestContext& context);

 private:
  void run();
  void open_locked();

  static constexpr std::size_t kMaxQueued = 65536;
  static constexpr std::size_t kWakeAt = 512;
  static constexpr std::chrono::milliseconds kMaxDelay{50};
  std::function<void()> on_drop_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::string> queue_;
  AccessLogTarget target_;
  std::atomic<bool> enabled_{false};  // target_ is not Off: read without the lock on every request
  std::FILE* file_ = nullptr;  // null when off or stderr
  bool reopen_ = false;
  bool writing_ = false;
  bool flush_ = false;  // flush() waits: write now
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace llmux::host
