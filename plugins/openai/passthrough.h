// Pass-through for OpenAI in -> OpenAI upstream: the client's body goes up
// with only the model renamed (and, for a stream, usage asked for), and the
// upstream's answer comes back as its own bytes (Event::Kind::Raw), checked
// but not rewritten. The host puts the client's model name back
// (llmux/codec/raw_answer.h); nothing else is parsed or re-rendered.
//
// What the client sees differs from the re-rendered path in these ways (all
// as if it had called the upstream itself): the upstream's `id`, `created`,
// `system_fingerprint`, every member llmux does not model, comments and
// event lines. What llmux still guarantees:
// - A whole answer goes out only once it is a well-formed chat.completion; a
//   stream only once its first data frame is a JSON object (or [DONE]).
//   Anything else, or an error object from the upstream, fails the attempt
//   (502, or the upstream's error) before anything is sent, so the next step
//   of the chain can answer.
// - Usage: a streamed request always asks the upstream for usage
//   (stream_options.include_usage); the usage-only chunk reaches the client
//   only when it asked for it. The provider reports usage to the host (a
//   Usage event) either way.
// - After the first frame, a frame that is not valid JSON, or the upstream's
//   own error object, ends the stream: the provider emits one Error (the
//   host writes one error chunk, then [DONE]) and stops reading. A frame
//   whose data is empty is dropped (clients would read it as broken JSON).
// - A stream that ends without `data: [DONE]` ends with an error event and
//   [DONE] from llmux, so a cut is never a clean end.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"
#include "llmux/json_scan.h"

namespace llmux::openai_compat::passthrough {

// The body to send for `request` when it can pass through (OpenAI chat in for
// a chat upstream, or a legacy completion in for an upstream /completions; the
// original body kept, no step parameters applied since it was parsed, member
// names plain); nullopt means "render it". The model is renamed; a streamed
// request gets `stream_options.include_usage: true` (added, or merged into
// the client's own stream_options); `provider_member` (g4f) is added when not
// empty and the body has no "provider". A routing-only request (the host did
// not parse it: ChatRequest::parsed false) has nothing to compare with, and
// its other repeated members stay the client's.
std::optional<std::string> upstream_body(const ChatRequest& request, std::string_view provider_member);

// The body to send to {base_url}/responses for `request` when it can pass
// through natively (Responses in, the original body kept, a plain string
// "model" member): the client's own, byte for byte, with only the model
// renamed (and `provider_member` added as upstream_body does); nullopt means
// "translate it" (the request goes to /chat/completions instead).
std::optional<std::string> responses_body(const ChatRequest& request, std::string_view provider_member);

// A whole non-streamed answer, checked.
struct CheckedCompletion {
  std::string problem;     // what makes it no chat.completion ("" when it is one), e.g. "not valid JSON (...)"
  std::string_view error;  // a top-level "error" that is not null: the upstream reports a failure
  std::string_view usage;  // the top-level "usage" object, when there is one
};
// Reads `body` in full (syntax, then its top level): a JSON object with a
// non-empty "choices" array of objects (a chat.completion or a
// text_completion), or an error object.
CheckedCompletion check_completion(std::string_view body);

// Embeddings (/v1/embeddings in, OpenAI upstream): the client's body with the
// model renamed (and `provider_member` added as above), or nullopt ("render
// it") when the request did not come in as embeddings or its body is gone.
std::optional<std::string> embeddings_upstream_body(const ChatRequest& request, std::string_view provider_member);

// Reads a whole embeddings answer like check_completion: a JSON object with a
// "data" array whose first item is an object (an empty array passes: nothing
// to embed is no error of the upstream's), or an error object.
CheckedCompletion check_embeddings(std::string_view body);

// One SSE event of an upstream stream, as pass-through sees it.
struct Frame {
  enum class Kind {
    Other,    // no data field (a comment, event:/id:/retry: lines): forwarded as it is
    Empty,    // data fields with nothing in them
    Done,     // data: [DONE]
    Object,   // the data is a well-formed JSON object
    Invalid,  // the data is something else (see problem)
  };
  Kind kind = Kind::Other;
  std::string_view text;   // the whole event as received, its blank line included
  std::string_view data;   // the data fields' values, joined with '\n'
  std::string_view error;  // Object: a top-level "error" that is not null
  std::string_view usage;  // Object: the top-level "usage" when it is an object
  std::string_view type;   // Object: the top-level "type" as JSON text ("\"response.completed\"")
  bool usage_only = false;  // Object: usage with an empty "choices" (what include_usage adds)
  std::string problem;     // Invalid: "not valid JSON (at line 1, column 9: ...)" or "not a JSON object"
};

// Splits an upstream SSE byte stream into whole events and classifies each
// one: a syntax pass and a top-level scan per frame, no document.
class FrameReader {
 public:
  // Returns false to stop reading (the rest of the bytes are not looked at).
  using OnFrame = std::function<bool(const Frame&)>;
  // Calls `on_frame` for every event completed by `bytes`, in order; keeps the
  // unfinished tail. False when `on_frame` stopped it.
  bool feed(std::string_view bytes, const OnFrame& on_frame);
  // The stream ended: an unfinished last event counts (completed with its
  // blank line). False when `on_frame` stopped it.
  bool finish(const OnFrame& on_frame);
  // Bytes of an event not yet ended.
  std::size_t pending_bytes() const { return tail_.size(); }

 private:
  bool event(std::string_view text, const OnFrame& on_frame);
  std::string tail_;  // bytes of an event not yet ended
  std::size_t scan_from_ = 0;  // in tail_: the start of its unfinished line
  std::string joined_;  // the data of an event with several data lines
  std::vector<json::Member> members_;  // scratch for a frame's top level
};

// ---- Responses (native pass-through)

// What an event of a Responses stream means to pass-through, by its "type"
// (the JSON text of the member, quotes included).
enum class ResponsesEvent {
  Opening,    // response.created, response.in_progress, response.queued: held until more comes
  Content,    // anything else that is not terminal (output items, deltas, ...)
  Completed,  // response.completed, response.incomplete: the answer's end
  Failed,     // response.failed: the answer's end, failed
  Error,      // "error": the upstream reports a failure in its stream
  Untyped,    // no "type", or not a string
};
ResponsesEvent responses_event(std::string_view type);

// A whole non-streamed Responses answer, checked.
struct CheckedResponse {
  std::string problem;     // what makes it no response object ("" when it is one)
  bool failed = false;     // a top-level "error" that is not null: read it with responses_failure
  std::string_view usage;  // the top-level "usage" object, when there is one
};
CheckedResponse check_response(std::string_view body);

// The Error a failure from a Responses upstream stands for, in the upstream's
// words: the data of an `error` event ({"type":"error","code","message",...}),
// of a response.failed event ("response"."error"), or a whole body with a
// top-level "error" (a failed response object, or the OpenAI error shape).
// The status comes from the code: rate_limit_exceeded 429, invalid_prompt and
// context_length_exceeded 400, a numeric code 400..599 itself, else 502.
Error responses_failure(std::string_view json_text);

}  // namespace llmux::openai_compat::passthrough
