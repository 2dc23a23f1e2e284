// An IoLoop on a thread of its own, with a plain epoll: where HTTP transfers
// run when they are started away from a Pistache worker loop (plugin timers,
// tests, the engine used without a server).
#pragma once

#include <string>
#include <thread>

#include "server/io_loop.h"

namespace llmux::host {

class EpollLoop final : public IoLoop {
 public:
  explicit EpollLoop(std::string name);  // the thread's name, at most 15 characters
  // Starts the thread. What the loop needs before it runs (IoLoop::watch, an
  // engine attached) is set up between construction and start().
  void start();
  // Ends the thread (what was posted stays queued until stop() or the destructor).
  void halt();
  // Stops the thread, then runs what was posted (see IoLoop::stop).
  ~EpollLoop() override;

 protected:
  bool poll_add(int fd, unsigned interest) override;
  bool poll_modify(int fd, unsigned interest) override;
  void poll_remove(int fd) override;

 private:
  void run();
  bool control(int op, int fd, unsigned interest);

  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::string name_;
  std::thread thread_;
};

}  // namespace llmux::host
