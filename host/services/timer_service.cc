#include "services/timer_service.h"

#include <exception>

#include "services/log.h"

namespace llmux::host {

TimerService::TimerService() : thread_([this] { run(); }) {}

TimerService::~TimerService() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

TimerService::Id TimerService::schedule(std::chrono::milliseconds delay, std::function<void()> callback,
                                        std::shared_ptr<const void> anchor) {
  auto deadline = Clock::now() + delay;
  Id id;
  bool earliest;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    entries_.emplace(id, std::make_pair(deadline, Entry{std::move(anchor), std::move(callback)}));
    auto it = by_deadline_.emplace(deadline, id);
    earliest = it == by_deadline_.begin();
  }
  if (earliest) wake_.notify_one();
  return id;
}

bool TimerService::cancel(Id id) {
  Entry dropped;  // destroyed outside the lock: its destructor may run plugin code
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    auto range = by_deadline_.equal_range(it->second.first);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == id) {
        by_deadline_.erase(d);
        break;
      }
    }
    dropped = std::move(it->second.second);
    entries_.erase(it);
  }
  return true;
}

std::size_t TimerService::pending() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void TimerService::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (by_deadline_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto first = by_deadline_.begin();
    // Copy: wait_until releases the lock, and a cancel may free the map node.
    const Clock::time_point deadline = first->first;
    if (deadline > Clock::now()) {
      wake_.wait_until(lock, deadline);
      continue;
    }
    Id id = first->second;
    by_deadline_.erase(first);
    auto it = entries_.find(id);
    Entry entry = std::move(it->second.second);
    entries_.erase(it);
    lock.unlock();
    run_logging_exceptions("timers", "a timer callback", entry.callback);
    // The callback (plugin code) goes first, then the hold on its library.
    entry.callback = nullptr;
    entry.anchor.reset();
    lock.lock();
  }
  // Drop what is left outside the lock (plugin destructors may schedule or cancel).
  auto leftover = std::move(entries_);
  by_deadline_.clear();
  lock.unlock();
  leftover.clear();
}

}  // namespace llmux::host
