// The Anthropic Messages codec: requests and answers, both directions.
//   client request  -> ChatRequest       parse_messages_request
//   ChatRequest     -> upstream request  render_messages_request (replace_model for pass-through)
//   events          -> client answer     render_message / StreamRenderer
//   upstream answer -> events            parse_message / StreamParser
//
// Canonical mapping (see llmux/chat.h):
// - `system` (a string, or text blocks) becomes leading Role::System messages,
//   one per block, each a plain string (the form every OpenAI-compatible server
//   accepts); `role:"system"` entries inside `messages` (Claude Code sends them)
//   become System messages in place. cache_control is dropped.
// - A user turn's tool_result blocks become one Role::Tool message each, in
//   order, followed by one user message with the turn's remaining text/image
//   blocks. A tool_result whose content is only text becomes one plain string
//   (blocks joined with "\n").
// - Images: base64 sources become `data:` URIs, url sources stay URLs; a
//   `document` block (PDF) is kept the same way as an image part whose URI has
//   the document's media type, and renders back as a document block.
// - Assistant tool_use blocks become tool calls (arguments = the input as JSON
//   text); thinking / redacted_thinking blocks become Message::thinking.
// - Custom tools (no `type`, or "custom") become Tool; server tools (web
//   search, code execution, bash_2025..., ...) are skipped: no other family can
//   run them, and an Anthropic upstream receives the original body untouched.
// - Unknown content block types are skipped (the API grows new ones); blocks
//   whose type is known but misplaced (tool_use in a user turn) are refused.
// - Members not modeled (metadata, thinking, context_management, output_config,
//   service_tier, ...) are kept in `extra` and forwarded only to Anthropic.
// - Usage: canonical input_tokens include cached tokens (OpenAI's meaning);
//   Anthropic's input_tokens do not. Parsing adds cache_read and cache_creation
//   to input_tokens, rendering subtracts them.
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

namespace llmux::anthropic {

// Parses a /v1/messages (or /v1/messages/count_tokens) body; source_api is
// Api::Anthropic. On failure returns a 400 Error: JSON syntax errors give line
// and column, a missing or mistyped field is named in `param` (e.g.
// "messages[2].content[0].tool_use_id"). max_tokens is optional here
// (count_tokens bodies have none). `out.original_body` and `out.client_headers`
// set by the caller beforehand are kept.
std::optional<Error> parse_messages_request(std::string_view body, ChatRequest& out);

struct RequestRenderOptions {
  std::int64_t default_max_tokens = 8192;  // when the request has no max_tokens (Anthropic requires one)
};
// Renders a request for an Anthropic upstream. Member order: model, max_tokens,
// system, messages, tools, tool_choice, temperature, top_p, top_k,
// stop_sequences, stream, then `extra` (only when source_api is Anthropic).
// System and developer messages go to the top-level `system`; consecutive tool
// results are merged into one user turn of tool_result blocks; thinking blocks
// are replayed only for an Anthropic-source request (signatures are bound to
// the model), and only signed or redacted ones (thinking another family
// produced has no signature and Anthropic would refuse it); temperature is clamped to Anthropic's [0, 1]; frequency and
// presence penalties and seed have no Anthropic equivalent and are dropped.
std::string render_messages_request(const ChatRequest& request, const RequestRenderOptions& options = {});

// Rewrites only the value of the top-level "model" member of a JSON object body
// (every occurrence, if repeated); all other bytes are kept. A body without one
// gets it inserted first. A body that is not a JSON object is returned as is.
std::string replace_model(std::string_view body, std::string_view model);

struct MessageMeta {
  std::string id;      // "msg_..."
  std::string model;   // reported to the client
  // message_start's input_tokens when the provider has not reported usage yet
  // (at least 1 is reported, so that usage is never all zeros).
  std::int64_t estimated_input_tokens = 0;
};

// A whole `message` object. Content order: redacted_thinking blocks, the
// thinking block, text, tool_use blocks. Tool inputs are always JSON objects
// (see ToolInputRepair). Without usage, input_tokens is the estimate. A
// pass-through response (response.raw) is returned as is.
std::string render_message(const ChatResponse& response, const MessageMeta& meta);

// {"type":"error","error":{"type":...,"message":...}}. The Anthropic type comes
// from the status where Anthropic has a dedicated one (413 request_too_large,
// 529 overloaded_error), else from error.code or error.type when they already
// are Anthropic type names, else from OpenAI type names and the status
// (invalid_request_error 4xx, authentication_error 401, permission_error 403,
// not_found_error 404, rate_limit_error 429, api_error 5xx).
std::string render_error(const Error& error);
// The Anthropic error type render_error uses for `error`.
std::string_view error_type(const Error& error);

// Anthropic spelling of a finish reason: end_turn, max_tokens, stop_sequence,
// tool_use, refusal.
const char* stop_reason(FinishReason reason) noexcept;

// Makes a tool call's streamed arguments always join into one JSON object.
// feed() returns the part of a fragment that keeps the text so far a valid
// prefix of a JSON object (leading whitespace dropped, a UTF-8 sequence split
// between fragments held until whole); once a fragment breaks the grammar,
// that fragment's rest and every later fragment are dropped. completion()
// returns what closes the text fed so far: "" when it already is a whole
// object, "{}" when nothing valid was fed, else the closing quotes, values
// (null) and brackets.
class ToolInputRepair {
 public:
  std::string feed(std::string_view fragment);
  std::string completion() const;
  bool failed() const { return failed_; }
  bool complete() const { return !failed_ && expect_ == Expect::Done; }
  // The whole arguments text made into a JSON object: valid as is, repaired, or "{}".
  static std::string repair(std::string_view arguments);

