#include "gateway/provider_health.h"

#include <algorithm>

#include "services/log.h"

namespace llmux::host {

namespace {

// Cuts at a UTF-8 character boundary so the kept text stays valid.
std::string bounded(const std::string& message, std::size_t limit) {
  if (message.size() <= limit) return message;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return message.substr(0, cut);
}

}  // namespace

ProviderHealth::Admission ProviderHealth::admit(const std::string& provider, std::string* reason) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(provider);
  if (it == states_.end() || !it->second.cooling) return Admission::Allowed;
  State& state = it->second;
  auto now = this->now();
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

void ProviderHealth::record_success(const std::string& provider, std::chrono::microseconds duration) {
  std::lock_guard lock(mutex_);
  State& state = states_[provider];
  ++state.attempts;
  state.latencies.push_back(duration);
  if (state.latencies.size() > kRecentLatencies) state.latencies.pop_front();
  if (state.cooling) Log::write(LogLevel::Info, "health", "provider '" + provider + "' is back");
  state.end_streak();
}

void ProviderHealth::record_failure(const std::string& provider, const CooldownPolicy& policy, bool refused,
                                    const std::string& message, int status) {
  std::lock_guard lock(mutex_);
  State& state = states_[provider];
  ++state.attempts;
  ++state.failures;
  ++state.consecutive_failures;
  state.last_error = message;
  state.recent_errors.push_back({wall_now(), status, bounded(message, kErrorMessageMax)});
  if (state.recent_errors.size() > kRecentErrors) state.recent_errors.pop_front();
  bool was_probe = state.probing;
  state.probing = false;
  if (policy.after_failures <= 0) return;
  if (was_probe || refused || state.consecutive_failures >= policy.after_failures) {
    state.cooling = true;
    state.cooldown_until = now() + policy.period;
    Log::write(LogLevel::Warn, "health",
               "provider '" + provider + "' cools down for " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(policy.period).count()) +
                   "s after " + std::to_string(state.consecutive_failures) + " failure(s) in a row: " + message);
  }
}

void ProviderHealth::record_request_error(const std::string& provider) {
  std::lock_guard lock(mutex_);
  ++states_[provider].attempts;
}

void ProviderHealth::release_probe(const std::string& provider) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(provider);
  if (it != states_.end()) it->second.probing = false;
}

bool ProviderHealth::reset(const std::string& provider) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(provider);
  if (it == states_.end() || !it->second.troubled()) return false;
  it->second.end_streak();
  Log::write(LogLevel::Info, "health", "provider '" + provider + "': health reset by an admin");
  return true;
}

ProviderHealth::Status ProviderHealth::status_of(const std::string& name, const State& state, Clock::time_point now,
                                                 std::chrono::system_clock::time_point wall_now) const {
  Status status;
  status.provider = name;
  status.consecutive_failures = state.consecutive_failures;
  status.last_error = state.last_error;
  if (state.probing) {
    status.state = "probing";
  } else if (state.cooling && now < state.cooldown_until) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(state.cooldown_until - now).count() + 1;
    status.state = "cooling down (" + std::to_string(left) + "s left)";
    status.cooling_down = true;
    status.cooldown_until =
        wall_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(state.cooldown_until - now);
  } else if (state.cooling) {
    status.state = "cooldown over, waiting for a probe";
  } else if (state.consecutive_failures > 0) {
    status.state = "failing (" + std::to_string(state.consecutive_failures) + " in a row)";
  } else {
    status.state = "healthy";
  }
  status.attempts = state.attempts;
  status.failures = state.failures;
  status.recent_errors.assign(state.recent_errors.begin(), state.recent_errors.end());
  if (!state.latencies.empty()) {
    std::vector<std::chrono::microseconds> sorted(state.latencies.begin(), state.latencies.end());
    auto middle = sorted.begin() + static_cast<std::ptrdiff_t>((sorted.size() - 1) / 2);
    std::nth_element(sorted.begin(), middle, sorted.end());
    status.latency_p50 = *middle;
  }
  return status;
}

std::vector<ProviderHealth::Status> ProviderHealth::snapshot(bool include_healthy) const {
  std::lock_guard lock(mutex_);
  std::vector<Status> out;
  auto now = this->now();
  auto wall_now = this->wall_now();
  for (const auto& [name, state] : states_) {
    if (include_healthy || state.troubled()) out.push_back(status_of(name, state, now, wall_now));
  }
  return out;
}

ProviderHealth::Status ProviderHealth::status(const std::string& provider) const {
  std::lock_guard lock(mutex_);
  auto it = states_.find(provider);
  if (it == states_.end()) {
    Status status;
    status.provider = provider;
    status.state = "healthy";
    return status;
  }
  return status_of(provider, it->second, now(), wall_now());
}

}  // namespace llmux::host
