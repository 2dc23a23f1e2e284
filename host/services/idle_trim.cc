#include "services/idle_trim.h"

#include <malloc.h>

#include <string>

#include "services/log.h"

namespace llmux::host {

IdleTrim::IdleTrim(TimerService& timers, std::function<Load()> load, Options options)
    : timers_(timers), state_(std::make_shared<State>()) {
  state_->load = std::move(load);
  state_->options = options;
  std::lock_guard lock(state_->mutex);
  schedule(timers_, state_);
}

IdleTrim::~IdleTrim() {
  std::lock_guard lock(state_->mutex);  // a check under way finishes first (it holds the lock)
  state_->stopped = true;
  timers_.cancel(state_->timer);
}

// Under state->mutex. The callback keeps the state alive and checks `stopped`.
void IdleTrim::schedule(TimerService& timers, const std::shared_ptr<State>& state) {
  if (state->stopped || state->options.period.count() <= 0) return;
  state->timer = timers.schedule(state->options.period, [&timers, state] {
    check(*state);
    std::lock_guard lock(state->mutex);
    schedule(timers, state);
  });
}

std::size_t IdleTrim::held_free_bytes() {
  struct mallinfo2 info = mallinfo2();
  return info.fordblks;
}

bool IdleTrim::check() { return check(*state_); }

bool IdleTrim::check(State& state) {
  std::lock_guard lock(state.mutex);
  if (state.stopped) return false;
  const std::size_t held = held_free_bytes();
  if (held < state.options.threshold) return false;
  // Trimmed pages still count as free: without new work they are gone already.
  const Load load = state.load();
  if (load.started == state.started_at_last_trim) return false;
  if (held < state.options.busy_threshold && load.in_flight > 0) return false;
  state.started_at_last_trim = load.started;
  malloc_trim(0);
  ++state.trims;
  Log::write(LogLevel::Debug, "memory",
             "returned freed memory to the system (" + std::to_string(held >> 20) + " MiB held free before)");
  return true;
}

std::size_t IdleTrim::trims() const {
  std::lock_guard lock(state_->mutex);
  return state_->trims;
}

}  // namespace llmux::host
