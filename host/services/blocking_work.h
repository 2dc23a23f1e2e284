// A thread for work that blocks (file writes with fsync, config reloads that
// load plugins and start providers, credential writes): an admin request
// handed in here leaves its I/O thread free for the other connections and
// answers later (admin::reply_later). Jobs run one at a time, in order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace llmux::host {

class BlockingWork {
 public:
  BlockingWork() = default;
  // Finishes the queued jobs, then stops.
  ~BlockingWork();
  BlockingWork(const BlockingWork&) = delete;
  BlockingWork& operator=(const BlockingWork&) = delete;

  // Runs `job` on the worker thread (started on first use). A job that throws
  // is logged and dropped.
  void post(std::function<void()> job);
  // Returns once every job posted before it has run (not from a job).
  void drain();

 private:
  void run();

  std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<std::function<void()>> jobs_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace llmux::host
