#include "server/epoll_loop.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

#include "services/round_scope.h"

namespace llmux::host {
namespace {

std::uint32_t epoll_events(unsigned interest) {
  std::uint32_t events = 0;
  if (interest & IoLoop::kRead) events |= EPOLLIN;
  if (interest & IoLoop::kWrite) events |= EPOLLOUT;
  return events;
}

}  // namespace

EpollLoop::EpollLoop(std::string name) : name_(std::move(name)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || stop_fd_ < 0) throw std::runtime_error("cannot create the HTTP event loop");
  epoll_event stop{};
  stop.events = EPOLLIN;
  stop.data.u64 = static_cast<std::uint64_t>(stop_fd_);  // no kTagMark: not an IoLoop descriptor
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &stop);
  if (!open_wake()) throw std::runtime_error("cannot create the HTTP event loop's wake-up descriptor");
}

void EpollLoop::start() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
}

EpollLoop::~EpollLoop() {
  halt();
  stop();
  ::close(stop_fd_);
  ::close(epoll_fd_);
}

void EpollLoop::halt() {
  if (!thread_.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  thread_.join();
}

bool EpollLoop::control(int op, int fd, unsigned interest) {
  epoll_event event{};
  event.events = epoll_events(interest);
  event.data.u64 = static_cast<std::uint64_t>(fd) | kTagMark;
  return ::epoll_ctl(epoll_fd_, op, fd, &event) == 0;
}

bool EpollLoop::poll_add(int fd, unsigned interest) { return control(EPOLL_CTL_ADD, fd, interest); }

bool EpollLoop::poll_modify(int fd, unsigned interest) { return control(EPOLL_CTL_MOD, fd, interest); }

void EpollLoop::poll_remove(int fd) { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void EpollLoop::run() {
  enter();
  epoll_event events[128];
  for (;;) {
    int ready = ::epoll_wait(epoll_fd_, events, 128, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    bool stopping = false;
    {
      RoundScope round;  // the round's client writes leave when it ends
      for (int i = 0; i < ready; ++i) {
        std::uint64_t tag = events[i].data.u64;
        if (!(tag & kTagMark)) {
          stopping = true;  // the stop descriptor
          continue;
        }
        unsigned what = 0;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) what |= kRead;
        if (events[i].events & EPOLLOUT) what |= kWrite;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) what |= kError;
        dispatch(tag, what);
      }
    }
    finish_round();
    if (stopping) return;
  }
}

}  // namespace llmux::host
