// The canonical answer: a provider delivers a sequence of events. A streamed
// answer renders each event as it comes; a non-streamed one collects them.
//
// Order contract for one call:
//   Role? Usage? (TextDelta | ReasoningDelta | ReasoningSignature | RedactedReasoning |
//                 ToolCallDelta | Embedding | Raw)* Usage? (Finish | Error)
//
// An embedding call (ChatRequest::embedding) answers with one Embedding event
// per input, in any order (index says which), then Usage and Finish.
//
// A provider that knows the prompt's token count before the first content
// reports a Usage then (an Anthropic stream's message_start shows it, where
// it would otherwise show an estimate); each Usage replaces the one before, so
// the last one (before the terminal event) holds the call's final figures.
//
// Raw is pass-through: bytes already in the wire format of the request's
// source_api (the provider speaks the client's API and forwards the upstream's
// answer untouched). A streamed call sends SSE frames as Raw events; a
// non-streamed call sends the whole body as one Raw event. Only a provider
// whose upstream speaks request().source_api may emit Raw, and a call that
// emits Raw emits no other content events (a terminal event still ends it).
// A streamed Raw event holds whole SSE events only (never a cut one), and a
// Raw call also emits a Usage event (read from the upstream's bytes) before its
// terminal event whenever the upstream reported usage: writers do not render
// it on pass-through, the host's request context reads it. The host renames
// the `model` in Raw answers back to the name the client asked for; a provider
// forwards the upstream's bytes as they are.
// Exactly one terminal event (Finish or Error) ends a call, unless the call was
// cancelled, in which case the provider may stop silently.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/http.h"

namespace llmux {

enum class FinishReason { Stop, Length, ToolCalls, ContentFilter, StopSequence };

// OpenAI spelling: "stop", "length", "tool_calls", "content_filter"
// (StopSequence is "stop" there; Anthropic says "stop_sequence").
const char* to_string(FinishReason reason) noexcept;

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::optional<std::int64_t> cache_read_tokens;
  std::optional<std::int64_t> cache_creation_tokens;
  std::optional<std::int64_t> reasoning_tokens;
};

// An error in provider-neutral form. `status` is the HTTP status the client
// should see; `type` and `code` follow OpenAI's vocabulary (the Anthropic codec
// maps them).
struct Error {
  int status = 500;
  std::string type = "server_error";  // invalid_request_error, authentication_error, rate_limit_error, ...
  std::string message;
  std::string code;   // optional machine code, e.g. "model_not_found"
  std::string param;  // optional request field the error is about
  // How the upstream call failed when no HTTP status came back (connect
  // refused, timeout, cut): the host's retry and cooldown policy reads it.
  HttpFailure transport = HttpFailure::None;
  // The upstream asked to wait this long before retrying (Retry-After).
  std::optional<std::chrono::milliseconds> retry_after;

  static Error make(int status, std::string type, std::string message, std::string code = {},
                    std::string param = {});
  static Error invalid_request(std::string message, std::string param = {}, std::string code = {});
  static Error unavailable(std::string message);  // 503: provider cannot serve now (fallback moves on)
  static Error upstream(int status, std::string message);
  // A transfer that failed without an HTTP status: 502 (connect, cut) or 504
  // (timeouts), with `transport` set. `who` names the provider in the message.
  static Error from_transport(const HttpOutcome& outcome, std::string_view who);
};

struct Event {
  enum class Kind {
    Role, TextDelta, ReasoningDelta, ReasoningSignature, RedactedReasoning, ToolCallDelta, Raw,
    Usage, Finish, Error, Embedding
  };
  Kind kind = Kind::TextDelta;
  // TextDelta, ReasoningDelta: the text; ReasoningSignature: the signature that
  // closes the current thinking block; RedactedReasoning: the opaque data;
  // ToolCallDelta: an arguments fragment; Raw: wire bytes.
  std::string text;
  int index = 0;            // ToolCallDelta: which tool call (0-based, distinct per call); Embedding: which input
  std::string id;           // ToolCallDelta: set on the first delta of a call
  std::string name;         // ToolCallDelta: set on the first delta of a call
  llmux::Usage usage;       // Usage
  FinishReason finish = FinishReason::Stop;  // Finish
  llmux::Error error;       // Error
  std::vector<float> embedding;  // Embedding: the vector

  bool terminal() const noexcept { return kind == Kind::Finish || kind == Kind::Error; }
  // Something the client sees as answer content (a streamed answer commits with the first one).
  bool content() const noexcept {
    switch (kind) {
      case Kind::TextDelta:
      case Kind::ReasoningDelta:
      case Kind::ReasoningSignature:
      case Kind::RedactedReasoning:
      case Kind::ToolCallDelta:
      case Kind::Raw:
      case Kind::Embedding:
        return true;
      default:
        return false;
    }
  }

  static Event role() { Event e; e.kind = Kind::Role; return e; }
  static Event text_delta(std::string t) { Event e; e.kind = Kind::TextDelta; e.text = std::move(t); return e; }
  static Event reasoning_delta(std::string t) {
    Event e; e.kind = Kind::ReasoningDelta; e.text = std::move(t); return e;
  }
  static Event reasoning_signature(std::string signature) {
    Event e; e.kind = Kind::ReasoningSignature; e.text = std::move(signature); return e;
  }
  static Event redacted_reasoning(std::string data) {
    Event e; e.kind = Kind::RedactedReasoning; e.text = std::move(data); return e;
  }
  static Event raw(std::string bytes) { Event e; e.kind = Kind::Raw; e.text = std::move(bytes); return e; }
  static Event tool_call_delta(int index, std::string id, std::string name, std::string arguments) {
    Event e; e.kind = Kind::ToolCallDelta; e.index = index; e.id = std::move(id);
    e.name = std::move(name); e.text = std::move(arguments); return e;
  }
  static Event embedding_of(int index, std::vector<float> vector) {
    Event e; e.kind = Kind::Embedding; e.index = index; e.embedding = std::move(vector); return e;
  }
  static Event usage_report(llmux::Usage u) { Event e; e.kind = Kind::Usage; e.usage = u; return e; }
  static Event finished(FinishReason r) { Event e; e.kind = Kind::Finish; e.finish = r; return e; }
  static Event failed(llmux::Error err) { Event e; e.kind = Kind::Error; e.error = std::move(err); return e; }
};

}  // namespace llmux