 private:
  enum class Expect : std::uint8_t {
    TopValue, ObjKeyOrEnd, ObjKey, ObjColon, ObjValue, ObjCommaOrEnd, ArrValueOrEnd, ArrValue, ArrCommaOrEnd, Done
  };
  enum class Lex : std::uint8_t { None, String, Escape, Unicode, Number, Literal };
  enum class Num : std::uint8_t { Minus, Zero, Int, Dot, Frac, E, ESign, Exp };
  bool step(unsigned char c, std::string& out);
  bool structural(unsigned char c, std::string& out);
  bool value_start(unsigned char c, std::string& out);
  void after_value();
  std::string stack_;  // '{' or '[' per open container
  Expect expect_ = Expect::TopValue;
  Lex lex_ = Lex::None;
  Num num_ = Num::Int;
  bool key_ = false;           // Lex::String: an object key
  int unicode_left_ = 0;       // Lex::Unicode: hex digits still expected
  const char* literal_ = "";   // Lex::Literal: the rest of true/false/null
  std::string utf8_;           // a multi-byte sequence not yet whole
  int utf8_need_ = 0;          // its continuation bytes still expected
  bool failed_ = false;
};

// Renders events as Anthropic SSE, every message with its `event:` line:
// message_start (once) and ping, then content_block_start / _delta / _stop per
// block (thinking with thinking_delta and signature_delta, redacted_thinking,
// text with text_delta, tool_use with input_json_delta), one block closed
// before the next opens, then message_delta (stop_reason, usage) and
// message_stop. message_start is written with the first event that has
// something to show, carrying the input tokens of a Usage already seen (a
// provider that knows the prompt's count reports it before its first delta),
// else meta.estimated_input_tokens; message_delta then carries the last
// Usage's figures in full (input, cache and output tokens), so a stream that
// opened on the estimate still ends with the true counts. Every tool call gets
// its own block; fragments of a call whose block was already closed
// (interleaved calls) are dropped, and a call's input is completed to a JSON
// object when its block closes. Empty deltas are never written. Raw events
// (pass-through: whole SSE events) are written as they are and Finish then
// adds nothing. An Error writes an `event: error` frame and ends the stream,
// unless the Raw bytes already held the upstream's own error event.
class StreamRenderer {
 public:
  explicit StreamRenderer(MessageMeta meta);
  // Appends the SSE bytes for `event` to `out` (possibly none).
  void render(const Event& event, std::string& out);
  // True once message_stop or an error frame was written.
  bool done() const { return done_; }

