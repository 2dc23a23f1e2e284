// The OpenAI Chat Completions codec: requests and answers, both directions.
//   client request  -> ChatRequest       parse_chat_request
//   ChatRequest     -> upstream request  render_chat_request
//   events          -> client answer     render_chat_completion / ChunkRenderer
//   upstream answer -> events            parse_chat_completion / ChunkParser
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"
#include "llmux/response.h"

namespace llmux::openai {

// Parses a /v1/chat/completions body. On failure returns a 400 Error whose
// message says what is wrong: JSON syntax errors give line and column, a
// missing or mistyped field is named in `param` (e.g. "messages[2].content").
std::optional<Error> parse_chat_request(std::string_view body, ChatRequest& out);

struct RenderOptions {
  bool force_usage = false;  // stream: ask for usage even if the client did not
};
// Renders a request for an OpenAI-compatible upstream (extra members included).
std::string render_chat_request(const ChatRequest& request, const RenderOptions& options = {});

// What the answer says about itself.
struct ResponseMeta {
  std::string id;       // "chatcmpl-..."
  std::string model;    // the model name reported to the client
  std::int64_t created = 0;  // unix seconds
};

// A whole `chat.completion` object (a pass-through response's raw body as is).
std::string render_chat_completion(const ChatResponse& response, const ResponseMeta& meta);

// `{"error":{"message","type","param","code"}}`
std::string render_error(const Error& error);

// Renders events as `chat.completion.chunk` SSE. Guarantees: the first chunk
// carries the role; exactly one chunk carries a finish_reason; when
// include_usage, a final chunk with empty `choices` carries usage; `data: [DONE]`
// ends the stream. Raw events (pass-through) are written as they are, and
// then Finish adds nothing. An Error event mid-stream becomes `data: {"error":{...}}`
// followed by [DONE], so the framing stays valid.
class ChunkRenderer {
 public:
  ChunkRenderer(ResponseMeta meta, bool include_usage);
  // Appends the SSE bytes for `event` to `out` (possibly none).
  void render(const Event& event, std::string& out);
  // True once [DONE] was written.
  bool done() const { return done_; }

 private:
  void open_chunk(std::string& out);
  void close_chunk(std::string& out);
  void ensure_role(std::string& out);
  ResponseMeta meta_;
  std::string chunk_prefix_;  // `data: {"id":...,"choices":[{"index":0,"delta":` prefix pieces
  bool include_usage_;
  bool raw_ = false;  // pass-through: the upstream's own frames (and [DONE]) were forwarded
  bool role_sent_ = false;
  bool done_ = false;
  std::optional<Usage> usage_;
};

// Parses an upstream `chat.completion` body into events (Role .. Finish).
std::optional<Error> parse_chat_completion(std::string_view body, std::vector<Event>& out);

// Turns upstream chunk payloads (the `data:` of each SSE message) into events.
// Holds the finish until usage or the end, so Usage precedes Finish.
class ChunkParser {
 public:
  using Emit = std::function<void(Event)>;
  // Feeds one SSE data payload. Returns an Error for garbage (not JSON, not a
  // chunk) or for an error object sent by the upstream mid-stream.
  std::optional<Error> feed(std::string_view data, const Emit& emit);
  // Call when the upstream stream ended; emits the held Finish, or returns an
  // Error when the stream ended before any finish_reason.
  std::optional<Error> finish(const Emit& emit);
  bool saw_done() const { return saw_done_; }

 private:
  // The common chunk without a DOM; false (nothing emitted) when the chunk
  // needs the full parse.
  bool feed_fast(std::string_view data, const Emit& emit);
  std::string scratch_content_, scratch_reasoning_content_, scratch_reasoning_, scratch_finish_;
  bool role_emitted_ = false;
  bool saw_done_ = false;
  std::optional<FinishReason> finish_;
  bool finish_emitted_ = false;
};

// Reads an upstream `usage` object's text (prompt_tokens, completion_tokens and
// their details) the way parse_chat_completion does; nullopt when the text is
// not a JSON object. For pass-through, which reads usage from raw frames.
std::optional<Usage> parse_usage(std::string_view usage_object);

// Maps an upstream error response (status + body) to an Error, keeping the
// upstream's message when the body is an OpenAI error object.
Error parse_error_response(int status, std::string_view body);

}  // namespace llmux::openai
