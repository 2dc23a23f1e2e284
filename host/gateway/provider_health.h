// Per-provider health across requests (and reloads): consecutive failures and
// the circuit breaker. A provider that keeps failing is skipped for its
// cooldown period; after it, one request is let through as a probe, and its
// outcome decides whether the provider comes back or cools down again.
// Also keeps what the admin panel shows of each provider: attempt and failure
// counters, the last errors, and the median latency of recent successes.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/gateway_config.h"
#include "llmux/host_services.h"

namespace llmux::host {

class ProviderHealth {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kRecentErrors = 10;
  static constexpr std::size_t kRecentLatencies = 100;
  static constexpr std::size_t kErrorMessageMax = 300;

  // `clock` (tests) replaces the system clocks; it must outlive this object.
  explicit ProviderHealth(const llmux::Clock* clock = nullptr) : clock_(clock) {}

  enum class Admission { Allowed, Probe, Skip };
  // May a request go to `provider` now? Skip comes with a reason for logs.
  Admission admit(const std::string& provider, std::string* reason);
  // `duration`: the attempt's time from dispatch to its last event.
  void record_success(const std::string& provider, std::chrono::microseconds duration = {});
  // `refused`: nothing listens there — cool down at once, whatever the count.
  // `status`: the HTTP status of the failure (0 for transport failures).
  void record_failure(const std::string& provider, const CooldownPolicy& policy, bool refused,
                      const std::string& message, int status = 0);
  // An attempt that ended with an error about the request, not the provider
  // (a 400): counted as an attempt, leaves the health as it is.
  void record_request_error(const std::string& provider);
  // A probe that ended without a verdict (client left): let the next one try.
  void release_probe(const std::string& provider);
  // Ends a cooldown or failing streak now: the next request goes through
  // normally. Counters and recent errors stay. False when nothing was wrong.
  bool reset(const std::string& provider);

  struct RecentError {
    std::chrono::system_clock::time_point at;
    int status = 0;       // HTTP status; 0 for transport failures
    std::string message;  // at most kErrorMessageMax bytes
  };

  struct Status {
    std::string provider;
    std::string state;  // "healthy", "failing (N in a row)", "cooling down (Ns left)", "probing"
    int consecutive_failures = 0;
    std::string last_error;
    bool cooling_down = false;  // skipped by chains now (state says for how long)
    std::optional<std::chrono::system_clock::time_point> cooldown_until;  // while cooling_down
    std::uint64_t attempts = 0;
    std::uint64_t failures = 0;
    std::vector<RecentError> recent_errors;  // oldest first
    std::optional<std::chrono::microseconds> latency_p50;  // of the last kRecentLatencies successes
  };
  // Providers that are not healthy (failing, cooling down, probing); with
  // `include_healthy`, every provider that has seen a request.
  std::vector<Status> snapshot(bool include_healthy = false) const;
  // One provider's status; a provider that never saw a request is healthy with zero counters.
  Status status(const std::string& provider) const;

 private:
  struct State {
    int consecutive_failures = 0;
    Clock::time_point cooldown_until{};
    bool cooling = false;
    bool probing = false;
    std::string last_error;
    std::uint64_t attempts = 0;
    std::uint64_t failures = 0;
    std::deque<RecentError> recent_errors;
    std::deque<std::chrono::microseconds> latencies;
    bool troubled() const { return consecutive_failures > 0 || cooling || probing; }
    void end_streak() {
      consecutive_failures = 0;
      cooling = false;
      probing = false;
      cooldown_until = {};
    }
  };
  Clock::time_point now() const { return clock_ ? clock_->now() : Clock::now(); }
  std::chrono::system_clock::time_point wall_now() const {
    return clock_ ? clock_->wall_now() : std::chrono::system_clock::now();
  }
  Status status_of(const std::string& name, const State& state, Clock::time_point now,
                   std::chrono::system_clock::time_point wall_now) const;

  const llmux::Clock* clock_;
  mutable std::mutex mutex_;
  std::map<std::string, State> states_;
};

}  // namespace llmux::host
