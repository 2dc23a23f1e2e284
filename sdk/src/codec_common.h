// Helpers shared by the OpenAI and Anthropic codecs: JSON parsing with error
// positions, member lookup, number and block appends, request field checks
// with their OpenAI-style error bodies, and upstream error excerpts.
//
// Internal to the SDK library: not installed, not part of the plugin API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"
#include "llmux/json.h"

namespace llmux::codec {

using rapidjson::Value;

// Deeper documents are refused: rendering a value back (json::to_string) recurses.
inline constexpr int kMaxDepth = 128;

inline std::string_view view_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }
inline std::string string_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// "null", "a boolean", "an object", ... (for type error messages).
const char* type_name(const Value& v);

// ---------------------------------------------------------------- parsing

// Parses `text` into `doc` (iteratively; with `validate_utf8`, invalid UTF-8 is
// a parse error). On failure returns false with `what` set to
// "at line L, column C: <reason>" or "nesting deeper than 128 levels".
bool parse_json(std::string_view text, rapidjson::Document& doc, std::string& what, bool validate_utf8 = false);

// A client request body: valid UTF-8 JSON holding an object, or the
// invalid_request error to answer with.
std::optional<Error> parse_request_body(std::string_view body, rapidjson::Document& doc);

// Parses a client request body with a codec's `Parser` (a FieldChecker with
// `bool parse(const rapidjson::Document&, ChatRequest&)`) into `out`. What the
// host set on `out` before parsing (original_body, client_headers) is kept;
// everything else is replaced, and `out` is untouched on error.
template <class Parser>
std::optional<Error> parse_client_request(std::string_view body, Api api, ChatRequest& out) {
  rapidjson::Document doc;
  if (std::optional<Error> e = parse_request_body(body, doc)) return e;
  ChatRequest request;
  request.source_api = api;
  Parser parser;
  if (!parser.parse(doc, request)) return std::move(parser.error);
  request.original_body = std::move(out.original_body);
  request.client_headers = std::move(out.client_headers);
  out = std::move(request);
  return std::nullopt;
}

// An upstream answer (`in_stream`: one stream event's data) that must be a
// JSON object, or the 502 error; `object_name` names it in the error
// ("chat.completion", "stream chunk", ...).
std::optional<Error> parse_upstream_object(std::string_view text, rapidjson::Document& doc,
                                           std::string_view object_name, bool in_stream);

// Members: absent and null are the same for optional fields.
const Value* find(const Value& object, std::string_view name);
const Value* find_set(const Value& object, std::string_view name);
// A member that is set and an object, or nullptr.
const Value* find_object(const Value& object, std::string_view name);

// A number as an integer, tolerant of 12.0; 0 when it is none.
std::int64_t lenient_int(const Value& v);
// Upstream-supplied integer member (token counts, indexes): tolerant of 12.0.
std::optional<std::int64_t> int_member(const Value& object, std::string_view name);
// A string member, or empty.
std::string string_member(const Value& object, std::string_view name);

inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
// `s` without leading and trailing JSON whitespace.
std::string_view trim(std::string_view s);

// ---------------------------------------------------------------- writing

void append_int(std::string& out, std::int64_t n);
// A finite number, or null.
void append_double(std::string& out, double d);
// `"name":` (name is a trusted literal).
void append_key(std::string& out, std::string_view name);
// Content that is one text part and came as a plain string (rendered back as one).
inline bool plain_text(const Message& m) {
  return m.content_was_string && m.content.size() == 1 && m.content.front().kind == ContentPart::Kind::Text;
}
// {"type":"text","text":<text>} (both APIs spell a text part the same).
void append_text_block(std::string& out, std::string_view text);
// `"name":<tool name>` then `,"description":<description>` when there is one.
void append_tool_name(std::string& out, const Tool& tool);

// A rendered request body's start, `{"model":<model>`, with room reserved
// for the rest (an estimate, never a limit).
std::string open_request_body(const ChatRequest& request);