 private:
  enum class Block : std::uint8_t { None, Text, Thinking, Tool };
  void ensure_started(std::string& out);
  void open_block(Block kind, std::string& out, std::string_view content_block_json);
  void close_block(std::string& out);
  void tool_delta(const Event& event, std::string& out);
  void delta(std::string& out, std::string_view head, std::string_view text);
  MessageMeta meta_;
  bool started_ = false;
  bool raw_ = false;
  bool raw_error_sent_ = false;  // pass-through bytes held an `event: error` frame
  bool done_ = false;
  Block block_ = Block::None;
  int block_index_ = -1;        // index of the open block (or of the last one)
  int tool_index_ = -1;         // event index of the tool call whose block is open
  std::vector<int> tool_calls_seen_;  // event indexes of calls that got a block
  ToolInputRepair tool_input_;
  std::optional<Usage> usage_;
};

// Parses an upstream `message` body into events (Role .. Usage, Finish), or
// returns the Error of an error body.
std::optional<Error> parse_message(std::string_view body, std::vector<Event>& out);

// Turns upstream SSE messages into events. Usage and Finish are held until
// message_stop (or the end), so the order is Role, content, Usage, Finish.
// Tool calls get indexes 0, 1, ... in block order; the id and name ride on the
// call's first event; a call without any input_json_delta gets its
// content_block_start input ("{}") as arguments. Server tool blocks,
// citations and unknown event types are skipped.
class StreamParser {
 public:
  using Emit = std::function<void(Event)>;
  // One SSE message: its event name (may be empty; the data's "type" decides)
  // and data. Returns an Error for garbage or for an `error` event.
  std::optional<Error> feed(std::string_view event, std::string_view data, const Emit& emit);
  // The stream ended: emits Usage then the Finish if message_stop had not
  // already done so, or returns an Error when the stream ended before a
  // stop_reason.
  std::optional<Error> finish(const Emit& emit);
  bool saw_stop() const { return finished_; }

 private:
  enum class Block : std::uint8_t { Other, Text, Thinking, Tool };
  struct BlockState {
    Block kind = Block::Other;
    int tool = -1;            // Block::Tool: the event index of the call
    std::string id, name;     // Block::Tool: until the first fragment is emitted
    std::string start_input;  // Block::Tool: content_block_start's input as JSON text
    bool emitted = false;     // Block::Tool: a fragment was emitted
  };
  void emit_usage_and_finish(const Emit& emit);
  bool started_ = false;
  bool finished_ = false;
  int tools_ = 0;
  std::vector<BlockState> blocks_;  // by content block index
  Usage usage_;
  bool have_usage_ = false;
  std::optional<FinishReason> finish_;
};

// Maps an upstream error response (status + body) to an Error: the upstream's
// message is kept; Anthropic types map to the OpenAI-style vocabulary
// (api_error -> server_error, request_too_large -> invalid_request_error with
// code request_too_large, ...), and 529 (or overloaded_error) gives status 529
// with type overloaded_error.
Error parse_error_response(int status, std::string_view body);

// An Anthropic stop_reason as a FinishReason: end_turn and pause_turn -> Stop,
// max_tokens and model_context_window_exceeded -> Length, stop_sequence ->
// StopSequence, tool_use -> ToolCalls, refusal -> ContentFilter; a reason not
// in this list -> ToolCalls when the answer carried tool calls, else Stop.
FinishReason finish_reason(std::string_view stop_reason, bool has_tool_calls);

// The HTTP status an Anthropic error type stands for (an `error` event inside
// a 200 stream carries no status of its own): invalid_request_error 400,
// authentication_error 401, billing_error 402, permission_error 403,
// not_found_error 404, request_too_large 413, rate_limit_error 429,
// timeout_error 504, overloaded_error 529; api_error and unknown types 500.
int status_of_error_type(std::string_view type);

// An input token count for providers that cannot count exactly: characters
// (UTF-8 code points) / 4, rounded up, over the system and message texts, tool
// call names and arguments, tool results, thinking text, and the tools' names,
// descriptions and schemas; plus 4 per message, 1600 per image, and 350 when
// tools are offered (the tool-use system prompt). Always >= 1. A routing-only
// request (ChatRequest::parsed false) counts its whole body's code points.
std::int64_t estimate_input_tokens(const ChatRequest& request);

}  // namespace llmux::anthropic
