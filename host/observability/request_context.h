// One object per request, created at the front door and carried through
// routing, every attempt and the answer. The metrics and the access log read
// it when the request ends; nothing else recomputes these figures.
//
// Threading: the door fills it before the request is routed; afterwards the
// exchange and its answer writer update it under the exchange's writer lock
// (events of a call are sequential). finish() runs exactly once, whoever gets
// there first (the answer's end, the client leaving, or the exchange dying).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"

namespace llmux::host {

// How a request ended, from the operator's point of view.
enum class Outcome {
  Ok,             // answered in full (a 4xx/5xx relayed from the upstream counts as upstream_error)
  ClientAbort,    // the client left before the end
  UpstreamError,  // no provider answered, or the answer ended with an error
  Timeout,        // ... and the last failure was a timeout
  Rejected,       // llmux refused it before any provider (auth, size, parse, unknown model or path)
};
const char* to_string(Outcome outcome) noexcept;

struct AttemptRecord {
  std::string provider;
  std::string outcome;  // "ok", "error", "skipped", "cancelled"
  int status = 0;       // the HTTP status the attempt ended with (0: none)
  std::chrono::microseconds duration{0};
};

class RequestContext;

// What watches requests (metrics, access log): told when a streamed answer's
// head goes out, and once when the request ends.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void stream_started(const RequestContext& context) = 0;
  virtual void request_finished(const RequestContext& context) = 0;
};

class RequestContext {
 public:
  using Clock = std::chrono::steady_clock;

  // `observer` may be null (no observability: unit tests).
  explicit RequestContext(std::shared_ptr<RequestObserver> observer);
  ~RequestContext();  // ends it as a client abort if nobody did
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  // The door.
  std::string id;           // x-request-id on every answer
  std::string traceparent;  // passed on to upstreams
  std::string client;       // the client key's label, "-" without client keys (never the key)
  std::string api = "unknown";  // the inbound API's registered name ("openai.chat", ...), a bounded label
  bool traffic = true;          // InboundApi::traffic(): recorded in the panel's history
  Api dialect = Api::OpenAIChat;
  std::string method;
  std::string path;
  bool stream = false;
  std::uint64_t bytes_in = 0;
  bool metered = false;  // counted in the metrics (metrics.enabled when it arrived)

  // Routing.
  std::string model_requested;  // as the client wrote it (the access log keeps it, bounded)
  std::string model_label = "other";  // bounded (RouteTable::model_label)
  std::string route = "none";         // the matched route pattern, "default", or "none"
  std::vector<std::string> warnings;  // what the codec dropped or changed (ChatRequest::warnings)

  // Attempts and the answer.
  std::vector<AttemptRecord> attempts;
  std::string provider = "none";  // the provider that answered (or failed last)
  std::string model_answered;     // the model name that provider was asked for
  std::optional<Usage> usage;
  int status = 0;
  std::uint64_t bytes_out = 0;
  Clock::time_point started;
  std::optional<Clock::time_point> first_byte;   // the answer's head went out
  std::optional<Clock::time_point> first_token;  // streams: the first content event went out
  std::chrono::system_clock::time_point wall_started;

  // Recorders used by the writers and the exchange.
  void note_committed(int http_status, bool streamed) {
    status = http_status;
    if (first_byte) return;
    first_byte = Clock::now();
    if (streamed && observer_) {
      stream_open = true;
      observer_->stream_started(*this);
    }
  }
  bool stream_open = false;  // a streamed head went out (llmux_active_streams counts it)
  void note_first_token() {
    if (!first_token) first_token = Clock::now();
  }
  void note_usage(const Usage& u) { usage = u; }
  void note_written(std::size_t bytes) { bytes_out += bytes; }

  // Ends the request once: stamps the duration and tells the sink.
  void finish(Outcome outcome);
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  Outcome outcome() const { return outcome_; }
  std::chrono::microseconds duration() const { return duration_; }

  // Fallbacks: the steps after a failed attempt that moved to another provider.
  std::vector<std::pair<std::string, std::string>> fallbacks() const;

 private:
  std::shared_ptr<RequestObserver> observer_;
  std::atomic<bool> finished_{false};
  Outcome outcome_ = Outcome::Ok;
  std::chrono::microseconds duration_{0};
};

// Request ids and W3C trace context.
namespace request_id {
// The id for a request: the client's x-request-id when it is a sane token
// (1..128 visible ASCII characters), else the trace id of a valid
// traceparent, else 32 random hex digits.
std::string choose(std::optional<std::string_view> client_id, std::optional<std::string_view> traceparent);
// True for a version-00 traceparent ("00-<32 hex>-<16 hex>-<2 hex>", ids not all zero).
bool valid_traceparent(std::string_view text);
// A new traceparent: the trace id is `id` when it is 32 hex digits, else random.
std::string make_traceparent(std::string_view id);
}  // namespace request_id

}  // namespace llmux::host
