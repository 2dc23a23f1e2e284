#include "server/request_gate.h"

#include <pistache/peer.h>

#include <algorithm>
#include <utility>

#include "api/inbound_api.h"
#include "gateway/answer_writer.h"
#include "observability/observability.h"
#include "server/client_channel.h"
#include "services/log.h"

namespace llmux::host {
namespace {

using namespace Pistache;

// The refused request as the API registry sees it: its path (no query) and
// whether it carried anthropic-version. Its body is never read.
class RefusedRequest final : public InboundRequest {
 public:
  explicit RefusedRequest(const RequestLimit& limit)
      : path_(limit.target().substr(0, limit.target().find('?'))), anthropic_version_(limit.anthropic_version()) {}
  std::string_view method() const override { return "POST"; }
  std::string_view path() const override { return path_; }
  std::optional<std::string> header(std::string_view name) const override {
    if (anthropic_version_ && name == "anthropic-version") return std::string("2023-06-01");
    return std::nullopt;
  }
  std::string& body() override { return body_; }

 private:
  std::string_view path_;
  bool anthropic_version_;
  std::string body_;
};

// Tcp::Handler's interface is public where Http::Handler's overrides are private.
Tcp::Handler& tcp(Http::Handler& handler) { return handler; }

}  // namespace

std::string refusal_response(const RequestLimit& limit, RequestContext* context) {
  // The error shape is the one the API for this path writes (the registry's
  // rule, as for any other answer).
  RefusedRequest request(limit);
  const InboundApi* api = default_registry().find(request.path());
  const Dialect& dialect = api ? api->dialect(request) : dialect_for_unknown(request);
  const std::string max_body = std::to_string(limit.max_body());
  Error error;
  if (limit.verdict() == RequestLimit::Verdict::HeadTooLarge) {
    error = Error::make(431, "invalid_request_error",
                        "Request headers are larger than " + std::to_string(limit.max_head()) + " bytes.",
                        "request_headers_too_large");
  } else {
    std::string message =
        limit.chunked()
            ? "Request body is larger than " + max_body + " bytes: its chunks announce " +
                  std::to_string(limit.body_bytes()) + " bytes so far; the limit is " + max_body +
                  " bytes (max_body in providers.yaml)."
            : "Request body is " + std::to_string(limit.body_bytes()) + " bytes; the limit is " + max_body +
                  " bytes (max_body in providers.yaml).";
    error = Error::make(413, "invalid_request_error", std::move(message), "request_too_large");
  }
  std::optional<std::string_view> client_id;
  if (!limit.request_id().empty()) client_id = limit.request_id();
  const std::string id = request_id::choose(client_id, std::nullopt);
  std::string body = dialect.error_body(error);
  std::string response = make_response(error.status, "application/json", body, answer_headers({}, id),
                                       /*close_connection=*/true);
  if (context != nullptr) {
    context->id = id;
    context->api = api ? std::string(api->name()) : "unknown";
    context->dialect = dialect.api();
    context->method = "POST";
    context->path = std::string(request.path());
    context->bytes_in = limit.body_bytes();
    context->note_committed(error.status, false);
    context->note_written(response.size());
  }
  return response;
}

RequestGate::RequestGate(std::uint64_t max_body_bytes, MakeHandler make_handler, Observability* observability)
    : max_body_(max_body_bytes), make_handler_(std::move(make_handler)), observability_(observability) {}

RequestGate::RequestGate(const RequestGate& other)
    : Http::Handler(other),
      max_body_(other.max_body_),
      make_handler_(other.make_handler_),
      observability_(other.observability_) {}

RequestGate::~RequestGate() = default;

void RequestGate::onRequest(const Http::Request& /*request*/, Http::ResponseWriter /*response*/) {}

void RequestGate::onConnection(const std::shared_ptr<Tcp::Peer>& peer) {
  // Made at the worker's first connection, not in the copy constructor: Pistache
  // ties a clone to its transport only after copying it, so only now does a
  // copy of this gate carry the tie (and the limits Endpoint set).
  if (!http_) http_ = make_handler_(*this);
  // Pistache's timeouts drop a peer without onDisconnection. Its entry's
  // weak_ptr keeps the Peer's memory (make_shared), so no new peer gets that
  // address before sweep() forgets the entry; should one anyway, start afresh.
  auto [it, fresh] = connections_.try_emplace(peer.get(), max_body_, peer);
  if (!fresh) {
    if (it->second.refusal) it->second.refusal->close();
    connections_.erase(it);
    connections_.try_emplace(peer.get(), max_body_, peer);
  }
  if (connections_.size() >= sweep_at_) sweep();
  tcp(*http_).onConnection(peer);  // Pistache's request parser for the peer
}

void RequestGate::sweep() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->second.peer.expired()) {
      if (it->second.refusal) it->second.refusal->close();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
  sweep_at_ = std::max<std::size_t>(64, 2 * connections_.size());  // amortized: O(1) per connection
}

