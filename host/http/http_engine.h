// The host's HTTP client engine: libcurl multi driven by one event-loop thread
// (curl_multi_poll / curl_multi_wakeup), never a thread per request. Other
// threads hand it work (start, cancel, pause, resume) through a queue and wake
// it. Connections are reused per upstream (keep-alive pool of the multi
// handle); TLS is verified by default; proxies come from the environment or
// the request.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "llmux/http.h"

namespace llmux::host {

struct HttpEngineOptions {
  // 0 = no limit. A limit would make the next LLM stream to a busy upstream
  // wait inside curl, with no timeout of ours running, until a stream ends.
  std::size_t max_connections_per_host = 0;
  std::size_t max_total_connections = 0;
  std::chrono::seconds keepalive_idle{60};  // an idle pooled connection is closed after this
  // curl's receive buffer per transfer (its default is 16 KiB). It is most of
  // what a held-open stream costs: 8 KiB still takes a whole fast SSE answer
  // in one read, and 10,000 streams save 80 MB against the default.
  long receive_buffer_bytes = 8 * 1024;
};

class HttpEngine final : public HttpClient {
 public:
  explicit HttpEngine(HttpEngineOptions options = {});
  // Cancels every transfer (handlers get on_complete(Cancelled)) and joins the thread.
  ~HttpEngine() override;
  HttpEngine(const HttpEngine&) = delete;
  HttpEngine& operator=(const HttpEngine&) = delete;

  std::shared_ptr<HttpTransfer> start(HttpRequest request, std::shared_ptr<HttpHandler> handler) override;

  std::size_t active_transfers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmux::host
