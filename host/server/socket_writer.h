// One process-wide thread that finishes writes the kernel could not take at
// once: it waits for EPOLLOUT on sockets with pending response bytes and lets
// their channel send more. Channels register only while they hold pending bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace llmux::host {

class SocketChannel;

class SocketWriter {
 public:
  static SocketWriter& instance();  // lives for the whole process

  // Watches `fd` for writability on behalf of `channel` (kept alive while
  // watched, so an answer's tail is not lost when its exchange ends). Returns
  // false if the fd cannot be watched (closed).
  bool watch(int fd, std::shared_ptr<SocketChannel> channel);
  void unwatch(int fd);

 private:
  SocketWriter();
  void run();

  int epoll_fd_ = -1;
  std::mutex mutex_;
  std::unordered_map<int, std::shared_ptr<SocketChannel>> watched_;  // by fd
  std::thread thread_;
};

}  // namespace llmux::host