void RequestGate::onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) {
  auto it = connections_.find(peer.get());
  if (it == connections_.end()) {  // not seen connecting (cannot happen): no opinion
    tcp(*http_).onInput(buffer, len, peer);
    return;
  }
  Connection& connection = it->second;
  // Refused: what was queued before the shutdown is drained here, unparsed.
  if (connection.limit.verdict() != RequestLimit::Verdict::Pass) return;
  if (connection.limit.feed({buffer, len}) == RequestLimit::Verdict::Pass) {
    const std::size_t hold = connection.limit.hold_back();
    pass(connection, buffer, len - hold, peer);
    if (hold != 0) {
      connection.held = true;
      connection.held_byte = buffer[len - 1];
    }
    return;
  }
  // Earlier requests that ended in this read still go to the parser.
  pass(connection, buffer, connection.limit.accepted(), peer);
  refuse(connection, *peer);
}

void RequestGate::pass(Connection& connection, const char* bytes, size_t len,
                       const std::shared_ptr<Tcp::Peer>& peer) {
  if (len == 0) return;
  if (connection.held) {  // the held byte goes with this read's first one, in one piece
    const char joined[2] = {connection.held_byte, bytes[0]};
    connection.held = false;
    tcp(*http_).onInput(joined, 2, peer);
    ++bytes;
    --len;
    if (len == 0) return;
  }
  tcp(*http_).onInput(bytes, len, peer);
}

void RequestGate::onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) {
  auto it = connections_.find(peer.get());
  if (it != connections_.end()) {
    // Before Pistache closes the fd: the channel must never write to a reused number.
    if (it->second.refusal) it->second.refusal->close();
    connections_.erase(it);
  }
  if (http_) http_->onDisconnection(peer);
}

void RequestGate::refuse(Connection& connection, const Tcp::Peer& peer) {
  const RequestLimit& limit = connection.limit;
  if (Log::enabled(LogLevel::Info)) {
    Log::write(LogLevel::Info, "http",
               limit.verdict() == RequestLimit::Verdict::HeadTooLarge
                   ? "refused a request head over " + std::to_string(limit.max_head()) + " bytes"
                   : "refused a request body of " + std::to_string(limit.body_bytes()) + " bytes" +
                         (limit.chunked() ? " (chunked, announced so far)" : "") + "; max_body is " +
                         std::to_string(limit.max_body()));
  }
  // Counted and logged like any other request (outcome: rejected).
  std::shared_ptr<RequestContext> context = observability_ ? observability_->start_request() : nullptr;
  connection.refusal = std::make_shared<SocketChannel>(peer.fd());
  connection.refusal->write(refusal_response(limit, context.get()));
  connection.refusal->end_after_sent();
  if (context) context->finish(Outcome::Rejected);
}

}  // namespace llmux::host
