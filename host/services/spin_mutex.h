// A lock for critical sections of a few dozen nanoseconds taken from every
// I/O thread (the panel's request history): it spins instead of sleeping.
// std::mutex goes to the kernel on contention, and the futex sleep and wake
// cost two context switches, far more than the section it guards; measured,
// that made the history cost ~10 % of a mock request's throughput. Not for
// long sections: a waiter burns its CPU (after a while it yields).
#pragma once

#include <atomic>
#include <thread>

namespace llmux::host {

class SpinMutex {
 public:
  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          cpu_relax();
        } else {
          std::this_thread::yield();  // the holder was preempted, or a reader copies a lot
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace llmux::host
