#include "server/io_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "services/log.h"
#include "services/round_scope.h"

namespace llmux::host {
namespace {

thread_local IoLoop* t_current = nullptr;

}  // namespace

IoLoop::IoLoop() = default;

IoLoop::~IoLoop() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

IoLoop* IoLoop::current() noexcept { return t_current; }

void IoLoop::enter() noexcept { t_current = this; }

bool IoLoop::open_wake() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return false;
  if (!poll_add(wake_fd_, kRead)) {
    ::close(wake_fd_);
    wake_fd_ = -1;
    return false;
  }
  return true;
}

bool IoLoop::watch(int fd, unsigned interest, IoWatcher* watcher) {
  if (fd < 0) return false;
  if (static_cast<std::size_t>(fd) >= watches_.size()) watches_.resize(static_cast<std::size_t>(fd) + 64);
  Watch& watch = watches_[static_cast<std::size_t>(fd)];
  bool ok = watch.watcher ? (watch.interest == interest || poll_modify(fd, interest)) : poll_add(fd, interest);
  if (!ok) return false;
  watch.watcher = watcher;
  watch.interest = interest;
  return true;
}

void IoLoop::unwatch(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= watches_.size()) return;
  Watch& watch = watches_[static_cast<std::size_t>(fd)];
  if (!watch.watcher) return;
  watch = {};
  poll_remove(fd);
}

void IoLoop::dispatch(std::uint64_t tag, unsigned events) {
  const auto fd = static_cast<int>(tag & (kTagMark - 1));
  if (fd == wake_fd_) {
    drain_wake();
    return;
  }
  // An event of a descriptor unwatched earlier in this round is dropped.
  if (fd < 0 || static_cast<std::size_t>(fd) >= watches_.size()) return;
  IoWatcher* watcher = watches_[static_cast<std::size_t>(fd)].watcher;
  if (watcher) watcher->on_io(fd, events);
}

void IoLoop::drain_wake() {
  std::uint64_t count;
  while (::read(wake_fd_, &count, sizeof count) > 0) {
  }
}

void IoLoop::defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

bool IoLoop::post(std::function<void()> fn) {
  bool wake;
  {
    std::lock_guard lock(posted_mutex_);
    if (stopped_) return false;
    posted_.push_back(std::move(fn));
    // One wake-up per batch: the loop takes the whole queue at once.
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (wake && wake_fd_ >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  return true;
}

void IoLoop::finish_round() {
  for (;;) {
    if (deferred_.empty()) {
      std::lock_guard lock(posted_mutex_);
      if (posted_.empty()) {
        wake_pending_ = false;
        return;
      }
      running_.swap(posted_);
      wake_pending_ = false;
    } else {
      running_.swap(deferred_);
    }
    // What these run may defer or post more (also when the scope closes and
    // its writes go out): the next pass takes it.
    {
      RoundScope round;
      for (auto& fn : running_) run_logging_exceptions("loop", "a loop task", fn);
    }
    running_.clear();
  }
}

void IoLoop::stop() {
  {
    std::lock_guard lock(posted_mutex_);
    stopped_ = true;
  }
  IoLoop* previous = t_current;
  t_current = this;  // what runs now may defer: it belongs to this loop
  finish_round();
  t_current = previous;
}

}  // namespace llmux::host
