// Gives back to the system what a burst freed.
//
// glibc keeps freed memory in its arenas (one per thread that allocated), so
// after 10,000 streams have ended the process still holds the pages they
// used. Every `period` this checks how much the arenas hold free; above
// `threshold`, with work done since the last trim, and with no request or
// transfer in flight (or above `busy_threshold` even then), it calls
// malloc_trim(0), which returns every whole free page of every arena. It runs on the timer thread, never on an
// I/O thread: a trim of a large heap takes milliseconds and locks each arena
// in turn.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "services/timer_service.h"

namespace llmux::host {

class IdleTrim {
 public:
  struct Options {
    std::chrono::milliseconds period{10'000};
    std::size_t threshold = 8u << 20;        // free bytes held before a trim is worth it
    std::size_t busy_threshold = 64u << 20;  // trimmed even while requests run
  };
  struct Load {
    std::size_t in_flight = 0;  // requests and transfers running now (0 = idle)
    std::uint64_t started = 0;  // requests and transfers started so far
  };
  IdleTrim(TimerService& timers, std::function<Load()> load, Options options);
  IdleTrim(TimerService& timers, std::function<Load()> load) : IdleTrim(timers, std::move(load), Options{}) {}
  ~IdleTrim();  // no check starts after this returns
  IdleTrim(const IdleTrim&) = delete;
  IdleTrim& operator=(const IdleTrim&) = delete;

  // One check, as the timer runs it. Returns true if it trimmed.
  bool check();
  // Free bytes the allocator holds (all arenas).
  static std::size_t held_free_bytes();
  std::size_t trims() const;

 private:
  // Shared with the timer's callback, which may be running when the owner goes.
  struct State {
    std::function<Load()> load;
    Options options;
    std::uint64_t started_at_last_trim = 0;
    std::mutex mutex;
    bool stopped = false;
    TimerService::Id timer = 0;
    std::size_t trims = 0;
  };
  static void schedule(TimerService& timers, const std::shared_ptr<State>& state);
  static bool check(State& state);

  TimerService& timers_;
  std::shared_ptr<State> state_;
};

}  // namespace llmux::host
