#include "services/idle_trim.h"

#include <malloc.h>

#include <string>

#include "services/log.h"

namespace llmux::host {

std::size_t IdleTrim::held_free_bytes() {
  struct mallinfo2 info = mallinfo2();
  return info.fordblks;
}

bool IdleTrim::check() {
  std::lock_guard lock(mutex_);
  const std::size_t held = held_free_bytes();
  if (held < options_.threshold) return false;
  // Trimmed pages still count as free: without new work they are gone already.
  const Load load = load_();
  if (load.started == started_at_last_trim_) return false;
  if (held < options_.busy_threshold && load.in_flight > 0) return false;
  started_at_last_trim_ = load.started;
  malloc_trim(0);
  ++trims_;
  Log::write(LogLevel::Debug, "memory",
             "returned freed memory to the system (" + std::to_string(held >> 20) + " MiB held free before)");
  return true;
}

std::size_t IdleTrim::trims() const {
  std::lock_guard lock(mutex_);
  return trims_;
}

}  // namespace llmux::host
