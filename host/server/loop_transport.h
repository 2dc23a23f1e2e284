// Pistache's worker loops, opened to the host's upstream I/O.
//
// Pistache runs one epoll loop per worker thread and gives no way to add
// descriptors of one's own to it. Its HTTP transport (Http::TransportImpl,
// exported by libpistache but declared only in its endpoint.cc) is what
// Http::Endpoint installs on every worker; LoopTransport derives from it and
// adds an IoLoop on the same poller: upstream sockets, timers and wake-ups
// registered through it arrive in the worker's own epoll_wait, tagged with
// IoLoop::kTagMark, and are dispatched before the rest of the round goes to
// Pistache. A request is then served from the client's socket to the
// upstream and back on the thread that accepted it.
//
// HttpServer uses Tcp::Listener directly (what Http::Endpoint wraps) so it can
// install this transport; Pistache's own header, body and keep-alive timeouts
// stay in force (they are TransportImpl's).
#pragma once

#include <pistache/http.h>
#include <pistache/transport.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "server/io_loop.h"

// As declared in Pistache 0.0.5's src/server/endpoint.cc (Debian's
// libpistache0 0.0.5+ds-3 exports its members). Only the data members and
// virtual functions matter for the layout of a derived class; they are copied
// exactly.
namespace Pistache::Http {
class TransportImpl : public Tcp::Transport {
 public:
  using Base = Tcp::Transport;
  explicit TransportImpl(const std::shared_ptr<Tcp::Handler>& handler);
  void registerPoller(Polling::Epoll& poller) override;
  void onReady(const Aio::FdSet& fds) override;
  void setHeaderTimeout(std::chrono::milliseconds timeout);
  void setBodyTimeout(std::chrono::milliseconds timeout);
  void setKeepaliveTimeout(std::chrono::milliseconds timeout);
  std::shared_ptr<Aio::Handler> clone() const override;

 private:
  std::shared_ptr<Tcp::Handler> handler_;
  std::chrono::milliseconds headerTimeout_;
  std::chrono::milliseconds bodyTimeout_;
  std::chrono::milliseconds keepaliveTimeout_;
  int timerFd;
};
}  // namespace Pistache::Http

namespace llmux::host {

class WorkerLoop;

// What every worker's transport shares: Pistache's timeouts, and the loops
// made so far (HttpServer detaches them after Pistache's workers have ended).
struct WorkerLoops {
  std::chrono::milliseconds header_timeout{};
  std::chrono::milliseconds body_timeout{};
  std::chrono::milliseconds keepalive_timeout{};
  std::function<void(IoLoop&)> on_loop;  // called once per worker loop, before it runs
  std::mutex mutex;
  std::vector<std::shared_ptr<IoLoop>> loops;
};

class LoopTransport final : public Pistache::Http::TransportImpl {
 public:
  LoopTransport(const std::shared_ptr<Pistache::Tcp::Handler>& handler, std::shared_ptr<WorkerLoops> shared);
  ~LoopTransport() override;

  void registerPoller(Pistache::Polling::Epoll& poller) override;
  void onReady(const Pistache::Aio::FdSet& fds) override;
  std::shared_ptr<Pistache::Aio::Handler> clone() const override;

 private:
  void dispatch_round(const Pistache::Aio::FdSet& fds);

  std::shared_ptr<Pistache::Tcp::Handler> handler_;  // the prototype our clones copy
  std::shared_ptr<WorkerLoops> shared_;
  std::shared_ptr<WorkerLoop> loop_;
  std::vector<Pistache::Polling::Event> rest_;  // Pistache's share of a mixed round (capacity kept)
};

}  // namespace llmux::host
