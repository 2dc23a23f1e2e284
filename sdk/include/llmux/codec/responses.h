// The OpenAI Responses codec (POST /v1/responses): requests in, answers out.
//   client request  -> ChatRequest        parse_request (read_head / replace_input for the host's store)
//   events          -> client answer      render_response / StreamRenderer
//   upstream answer -> usage, output      parse_usage, completed_response (native pass-through)
//
// Canonical mapping (see llmux/chat.h):
// - `instructions` becomes a leading Role::System message; `input` as a string
//   is one user message; message items (also the short form {role, content},
//   with or without `id` / `status`) keep their role (system, developer, user,
//   assistant) with input_text / output_text / refusal / input_image parts.
//   A message left without content (empty texts) is dropped.
// - function_call items become assistant tool calls; an assistant message and
//   the calls after it join one assistant message (a chat turn).
//   function_call_output items become Role::Tool messages.
// - `custom` tools become Tool{freeform = true} with the parameters
//   {"type":"object","properties":{"input":{"type":"string"}},"required":["input"]}
//   (a grammar `format` is appended to the description);
//   custom_tool_call / custom_tool_call_output items become tool calls with
//   arguments {"input": text} and tool results. The renderers unwrap calls to a
//   freeform tool back into custom_tool_call items (custom_tool_call_input.*).
// - `namespace` tools: each nested function (or custom) tool is offered under
//   namespace_tool_name(namespace, name); a call to it is rendered back as the
//   Responses API and Codex have it: `name` the nested name plus `namespace`.
//   Input items and tool_choice naming a `namespace` are read the same way.
// - Other input item types (item_reference, built-in tool calls, ...) are
//   dropped with a warning in ChatRequest::warnings.
// - Built-in tools (web_search, file_search, code_interpreter, ...) are
//   dropped with a warning in ChatRequest::warnings (a native Responses
//   upstream gets the original body untouched and runs them).
// - reasoning items: an `encrypted_content` made by llmux (Anthropic thinking,
//   see below) becomes Message::thinking of the next assistant message; other
//   reasoning items are skipped (only the model that made them can read them).
//   Reasoning llmux renders from Anthropic thinking carries the thinking text as
//   a summary_text part and, in encrypted_content, the text and its signature
//   ("llmux.1:" + base64 JSON), so a later turn replays it to Anthropic.
// - `tool_choice` (flat {"type":"function","name"}), `parallel_tool_calls`,
//   `max_output_tokens`, `temperature`, `top_p`, `reasoning`, `text.format`
//   (into ChatRequest::response_format in the chat shape) are modeled; the
//   rest (`store`, `include`, `metadata`, `previous_response_id`, `truncation`,
//   `prompt_cache_key`, `user`, `service_tier`, ...) stay in `extra` or in
//   RequestHead.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"
#include "llmux/event.h"
#include "llmux/response.h"

namespace llmux::responses {

// What the host needs before the full parse: routing and the store.
struct RequestHead {
  std::string model;
  bool stream = false;
  bool store = true;                  // OpenAI's default
  std::string previous_response_id;   // empty when none
  std::string input_json;             // `input` as a JSON array of items (a string input becomes one user message item)
};
// Reads the head of a /v1/responses body; a 400 Error (OpenAI shape) when the
// body is not a JSON object or `model` / `input` have the wrong type.
std::optional<Error> read_head(std::string_view body, RequestHead& out);

// The body with `input` replaced by `input_array_json` and without
// `previous_response_id`: how the host turns a continuation into a
// self-contained request (stored items first, then the new ones).
std::string replace_input(std::string_view body, std::string_view input_array_json);

// Parses a self-contained /v1/responses body (source_api OpenAIResponses).
// On failure returns a 400 Error naming the field in `param` (e.g.
// "input[3].call_id"). `out.original_body` and `out.client_headers` set by the
// caller beforehand are kept.
std::optional<Error> parse_request(std::string_view body, ChatRequest& out);

// The name a nested tool of namespace `ns` is offered under to a provider:
// ns + "__" + name. The renderers map it back through the request's tools.
std::string namespace_tool_name(std::string_view ns, std::string_view name);

// What the answer says about itself, and the request members a response
// object echoes (instructions, tools, tool_choice, temperature, top_p,
// max_output_tokens, parallel_tool_calls, previous_response_id, reasoning,
// store, text, metadata, ...), read from the request body.
struct ResponseMeta {
  std::string id;  // "resp_..." (empty: the codec makes one, "resp_" + 32 letters and digits)
  std::string model;
  std::int64_t created_at = 0;  // unix seconds (0: now)
  std::string request_body;     // the (self-contained) request body, for the echoed members
  std::string previous_response_id;
  bool include_encrypted_reasoning = false;  // include: ["reasoning.encrypted_content"]
};

// A whole `response` object (status completed, incomplete when cut by
// max_output_tokens or a content filter, failed with `error` when the answer
// is an Error); output items reasoning, message, calls, with ids derived from
// the response id ("msg_<id>_<index>", "fc_...", "ctc_...", "rs_..."). A
// pass-through answer (ChatResponse::raw) is returned as it is.
std::string render_response(const ChatResponse& response, const ResponseMeta& meta, const ChatRequest& request);

// The output items of a whole answer as a JSON array (encrypted reasoning
// always included): what the host stores for previous_response_id.
std::string output_items(const ChatResponse& response, const ResponseMeta& meta, const ChatRequest& request);

// `{"error":{"message","type","param","code"}}` (the OpenAI error shape).
std::string render_error(const Error& error);

// Renders events as the Responses stream: `event: <type>\ndata: <json>\n\n`
// frames, each object with `type` and a strictly increasing `sequence_number`:
// response.created, response.in_progress, then per output item
// output_item.added .. output_item.done (messages with content_part and
// output_text events; function calls with function_call_arguments events;
// freeform calls with custom_tool_call_input events; reasoning with the
// reasoning_summary_part / reasoning_summary_text events), and exactly one
// terminal event: response.completed (with usage), response.incomplete
// (max_output_tokens) or response.failed (an Error event: response.status
// "failed", response.error {code, message}). No [DONE].
// Raw events (a native Responses upstream) are written as they are; the
// renderer notes the id and output of their response.completed for the store.
class StreamRenderer {
 public:
  StreamRenderer(ResponseMeta meta, const ChatRequest& request);
  // A copy carries on independently from the state it was copied in (the
  // host's writer keeps a fresh copy to start over); it shares only the
  // unchanging per-request part, so copying is cheap.
  StreamRenderer(const StreamRenderer& other);
  StreamRenderer& operator=(const StreamRenderer& other);
  void render(const Event& event, std::string& out);
  bool done() const;
  // After done(): the response id and its output items as a JSON array
  // (encrypted reasoning included); an empty string when the answer failed.
  // For pass-through: the id and output of the upstream's terminal event.
  const std::string& response_id() const;
  const std::string& output_json() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // never shared between renderers (copies copy it)
};

// Usage of a Responses `usage` object (input_tokens, output_tokens, their
// details), as the canonical Usage; nullopt when it is not one.
std::optional<Usage> parse_usage(std::string_view usage_object);

// From the `data` of a response.completed / response.incomplete /
// response.failed event of a native upstream: the response's id and output
// array (JSON text), nullopt when it is not such an event.
struct CompletedResponse {
  std::string id;
  std::string output_json;
  std::optional<Usage> usage;
};
std::optional<CompletedResponse> completed_response(std::string_view event_data);

}  // namespace llmux::responses