// OpenAI request members (Chat and legacy Completions spell them the same):
// `,"temperature"`, `,"top_p"`, `,"frequency_penalty"`, `,"presence_penalty"`
// in that order, each when set.
void append_sampling_numbers(std::string& out, const Sampling& s);
// `,"seed":<seed>` then `,"stop":[...]`, each when set.
void append_seed_and_stop(std::string& out, const Sampling& s);
// When `request.stream`: `,"stream":true`, with
// `,"stream_options":{"include_usage":true}` when the client asked for usage
// or `force_usage`.
void append_stream(std::string& out, const ChatRequest& request, bool force_usage);

// Keeps an unmodeled request member for pass-through; a repeated name replaces
// the earlier value.
void keep_extra(std::vector<std::pair<std::string, std::string>>& extra, std::string_view name, const Value& v);
// `,"key":value` for every `extra` member not among `modeled` (which the
// renderer wrote itself).
void append_extra(std::string& out, const std::vector<std::pair<std::string, std::string>>& extra,
                  std::span<const std::string_view> modeled);

// ---------------------------------------------------------------- OpenAI streams

// Chat Completions and legacy Completions frame their answers the same way.

// A usage object: {"prompt_tokens","completion_tokens","total_tokens"}; with
// `details`, also prompt_tokens_details.cached_tokens and
// completion_tokens_details.reasoning_tokens when known.
void append_openai_usage(std::string& out, const Usage& u, bool details);
// An upstream `usage` object (prompt_tokens includes cached tokens, OpenAI's
// meaning); with `reasoning`, also completion_tokens_details.reasoning_tokens.
Usage openai_usage_of(const Value& usage, bool reasoning);

// `data: {"id":<id>,"object":"<object>","created":<created>,"model":<model>`:
// a chunk's start, without "choices".
std::string openai_chunk_prefix(std::string_view id, std::string_view object, std::int64_t created,
                                std::string_view model);
// What follows a stream's finish chunk: when `include_usage`, a chunk (after
// `chunk_prefix`) with empty "choices" and the usage (`details` as in
// append_openai_usage); then `data: [DONE]`.
void append_openai_stream_end(std::string& out, std::string_view chunk_prefix, bool include_usage,
                              const std::optional<Usage>& usage, bool details);

// An upstream chunk parser's finish is held until [DONE] or the end of the
// stream, so Usage precedes Finish.
using EmitEvent = std::function<void(Event)>;
// Before parsing an upstream chunk payload: after [DONE] or the emitted
// finish, and for a keep-alive, there is nothing to parse; [DONE] emits the
// held finish. True when `data` (trimmed in place) needs no parsing.
bool openai_stream_control(std::string_view& data, bool& saw_done, bool& finish_emitted,
                           const std::optional<FinishReason>& finish, const EmitEvent& emit);
// The upstream stream ended: emits the held finish (once), or the 502 error
// when no finish_reason came.
std::optional<Error> openai_stream_finish(bool& finish_emitted, const std::optional<FinishReason>& finish,
                                          const EmitEvent& emit);

// ---------------------------------------------------------------- base64

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);
// Decodes standard base64 (padding optional, no whitespace); false on any
// other character or a cut group.
bool base64_decode(std::string_view text, std::string& out);

// ---------------------------------------------------------------- upstream errors

// The `error` member of an upstream error body when it looks like an error
// (a string, or an object with a message); nullptr when the body is not JSON
// or has none. `doc` holds the parsed body.
const Value* error_member(std::string_view body, rapidjson::Document& doc);

// "upstream returned HTTP <status>[: <body excerpt>]" for a body without a
// recognizable error (the excerpt trimmed, at most 200 bytes, UTF-8 kept whole).
std::string http_error_message(int status, std::string_view body);

// ---------------------------------------------------------------- request checks

