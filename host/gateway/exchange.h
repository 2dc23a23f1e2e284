// One client request in flight: walks the route's chain, one Attempt per
// provider, falling back while nothing has reached the client.
//
// Before commit (nothing written to the client yet) a failed attempt is
// retried on the same provider when the failure is worth it (connect error,
// first-byte timeout, 408, 429, 5xx; not a refused connection) with
// exponential backoff and jitter or the upstream's Retry-After, up to the
// provider's retry policy; then the chain moves on to the next step, unless
// the error is about the request itself (400, 413, 422), which another
// provider would reject too. A step whose provider is not ready or is cooling
// down is skipped. When every step failed, the client gets the last error.
// After commit, an error ends the answer in-band (no retry, no fallback).
// Commit is the writer's to say (AnswerWriter::committed()); the exchange
// passes it on to the provider's call (ChatCall::committed()).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/answer_writer.h"
#include "gateway/provider_health.h"
#include "services/timer_service.h"
#include "llmux/provider.h"
#include "observability/request_context.h"
#include "routing/route_table.h"
#include "server/client_channel.h"

namespace llmux::host {

class Attempt;

// A codec's request parser (e.g. openai::parse_chat_request).
using FullParser = std::optional<Error> (*)(std::string_view body, ChatRequest& out);

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  // Host services an exchange uses; they outlive every exchange.
  struct Services {
    TimerService& timers;
    ProviderHealth& health;
  };

  // A routing-only `request` (ChatRequest::parsed false) comes with
  // `parse_later`: a step whose provider does not pass it through gets it
  // parsed in full first (a parse error then ends the exchange with its 400).
  Exchange(Services services, std::shared_ptr<const RouteTable> table, Resolution resolution, ChatRequest request,
           std::unique_ptr<AnswerWriter> writer, std::shared_ptr<ClientChannel> channel,
           std::shared_ptr<RequestContext> context, FullParser parse_later = nullptr);
  ~Exchange();

  void start();
  // The client went away: stop the current attempt, write nothing more.
  void cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // The writer's commit (AnswerWriter::committed()) as the provider's calls
  // see it (ChatCall::committed()): copied after each write under the writer
  // lock, read without it, so a provider may ask from any thread, even from a
  // callback the host runs while it holds that lock (a drain waiter run by a
  // channel that closed mid-write).
  bool answer_committed() const { return answer_committed_.load(std::memory_order_acquire); }

  static bool worth_fallback(const Error& error);
  static bool worth_retry(const Error& error);

 private:
  friend class Attempt;
  void run_next_step();
  void start_attempt();  // (again) on the current step
  // Before an attempt on `step`: parses a routing-only request in full when
  // the step needs it. On a parse error answers the client and returns false.
  bool ensure_parsed_for(const ResolvedStep& step);
  void on_event(Attempt& attempt, Event&& event);
  // Before commit: schedules a retry of the current step when the policy
  // allows; false when the chain should move on instead.
  bool schedule_retry(const Error& error);
  const ResolvedStep& current_step() const { return resolution_.chain[next_step_ - 1]; }
  // Request context bookkeeping, under writer_mutex_.
  void record_attempt_locked(const std::string& outcome, int status);
  std::chrono::microseconds attempt_duration();  // since the current attempt was dispatched
  void finish_if_done_locked();
  // After the writer took an event or a failure, under writer_mutex_.
  void publish_commit_locked();

  Services services_;
  std::shared_ptr<const RouteTable> table_;  // keeps providers alive while in flight (reload-safe)
  Resolution resolution_;
  std::shared_ptr<const ChatRequest> request_;  // model = the current step's upstream name
  FullParser parse_later_ = nullptr;             // for a routing-only request_
  std::unique_ptr<AnswerWriter> writer_;
  std::shared_ptr<ClientChannel> channel_;  // backpressure: how much the client has not read yet
  std::size_t next_step_ = 0;  // the current step is next_step_ - 1
  int retries_ = 0;            // of the current step
  bool probing_ = false;       // the current attempt is a cooldown probe
  std::optional<Error> last_error_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> answer_committed_{false};  // see answer_committed(); never goes back to false
  // Serializes the writer between the thread that runs chat() and the thread a
  // provider emits on (they may differ, and may overlap as chat() returns).
  std::mutex writer_mutex_;
  bool dispatching_ = false;  // inside provider->chat(): batch writes until it returns
  std::mutex attempt_mutex_;
  std::weak_ptr<Attempt> current_;  // guarded by attempt_mutex_
  std::string probe_provider_;      // guarded by attempt_mutex_: set while the attempt is a cooldown probe
  std::shared_ptr<RequestContext> context_;  // guarded by writer_mutex_ after start()
  std::chrono::steady_clock::time_point attempt_started_;  // guarded by writer_mutex_
  bool attempt_recorded_ = false;                          // guarded by writer_mutex_
  std::optional<Error> last_terminal_error_;  // guarded by writer_mutex_: the error that ended the answer
};

}  // namespace llmux::host
