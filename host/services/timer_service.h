// One thread that runs one-shot timers in deadline order. Plugins reach it
// through the Timers interface of their HostServices.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace llmux::host {

class TimerService {
 public:
  using Clock = std::chrono::steady_clock;
  using Id = std::uint64_t;

  TimerService();
  ~TimerService();  // stops the thread; pending timers are dropped unrun
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  // `anchor` is kept alive until the callback has run or been dropped: it holds
  // the plugin library that the callback's code lives in.
  Id schedule(std::chrono::milliseconds delay, std::function<void()> callback,
              std::shared_ptr<const void> anchor = nullptr);
  bool cancel(Id id);
  std::size_t pending() const;

 private:
  struct Entry {
    std::shared_ptr<const void> anchor;  // declared first: destroyed after the callback
    std::function<void()> callback;
  };
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::multimap<Clock::time_point, Id> by_deadline_;
  std::unordered_map<Id, std::pair<Clock::time_point, Entry>> entries_;
  Id next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace llmux::host
