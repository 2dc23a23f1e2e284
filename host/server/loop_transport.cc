#include "server/loop_transport.h"

#include <exception>

#include "services/log.h"
#include "services/round_scope.h"

namespace llmux::host {

using namespace Pistache;

// An IoLoop whose poller is a Pistache worker's epoll.
class WorkerLoop final : public IoLoop {
 public:
  explicit WorkerLoop(Polling::Epoll& poller) : poller_(&poller) {}

  // The worker has ended and its poller goes with it: from now on the loop's
  // descriptors are closed by their owners without unregistering.
  void forget_poller() noexcept { poller_ = nullptr; }

  bool start() { return open_wake(); }
  void enter_round() noexcept { enter(); }
  void dispatch_event(std::uint64_t tag, unsigned events) { dispatch(tag, events); }
  void end_round() { finish_round(); }

 protected:
  bool poll_add(int fd, unsigned interest) override { return control(fd, interest, /*modify=*/false); }
  bool poll_modify(int fd, unsigned interest) override { return control(fd, interest, /*modify=*/true); }
  void poll_remove(int fd) override {
    if (!poller_) return;
    try {
      poller_->removeFd(fd);
    } catch (const std::exception&) {
      // Already gone from the epoll set (closed): nothing to undo.
    }
  }

 private:
  bool control(int fd, unsigned interest, bool modify) {
    if (!poller_) return false;
    Flags<Polling::NotifyOn> flags;
    if (interest & kRead) flags.setFlag(Polling::NotifyOn::Read);
    if (interest & kWrite) flags.setFlag(Polling::NotifyOn::Write);
    const Polling::Tag tag(static_cast<std::uint64_t>(fd) | kTagMark);
    try {
      if (modify) {
        poller_->rearmFd(fd, flags, tag);
      } else {
        poller_->addFd(fd, flags, tag);
      }
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  Polling::Epoll* poller_;
};

LoopTransport::LoopTransport(const std::shared_ptr<Tcp::Handler>& handler, std::shared_ptr<WorkerLoops> shared)
    : Http::TransportImpl(handler), handler_(handler), shared_(std::move(shared)) {
  setHeaderTimeout(shared_->header_timeout);
  setBodyTimeout(shared_->body_timeout);
  setKeepaliveTimeout(shared_->keepalive_timeout);
}

LoopTransport::~LoopTransport() {
  // Pistache destroys a worker's transport after joining its thread, and the
  // poller right after.
  if (loop_) loop_->forget_poller();
}

std::shared_ptr<Aio::Handler> LoopTransport::clone() const {
  return std::make_shared<LoopTransport>(handler_->clone(), shared_);
}

void LoopTransport::registerPoller(Polling::Epoll& poller) {
  Http::TransportImpl::registerPoller(poller);
  auto loop = std::make_shared<WorkerLoop>(poller);
  if (!loop->start()) {
    Log::write(LogLevel::Error, "http", "a worker loop could not open its wake-up descriptor; "
                                        "its requests use the shared HTTP loop");
    return;
  }
  loop_ = loop;
  if (shared_->on_loop) shared_->on_loop(*loop_);
  std::lock_guard lock(shared_->mutex);
  shared_->loops.push_back(loop_);
}

void LoopTransport::onReady(const Aio::FdSet& fds) {
  if (!loop_) {
    Http::TransportImpl::onReady(fds);
    return;
  }
  loop_->enter_round();
  dispatch_round(fds);
  loop_->end_round();
}

void LoopTransport::dispatch_round(const Aio::FdSet& fds) {
  bool ours = false;
  for (const auto& entry : fds) {
    if (entry.getTag().value() & IoLoop::kTagMark) {
      ours = true;
      break;
    }
  }
  if (!ours) {
    Http::TransportImpl::onReady(fds);
    return;
  }
  rest_.clear();
  {
    // Upstream events: what they write to clients leaves when the scope
    // ends, one send per client however many pieces arrived. Pistache's
    // share below runs outside it, as it always did: a refusal written while
    // a client is still sending must reach the socket (and shut it) before
    // Pistache reads on.
    RoundScope round;
    for (const auto& entry : fds) {
      const auto tag = entry.getTag();
      if (tag.value() & IoLoop::kTagMark) {
        unsigned events = 0;
        if (entry.isReadable()) events |= IoLoop::kRead;
        if (entry.isWritable()) events |= IoLoop::kWrite;
        // Pistache drops EPOLLERR from an event's flags: an event with no
        // flag left is an error or a hang-up, which a read reports.
        if (entry.isHangup() || events == 0) events |= IoLoop::kRead | IoLoop::kError;
        loop_->dispatch_event(tag.value(), events);
      } else {
        Polling::Event event(tag);
        if (entry.isReadable()) event.flags.setFlag(Polling::NotifyOn::Read);
        if (entry.isWritable()) event.flags.setFlag(Polling::NotifyOn::Write);
        if (entry.isHangup()) event.flags.setFlag(Polling::NotifyOn::Hangup);
        rest_.push_back(event);
      }
    }
  }
  if (!rest_.empty()) Http::TransportImpl::onReady(Aio::FdSet(std::move(rest_)));
}

}  // namespace llmux::host
