// The host's HTTP client engine: a libcurl multi handle per event loop, driven
// by that loop's epoll (curl_multi_socket_action), never a thread per request.
// A transfer started on an attached loop's thread (a Pistache worker serving
// the request) runs on that loop; one started anywhere else runs on the
// engine's own loop thread. Connections are reused per loop and upstream
// (keep-alive pool of each multi handle); TLS is verified by default; proxies
// come from the environment or the request.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "llmux/http.h"

namespace llmux::host {

class IoLoop;

struct HttpEngineOptions {
  // 0 = no limit. A limit would make the next LLM stream to a busy upstream
  // wait inside curl, with no timeout of ours running, until a stream ends.
  std::size_t max_connections_per_host = 0;
  std::size_t max_total_connections = 0;
  std::chrono::seconds keepalive_idle{60};  // an idle pooled connection is closed after this
  // Idle connections each loop keeps for reuse (curl's connection cache).
  // Above it the oldest are closed when a transfer ends: after a burst of
  // 10,000 streams a loop does not keep 5,000 sockets and their buffers.
  std::size_t max_idle_connections = 128;
  // curl's receive buffer per transfer (its default is 16 KiB). It is most of
  // what a held-open stream costs: 8 KiB still takes a whole fast SSE answer
  // in one read, and 10,000 streams save 80 MB against the default.
  long receive_buffer_bytes = 8 * 1024;
};

class HttpEngine final : public HttpClient {
 public:
  explicit HttpEngine(HttpEngineOptions options = {});
  // Cancels every transfer (handlers get on_complete(Cancelled)) and joins the
  // own loop's thread. Every attached loop must have been detached.
  ~HttpEngine() override;
  HttpEngine(const HttpEngine&) = delete;
  HttpEngine& operator=(const HttpEngine&) = delete;

  std::shared_ptr<HttpTransfer> start(HttpRequest request, std::shared_ptr<HttpHandler> handler) override;

  std::size_t active_transfers() const;
  std::uint64_t transfers_started() const;

  // Transfers started on `loop`'s thread run on it from now on. Call before
  // the loop runs (or on its thread).
  void attach(IoLoop& loop);
  // After `loop`'s thread has ended: runs what was posted to it, then ends
  // its transfers (on_complete(Cancelled)) on the calling thread.
  void detach(IoLoop& loop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmux::host
