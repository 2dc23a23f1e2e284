#include "server/socket_writer.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "server/client_channel.h"
#include "services/log.h"

namespace llmux::host {

SocketWriter& SocketWriter::instance() {
  // Never destroyed: channels may outlive every other object at shutdown.
  static SocketWriter* writer = new SocketWriter();
  return *writer;
}

SocketWriter::SocketWriter() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epoll_fd_ < 0) {
    Log::write(LogLevel::Error, "http", std::string("epoll_create1 failed: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { run(); });
  thread_.detach();
}

bool SocketWriter::watch(int fd, std::shared_ptr<SocketChannel> channel) {
  std::lock_guard lock(mutex_);
  epoll_event event{};
  event.events = EPOLLOUT;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return false;
  watched_[fd] = std::move(channel);
  return true;
}

void SocketWriter::unwatch(int fd) {
  std::shared_ptr<SocketChannel> released;  // dropped outside the lock
  std::lock_guard lock(mutex_);
  auto it = watched_.find(fd);
  if (it == watched_.end()) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  released = std::move(it->second);
  watched_.erase(it);
}

void SocketWriter::run() {
  std::vector<epoll_event> events(64);
  for (;;) {
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      Log::write(LogLevel::Error, "http", std::string("epoll_wait failed: ") + std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      std::shared_ptr<SocketChannel> channel;
      {
        std::lock_guard lock(mutex_);
        auto it = watched_.find(events[i].data.fd);
        if (it != watched_.end()) channel = it->second;
      }
      if (channel) channel->on_writable();  // may unwatch (lock order: channel, then writer)
    }
  }
}

}  // namespace llmux::host
