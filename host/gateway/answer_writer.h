// The seam between the router and an inbound API: an AnswerWriter renders one
// request's answer in the client's wire format and writes it to the client's
// channel. It renders into a buffer; flush() hands the buffer to the channel,
// so events a provider emits in one burst (e.g. synchronously inside chat())
// leave in one write.
//
// The commit rule lives here, and only here: committed() is true once any byte
// of the answer reached the client. Before it, the exchange may retry or fall
// back (discard() forgets the failed attempt); after it, an error ends the
// answer in-band. Providers do not decide it: they ask it through
// ChatCall::committed(), which the exchange answers from this one.
#pragma once

#include <memory>
#include <string>

#include "llmux/event.h"
#include "observability/request_context.h"
#include "server/client_channel.h"

namespace llmux::host {

// What every writer of one answer needs: where to write, and the request's
// context (its id for x-request-id; status, timings, usage and bytes go back into it).
struct AnswerContext {
  std::shared_ptr<ClientChannel> channel;
  std::shared_ptr<RequestContext> request;
  bool close_connection = false;
};

class AnswerWriter {
 public:
  virtual ~AnswerWriter() = default;
  // A provider starts on the request (first or fallback attempt).
  virtual void begin_attempt(const std::string& provider_name) = 0;
  // One event of the answering provider, in order. After commit an Error event
  // must end the answer well-formed (mid-stream error framing).
  virtual void on_event(const Event& event) = 0;
  // True once any byte of the answer reached the client: no fallback after.
  virtual bool committed() const = 0;
  // Drop what was gathered for an attempt that failed before commit.
  virtual void discard() = 0;
  // No provider answered: write `error` as the whole response.
  virtual void fail(const Error& error) = 0;
  // True once the answer is complete (terminal event written or failed).
  virtual bool finished() const = 0;
  // Writes what was rendered since the last flush.
  virtual void flush() = 0;
};

// Headers every answer carries: which provider answered, and the request id.
inline std::string answer_headers(const std::string& provider, const std::string& request_id) {
  std::string out;
  out.reserve(64 + provider.size() + request_id.size());
  if (!provider.empty()) out.append("x-llmux-provider: ").append(provider).append("\r\n");
  out.append("x-request-id: ").append(request_id).append("\r\n");
  return out;
}

}  // namespace llmux::host
