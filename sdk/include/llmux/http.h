// The host's HTTP client, offered to plugins through HostServices::http().
// The host's event loops drive every transfer: one started while serving a
// request (from Provider::chat) runs on that request's own I/O thread, one
// started from a timer on a host loop thread; a plugin never links an HTTP
// library or starts threads for I/O. Bodies stream both ways:
// the handler sees response bytes as they arrive and can pause the transfer
// when its client reads slowly.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmux {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Finds a header by case-insensitive name.
std::optional<std::string_view> find_header(const HttpHeaders& headers, std::string_view name);

// The wait an upstream asks for: `retry-after-ms` (milliseconds), else
// `Retry-After` (seconds or an HTTP date). Nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(const HttpHeaders& headers);

// Each limit is separate; zero disables it (for `connect`, zero means libcurl's
// own default of 300 s). A stream that keeps flowing is never cut by `idle`,
// and `total` is off by default for that reason.
struct HttpTimeouts {
  std::chrono::milliseconds connect{10'000};     // TCP (+TLS) connect
  std::chrono::milliseconds first_byte{60'000};  // request sent -> first response byte
  std::chrono::milliseconds idle{120'000};       // between response bytes once they flow
  std::chrono::milliseconds total{0};            // whole transfer
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;
  std::string body;
  HttpTimeouts timeouts;
  // Empty: the usual environment variables (https_proxy, http_proxy, no_proxy).
  std::string proxy;
  bool verify_tls = true;
  std::string ca_path;  // CA bundle file; empty = the system's
};

enum class HttpFailure {
  None,
  ConnectRefused,    // nothing listens there: not worth a backoff wait
  Connect,           // DNS, unreachable, TLS handshake, connect timeout
  FirstByteTimeout,
  IdleTimeout,
  TotalTimeout,
  Cut,               // the connection ended before the response was complete
  Cancelled,         // cancel() or a handler returning false
  Other,
};

const char* to_string(HttpFailure failure) noexcept;

struct HttpOutcome {
  HttpFailure failure = HttpFailure::None;
  std::string message;  // for logs and error messages; never contains request headers
  bool ok() const { return failure == HttpFailure::None; }
};

// Receives one transfer's response on the event-loop thread that runs the
// transfer, in order: on_response once when the status and headers are in
// (not at all if the transfer failed before), on_body for each piece,
// on_complete exactly once. Handlers must be quick and must not block: that
// thread also serves clients and every other transfer on it (hand slow work,
// such as durable writes, to HostServices::timers()). Never called from
// inside start(), cancel(), pause() or resume(): those take effect at the end
// of the loop's round at the earliest.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void on_response(int status, const HttpHeaders& headers) = 0;
  // Return false to stop the transfer (it completes as Cancelled).
  virtual bool on_body(std::string_view bytes) = 0;
  virtual void on_complete(const HttpOutcome& outcome) = 0;
};

// A transfer in flight. Every method may be called from any thread.
class HttpTransfer {
 public:
  virtual ~HttpTransfer() = default;
  // Stops the transfer and closes its connection; on_complete(Cancelled)
  // follows unless it had completed already.
  virtual void cancel() = 0;
  // Backpressure: once the pause takes effect no on_body starts and the
  // upstream connection is not read (TCP flow control slows the sender); from
  // inside on_body it takes effect at once, from another thread one on_body
  // already under way may still arrive. Idle timeouts do not run while paused.
  virtual void pause() = 0;
  virtual void resume() = 0;
};

// A whole response of bounded size, for small side calls (model listings).
struct CollectedResponse {
  int status = 0;  // 0 when no response arrived
  HttpHeaders headers;
  std::string body;
  HttpOutcome outcome;
  bool too_large = false;  // the body passed `max_body` and the transfer was stopped
  std::size_t max_body = 0;

  // Why this is not a usable 2xx answer ("" when it is): the transport
  // failure, "answer larger than N bytes", or "HTTP <status>: <body excerpt>".
  std::string problem() const;
};

// An HttpHandler that gathers the response (stopping the transfer once the
// body passes `max_body` bytes) and calls `done` once, from on_complete.
std::shared_ptr<HttpHandler> collect_response(std::size_t max_body,
                                              std::function<void(CollectedResponse&&)> done);

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Starts a transfer; the handler is kept alive until on_complete has returned.
  virtual std::shared_ptr<HttpTransfer> start(HttpRequest request, std::shared_ptr<HttpHandler> handler) = 0;
};

}  // namespace llmux
