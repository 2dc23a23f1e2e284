// One event-loop thread as the host's upstream I/O sees it: descriptors to
// watch, work to run on the loop (posted from any thread, or deferred to the
// end of the current round from the loop itself).
//
// Two drivers: the Pistache worker loops that accept client connections
// (server/loop_transport.h), so a request is served from the client's socket
// to the upstream and back on the thread that accepted it; and a plain epoll
// thread (server/epoll_loop.h) for HTTP transfers started where no worker loop
// runs (timers, tests, the engine used without a server).
//
// A round is one batch of ready descriptors: the driver opens a RoundScope
// (client writes of the round leave in one send per client), dispatches the
// descriptors, then runs what was deferred and posted.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace llmux::host {

class IoWatcher {
 public:
  virtual ~IoWatcher() = default;
  // `events`: IoLoop::kRead / kWrite / kError bits.
  virtual void on_io(int fd, unsigned events) = 0;
};

class IoLoop {
 public:
  enum : unsigned { kRead = 1, kWrite = 2, kError = 4 };

  IoLoop();
  virtual ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // The loop driving the calling thread, or nullptr.
  static IoLoop* current() noexcept;
  bool in_loop_thread() const noexcept { return current() == this; }

  // Loop thread only. Adds `fd` or changes its interest (kRead|kWrite; 0
  // keeps it registered with no interest). False if the poller refused it.
  bool watch(int fd, unsigned interest, IoWatcher* watcher);
  void unwatch(int fd);

  // Loop thread only: runs `fn` once the current round's descriptors have
  // been dispatched (no syscall; never inside the caller's stack).
  void defer(std::function<void()> fn);
  // Any thread: runs `fn` on the loop soon. False once the loop has stopped
  // (then `fn` never runs).
  bool post(std::function<void()> fn);

  // Set by the HTTP engine when it attaches to this loop (its per-loop state).
  void* engine_slot = nullptr;

  // Poller tags of this loop's descriptors: the descriptor with kTagMark set,
  // so a driver shared with other users (Pistache) tells its events apart.
  static constexpr std::uint64_t kTagMark = std::uint64_t{1} << 40;

 protected:
  virtual bool poll_add(int fd, unsigned interest) = 0;
  virtual bool poll_modify(int fd, unsigned interest) = 0;
  virtual void poll_remove(int fd) = 0;

  // For drivers: creates the wake-up descriptor and registers it. Call once
  // from the driver's setup, before the loop runs.
  bool open_wake();
  // For drivers: makes this loop the calling thread's current one.
  void enter() noexcept;
  // For drivers: dispatches one ready event of ours (tag with kTagMark).
  void dispatch(std::uint64_t tag, unsigned events);
  // For drivers: runs deferred and posted work until none is left, each pass
  // in a RoundScope of its own. Call after the round's RoundScope has closed:
  // its end (client writes, drain waiters) may defer more.
  void finish_round();

 public:
  // After the loop thread has ended (or before it ever ran): refuses further
  // posts and runs what was posted or deferred, on the calling thread.
  void stop();

 private:
  struct Watch {
    IoWatcher* watcher = nullptr;
    unsigned interest = 0;
  };
  void drain_wake();

  std::vector<Watch> watches_;  // by descriptor; loop thread only
  int wake_fd_ = -1;
  std::vector<std::function<void()>> deferred_;  // loop thread only
  std::vector<std::function<void()>> running_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  bool wake_pending_ = false;  // under posted_mutex_
  bool stopped_ = false;       // under posted_mutex_
};

}  // namespace llmux::host
