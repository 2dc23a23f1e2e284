#include "server/request_gate.h"

#include <pistache/peer.h>

#include <algorithm>
#include <utility>

#include "api/openai_api.h"
#include "llmux/codec/anthropic.h"
#include "llmux/codec/openai.h"
#include "server/client_channel.h"
#include "services/log.h"

namespace llmux::host {
namespace {

using namespace Pistache;

// Whose error shape a refused request gets, decided as Handler::route decides
// it: the Messages paths are Anthropic's, the OpenAI and operations paths
// OpenAI's, any other path Anthropic's when the client sent anthropic-version.
bool anthropic_shape(std::string_view target, bool anthropic_version) {
  target = target.substr(0, target.find('?'));
  if (target.rfind("/v1/messages", 0) == 0) return true;
  static constexpr std::string_view kOpenAIPaths[] = {"/v1/chat/completions", "/chat/completions", "/v1/models",
                                                      "/models", "/", "/healthz", "/status", "/api/tokens"};
  for (std::string_view path : kOpenAIPaths) {
    if (target == path) return false;
  }
  return anthropic_version;
}

// Tcp::Handler's interface is public where Http::Handler's overrides are private.
Tcp::Handler& tcp(Http::Handler& handler) { return handler; }

}  // namespace

std::string refusal_response(const RequestLimit& limit) {
  const bool anthropic = anthropic_shape(limit.target(), limit.anthropic_version());
  const std::string max_body = std::to_string(limit.max_body());
  Error error;
  if (limit.verdict() == RequestLimit::Verdict::HeadTooLarge) {
    error = Error::make(431, anthropic ? "request_too_large" : "invalid_request_error",
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
    error = Error::make(413, anthropic ? "request_too_large" : "invalid_request_error", std::move(message),
                        "request_too_large");
  }
  std::string request_id(limit.request_id());
  if (request_id.empty()) request_id = new_completion_id().replace(0, 9, "req_");  // "chatcmpl-" -> "req_"
  std::string headers = "x-request-id: " + request_id + "\r\n";
  return make_response(error.status, "application/json",
                       anthropic ? anthropic::render_error(error) : openai::render_error(error), headers,
                       /*close_connection=*/true);
}

RequestGate::RequestGate(std::uint64_t max_body_bytes, MakeHandler make_handler)
    : max_body_(max_body_bytes), make_handler_(std::move(make_handler)) {}

RequestGate::RequestGate(const RequestGate& other)
    : Http::Handler(other), max_body_(other.max_body_), make_handler_(other.make_handler_) {}

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
  connection.refusal = std::make_shared<SocketChannel>(peer.fd());
  connection.refusal->write(refusal_response(limit));
  connection.refusal->end_after_sent();
}

}  // namespace llmux::host
