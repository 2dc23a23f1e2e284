// One client request in flight: walks the route's chain, one Attempt per
// provider, falling back while nothing has reached the client.
//
// Fallback rule: an attempt that fails before commit (nothing written to the
// client) moves on to the next step, unless the error is about the request
// itself (400, 413, 422), which another provider would reject too. A step whose
// provider is not ready is skipped. When every step failed, the client gets the
// last error. After commit, an error ends the answer in-band (no fallback).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/answer_writer.h"
#include "llmux/provider.h"
#include "routing/route_table.h"

namespace llmux::host {

class Attempt;

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<const RouteTable> table, Resolution resolution, ChatRequest request,
           std::unique_ptr<AnswerWriter> writer);
  ~Exchange();

  void start();
  // The client went away: stop the current attempt, write nothing more.
  void cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  static bool worth_fallback(const Error& error);

 private:
  friend class Attempt;
  void run_next_step();
  void on_event(Attempt& attempt, Event&& event);

  std::shared_ptr<const RouteTable> table_;  // keeps providers alive while in flight (reload-safe)
  Resolution resolution_;
  std::shared_ptr<const ChatRequest> request_;  // model = the current step's upstream name
  std::unique_ptr<AnswerWriter> writer_;
  std::size_t next_step_ = 0;
  std::optional<Error> last_error_;
  std::atomic<bool> cancelled_{false};
  // Serializes the writer between the thread that runs chat() and the thread a
  // provider emits on (they may differ, and may overlap as chat() returns).
  std::mutex writer_mutex_;
  bool dispatching_ = false;  // inside provider->chat(): batch writes until it returns
  std::mutex attempt_mutex_;
  std::weak_ptr<Attempt> current_;  // guarded by attempt_mutex_
  std::chrono::steady_clock::time_point started_;
};

}  // namespace llmux::host
