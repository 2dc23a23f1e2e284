// Holds the host state store's writes (FileStateStore's test hook, before each
// fsync) until released, so a test can show who waits for the disk and who
// does not. Process-wide while it lives.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "services/state_store.h"

namespace llmux::test {

class HeldWrites {
 public:
  // Holds writes of files whose name contains `match` ("" for all).
  explicit HeldWrites(std::string match = {}) : state_(std::make_shared<State>()) {
    host::FileStateStore::set_before_sync_for_tests(
        [state = state_, match = std::move(match)](const std::filesystem::path& file) {
          if (file.filename().string().find(match) == std::string::npos) return;
          std::unique_lock lock(state->mu);
          ++state->entered;
          state->changed.notify_all();
          // Bounded: a broken test must not hang the suite.
          state->changed.wait_for(lock, std::chrono::seconds(20), [&] { return state->released; });
        });
  }
  ~HeldWrites() {
    release();
    host::FileStateStore::set_before_sync_for_tests(nullptr);
  }
  HeldWrites(const HeldWrites&) = delete;
  HeldWrites& operator=(const HeldWrites&) = delete;

  // Waits until a write is being held; false on timeout.
  bool wait_held(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(state_->mu);
    return state_->changed.wait_for(lock, timeout, [&] { return state_->entered > 0; });
  }
  // A write is held now.
  bool holding() {
    std::lock_guard lock(state_->mu);
    return state_->entered > 0 && !state_->released;
  }
  void release() {
    std::lock_guard lock(state_->mu);
    state_->released = true;
    state_->changed.notify_all();
  }

 private:
  struct State {  // shared with the hook, which may still be returning after this object is gone
    std::mutex mu;
    std::condition_variable changed;
    int entered = 0;
    bool released = false;
  };
  std::shared_ptr<State> state_;
};

}  // namespace llmux::test
