// Gives back to the system what a burst freed.
//
// glibc keeps freed memory in its arenas (one per thread that allocated), so
// after 10,000 streams have ended the process still holds the pages they
// used. check() looks at how much the arenas hold free; above `threshold`,
// with work done since the last trim, and with no request or transfer in
// flight (or above `busy_threshold` even then), it calls malloc_trim(0),
// which returns every whole free page of every arena. llmux's housekeeping
// thread (main.cc, the one that watches the config file) calls it every 10 s:
// never an I/O thread, since a trim of a large heap takes milliseconds and
// locks each arena in turn.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>

namespace llmux::host {

class IdleTrim {
 public:
  struct Options {
    std::size_t threshold = 8u << 20;        // free bytes held before a trim is worth it
    std::size_t busy_threshold = 64u << 20;  // trimmed even while requests run
  };
  struct Load {
    std::size_t in_flight = 0;  // requests and transfers running now (0 = idle)
    std::uint64_t started = 0;  // requests and transfers started so far
  };
  IdleTrim(std::function<Load()> load, Options options) : load_(std::move(load)), options_(options) {}
  explicit IdleTrim(std::function<Load()> load) : IdleTrim(std::move(load), Options{}) {}

  // Trims if it is worth it now; returns true if it did.
  bool check();
  // Free bytes the allocator holds (all arenas; trimmed pages still count).
  static std::size_t held_free_bytes();
  std::size_t trims() const;

 private:
  const std::function<Load()> load_;
  const Options options_;
  mutable std::mutex mutex_;
  std::uint64_t started_at_last_trim_ = 0;
  std::size_t trims_ = 0;
};

}  // namespace llmux::host
