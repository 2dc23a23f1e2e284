// Pass-through for OpenAI in -> OpenAI upstream: the client's body goes up
// with only the model renamed, and the upstream's answer comes back as its own
// bytes (Event::Kind::Raw) with only the top-level "model" of each object set
// to the name the client asked for. Nothing else is parsed or re-rendered.
//
// What the client sees differs from the re-rendered path in these ways (all
// as if it had called the upstream itself): the upstream's `id`, `created`,
// `system_fingerprint` and every member llmux does not model; usage only when
// the client asked for it (stream_options.include_usage is not forced); a
// frame the upstream got wrong reaches the client as it is (it is not
// validated). A stream that ends without `data: [DONE]` still ends with an
// error event and [DONE] from llmux, so a cut is never a clean end.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"

namespace llmux::openai_compat::passthrough {

// One member at the top level of a JSON object: its name (the text between
// the quotes, escapes not decoded) and its value's raw text.
struct Member {
  std::string_view name;
  std::string_view value;
  bool name_escaped = false;  // the name holds a backslash escape
};

// Reads the top level of a JSON object text, skipping nested values by their
// brackets. Stops after the member named `stop_after` when given. False when
// the text is not an object this reader follows (then take the slow path).
bool top_level_members(std::string_view text, std::vector<Member>& out, std::string_view stop_after = {});

// The value text of the top-level member `name`, if the object has it.
std::optional<std::string_view> find_member(std::string_view object, std::string_view name);

struct UpstreamBody {
  std::string body;          // what to send upstream
  std::string client_model;  // the client's "model" value as a JSON string token (with quotes)
};

// The body to send for `request` when it can pass through (OpenAI in, the
// original body kept, no step parameters applied since it was parsed, member
// names plain); nullopt means "render it". `provider_member` (g4f) is added
// when not empty and the body has no "provider".
std::optional<UpstreamBody> upstream_body(const ChatRequest& request, std::string_view provider_member);

// Appends `object` (a JSON object text) to `out` with its top-level "model"
// value replaced by `model_token` (a JSON string token). Returns false, and
// appends nothing, when the object has no such member or reading it failed.
bool append_with_model(std::string& out, std::string_view object, std::string_view model_token);

// Splits an SSE byte stream into whole events and forwards them raw.
class SseRelay {
 public:
  explicit SseRelay(std::string client_model) : client_model_(std::move(client_model)) {}
  // Appends to `out` every event completed by `bytes` (the model renamed in
  // data objects that carry another one); keeps the unfinished tail.
  void feed(std::string_view bytes, std::string& out);
  // The stream ended: appends an unfinished last event (completed with its
  // blank line) to `out`.
  void finish(std::string& out);
  bool done() const { return done_; }  // `data: [DONE]` was seen
  // The first data event of the stream is an error object ({"error":...}).
  bool error_first() const { return error_first_; }
  const std::string& tail() const { return tail_; }
  const std::string& client_model() const { return client_model_; }
  std::size_t pending_bytes() const { return tail_.size(); }

 private:
  void event(std::string_view text, std::string& out);
  std::string client_model_;
  std::string tail_;  // bytes of an event not yet ended
  std::size_t scan_from_ = 0;  // in tail_: the start of its unfinished line
  bool done_ = false;
  bool seen_data_ = false;
  bool error_first_ = false;
};

}  // namespace llmux::openai_compat::passthrough
