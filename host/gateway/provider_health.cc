#include "gateway/provider_health.h"

#include "services/log.h"

namespace llmux::host {

ProviderHealth::Admission ProviderHealth::admit(const std::string& provider, std::string* reason) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(provider);
  if (it == states_.end() || !it->second.cooling) return Admission::Allowed;
  State& state = it->second;
  auto now = Clock::now();
  if (now < state.cooldown_until) {
    if (reason) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(state.cooldown_until - now).count() + 1;
      *reason = "cooling down for " + std::to_string(left) + "s after: " + state.last_error;
    }
    return Admission::Skip;
  }
  if (state.probing) {
    if (reason) *reason = "cooling down; a probe request is deciding whether it is back";
    return Admission::Skip;
  }
  state.probing = true;
  Log::write(LogLevel::Info, "health", "provider '" + provider + "': cooldown over, sending a probe request");
  return Admission::Probe;
}

void ProviderHealth::record_success(const std::string& provider) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(provider);
  if (it == states_.end()) return;  // never failed: nothing to update (the hot path stays lock-short)
  if (it->second.cooling) Log::write(LogLevel::Info, "health", "provider '" + provider + "' is back");
  states_.erase(it);
}

void ProviderHealth::record_failure(const std::string& provider, const CooldownPolicy& policy, bool refused,
                                    const std::string& message) {
  std::lock_guard lock(mutex_);
  State& state = states_[provider];
  ++state.consecutive_failures;
  state.last_error = message;
  bool was_probe = state.probing;
  state.probing = false;
  if (policy.after_failures <= 0) return;
  if (was_probe || refused || state.consecutive_failures >= policy.after_failures) {
    state.cooling = true;
    state.cooldown_until = Clock::now() + policy.period;
    Log::write(LogLevel::Warn, "health",
               "provider '" + provider + "' cools down for " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(policy.period).count()) +
                   "s after " + std::to_string(state.consecutive_failures) + " failure(s) in a row: " + message);
  }
}

void ProviderHealth::release_probe(const std::string& provider) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(provider);
  if (it != states_.end()) it->second.probing = false;
}

std::vector<ProviderHealth::Status> ProviderHealth::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<Status> out;
  auto now = Clock::now();
  for (const auto& [name, state] : states_) {
    Status status{name, {}, state.consecutive_failures, state.last_error};
    if (state.probing) {
      status.state = "probing";
    } else if (state.cooling && now < state.cooldown_until) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(state.cooldown_until - now).count() + 1;
      status.state = "cooling down (" + std::to_string(left) + "s left)";
      status.cooling_down = true;
    } else if (state.cooling) {
      status.state = "cooldown over, waiting for a probe";
    } else {
      status.state = "failing (" + std::to_string(state.consecutive_failures) + " in a row)";
    }
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace llmux::host