// Field checks for a client request parser; a failed check stores the
// invalid_request error (OpenAI's messages and codes) and returns false.
class FieldChecker {
 public:
  std::optional<Error> error;

 protected:
  // Walks the members of the request object `root` in order. `model`,
  // `temperature`, `top_p` and `stream` are read here; every other member goes
  // to `member(name, value)`, which returns whether it was valid, or nullopt
  // when the API does not model it (then it is kept in `extra`). `model` and
  // `required` (the API's content member, `messages` unless said) are required.
  template <class Member>
  bool parse_members(const Value& root, ChatRequest& r, Member&& member, std::string_view required = "messages") {
    bool have_model = false;
    bool have_messages = false;
    for (const auto& m : root.GetObject()) {
      const std::string_view name = view_of(m.name);
      const Value& v = m.value;
      bool ok = true;
      if (name == "model") {
        ok = parse_model(v, r.model);
        have_model = true;
      } else if (name == "temperature") {
        ok = optional_number(v, "temperature", r.sampling.temperature);
      } else if (name == "top_p") {
        ok = optional_number(v, "top_p", r.sampling.top_p);
      } else if (name == "stream") {
        ok = parse_stream(v, r.stream);
      } else if (const std::optional<bool> valid = member(name, v)) {
        ok = *valid;
        have_messages = have_messages || name == required;
      } else {
        keep_extra(r.extra, name, v);
      }
      if (!ok) return false;
    }
    if (!have_model) return missing("model");
    if (!have_messages) return missing(std::string(required));
    return true;
  }

  bool fail(Error e);
  // "Invalid type for '<path>': expected <expected>, got <type>." (invalid_type)
  bool type_error(const std::string& path, const char* expected, const Value& got);
  bool value_error(const std::string& path, std::string message);  // invalid_value
  // "Missing required parameter: '<path>'." (missing_required_parameter)
  bool missing(const std::string& path);
  // "Invalid value for '<path>': "<value>" <what>" (invalid_value)
  bool unsupported(const std::string& path, std::string_view value, std::string_view what);

  // Null leaves `out` as it is.
  bool optional_bool(const Value& v, std::string_view path, std::optional<bool>& out);
  bool optional_number(const Value& v, std::string_view path, std::optional<double>& out);
  // 100.0 is an integer too; 1.5 or 1e30 are not.
  bool optional_int(const Value& v, std::string_view path, std::optional<std::int64_t>& out);
  // A string member `name` of `object` (at `path`): required, or optional
  // (absent or null leaves `out` as it is).
  bool required_string(const Value& object, const std::string& path, const char* name, std::string& out);
  bool optional_string(const Value& object, const std::string& path, const char* name, std::string& out);
  // `v` is an object with a string `type` member.
  bool typed_object(const Value& v, const std::string& path, std::string& type);
  // The `model` member: a non-empty string.
  bool parse_model(const Value& v, std::string& model);
  // The `stream` member: a boolean or null (false).
  bool parse_stream(const Value& v, bool& stream);
  // The `messages` member: a non-empty array; `out` is cleared (a repeated
  // member replaces the earlier one) with room for its messages.
  bool messages_array(const Value& v, std::vector<Message>& out);
  // Every element of the array `v` (at `path`) is a string; appends them.
  bool string_elements(const Value& v, const std::string& path, std::vector<std::string>& out);
  // The `stop` member: a string or an array of strings; null is none. A
  // repeated member replaces the earlier one.
  bool parse_stop(const Value& v, std::vector<std::string>& out);
  // The `stream_options` member: null, or an object whose `include_usage`
  // (a boolean or null) sets `include_usage`.
  bool parse_stream_options(const Value& v, bool& include_usage);
  // A `tool_choice` string (both OpenAI APIs): "auto", "none" or "required".
  bool tool_choice_string(const Value& v, ToolChoice& out);
};

}  // namespace llmux::codec
