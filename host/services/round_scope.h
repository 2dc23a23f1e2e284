// Work deferred to the end of an event loop's round.
//
// An event loop that delivers many small pieces of work per wake-up (the HTTP
// engine: one curl_multi_perform round hands every transfer's new bytes to its
// handler) opens a RoundScope around the round. Code running inside it on the
// same thread may defer an action to the scope's end instead of doing it at
// once; a client channel does this with its socket writes, so the 20 events of
// an upstream SSE burst leave in one send() instead of 20.
//
// Scopes nest (only the outermost one runs the deferred items) and are per
// thread. Items deferred while the deferred items run (a drain waiter that
// writes again) run in the same scope end. Without a scope nothing is deferred.
#pragma once

#include <memory>

namespace llmux::host {

class Deferred {
 public:
  virtual ~Deferred() = default;
  // Runs once per defer() on the thread that closes the outermost scope.
  virtual void run_deferred() = 0;
};

class RoundScope {
 public:
  RoundScope();
  ~RoundScope();  // the outermost scope runs what was deferred
  RoundScope(const RoundScope&) = delete;
  RoundScope& operator=(const RoundScope&) = delete;

  // True while a scope is open on this thread.
  static bool active() noexcept;
  // Runs `item->run_deferred()` when this thread's outermost scope ends (the
  // item is kept alive until then). Only valid while active().
  static void defer(std::shared_ptr<Deferred> item);
};

}  // namespace llmux::host
