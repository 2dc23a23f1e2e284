// The first to see a connection's bytes: a Pistache handler in front of
// llmux's HTTP handler that refuses an oversize request (head over 64 KiB,
// Content-Length over max_body, chunk sizes adding up past it) before Pistache
// buffers or parses it, and passes every other byte on unchanged.
//
// Why a handler in front rather than a hook: Pistache's Http::Handler parses
// in onInput(), a private override of the public Tcp::Handler::onInput, and a
// subclass cannot call that override non-virtually. So the gate is the
// handler Pistache calls, and each worker's HTTP handler is a second object
// reached through the public Tcp::Handler interface. It is made as a copy of
// the worker's gate, which carries Pistache's tie to the worker's transport
// (Tcp::Handler's copy copies it) and the request limits.
//
// A refusal is the API's own JSON error (OpenAI or Anthropic shape, by path as
// the router decides it) with x-request-id and Connection: close, written
// straight to the socket (SocketChannel, never blocking the event loop); then
// the socket is shut down both ways (SocketChannel::end_after_sent): Pistache
// drains what was already queued, unparsed, sees EOF and closes; the rest of
// the body is never read (a client still sending gets a reset).
#pragma once

#include <pistache/http.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "server/request_limit.h"

namespace llmux::host {

class SocketChannel;
class Observability;
class RequestContext;

// The response refusing the request `limit` stopped (its verdict is not Pass),
// in the shape of the API registered for its path. Fills `context` when given.
std::string refusal_response(const RequestLimit& limit, RequestContext* context = nullptr);

class RequestGate final : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(RequestGate)

  // Makes a worker's HTTP handler as a copy of `base`, the worker's gate.
  using MakeHandler =
      std::function<std::shared_ptr<Pistache::Http::Handler>(const Pistache::Http::Handler& base)>;

  // `observability` (may be null): refused requests are counted and logged.
  RequestGate(std::uint64_t max_body_bytes, MakeHandler make_handler, Observability* observability = nullptr);
  // Pistache clones the gate per worker: each clone makes its own HTTP handler
  // and keeps its own connections.
  RequestGate(const RequestGate& other);
  ~RequestGate() override;

  // Never called: requests are parsed by the HTTP handler, not by the gate.
  void onRequest(const Pistache::Http::Request& request, Pistache::Http::ResponseWriter response) override;
  void onDisconnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;

 private:
  struct Connection {
    Connection(std::uint64_t max_body, const std::shared_ptr<Pistache::Tcp::Peer>& peer)
        : limit(max_body), peer(peer) {}
    RequestLimit limit;
    std::weak_ptr<Pistache::Tcp::Peer> peer;  // expired: Pistache dropped it without telling (timeouts)
    std::shared_ptr<SocketChannel> refusal;  // once refused: closed before Pistache closes the fd
    bool held = false;  // a byte the parser must get with the next read (RequestLimit::hold_back)
    char held_byte = 0;
  };

  void onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  void pass(Connection& connection, const char* bytes, size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  void refuse(Connection& connection, const Pistache::Tcp::Peer& peer);
  void sweep();  // forgets connections Pistache dropped without onDisconnection

  std::uint64_t max_body_;
  MakeHandler make_handler_;
  Observability* observability_;
  std::shared_ptr<Pistache::Http::Handler> http_;  // this worker's HTTP handler
  // Per worker (each runs on its own event loop): no lock needed.
  std::unordered_map<const Pistache::Tcp::Peer*, Connection> connections_;
  std::size_t sweep_at_ = 64;  // connections_ size that triggers the next sweep
};

}  // namespace llmux::host
