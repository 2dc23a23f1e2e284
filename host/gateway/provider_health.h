// Per-provider health across requests (and reloads): consecutive failures and
// the circuit breaker. A provider that keeps failing is skipped for its
// cooldown period; after it, one request is let through as a probe, and its
// outcome decides whether the provider comes back or cools down again.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "config/gateway_config.h"

namespace llmux::host {

class ProviderHealth {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Admission { Allowed, Probe, Skip };
  // May a request go to `provider` now? Skip comes with a reason for logs.
  Admission admit(const std::string& provider, std::string* reason);
  void record_success(const std::string& provider);
  // `refused`: nothing listens there — cool down at once, whatever the count.
  void record_failure(const std::string& provider, const CooldownPolicy& policy, bool refused,
                      const std::string& message);
  // A probe that ended without a verdict (client left): let the next one try.
  void release_probe(const std::string& provider);

  struct Status {
    std::string provider;
    std::string state;  // "healthy", "failing (N in a row)", "cooling down (Ns left)", "probing"
    int consecutive_failures = 0;
    std::string last_error;
    bool cooling_down = false;  // skipped by chains now (state says for how long)
  };
  std::vector<Status> snapshot() const;

 private:
  struct State {
    int consecutive_failures = 0;
    Clock::time_point cooldown_until{};
    bool cooling = false;
    bool probing = false;
    std::string last_error;
  };
  mutable std::mutex mutex_;
  std::map<std::string, State> states_;
};

}  // namespace llmux::host
