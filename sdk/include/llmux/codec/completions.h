// The OpenAI legacy Completions codec (POST /v1/completions): text
// completion and fill-in-the-middle, as editors' autocomplete uses it.
//   client request  -> ChatRequest        parse_request
//   ChatRequest     -> upstream request   render_request (an upstream /v1/completions)
//   events          -> client answer      render_completion / ChunkRenderer
//   upstream answer -> events             parse_completion / ChunkParser
//
// Canonical mapping (see TextCompletion in llmux/chat.h):
// - `prompt` (a string, or a list holding one string) and `suffix` fill
//   ChatRequest::completion. The same request is also stated as a chat in
//   `messages` (chat_messages): a system message that asks for only the text
//   that belongs at the cursor, and a user message with the prefix and the
//   suffix between <prefix>/<suffix> tags; so any chat provider answers it,
//   and a provider with a native completion endpoint reads `completion`.
// - More than one prompt, or token-id prompts, are refused (400, param
//   "prompt"): one request per prompt, as text.
// - `max_tokens` (16 when absent, as OpenAI), `temperature`, `top_p`,
//   `frequency_penalty`, `presence_penalty`, `seed`, `stop` (a string or a
//   list), `stream`, `stream_options.include_usage` are modeled; `n`,
//   `echo`, `logprobs`, `best_of`, `logit_bias`, `user`, ... stay in `extra`
//   (pass-through to an upstream /v1/completions only).
// - Answers: TextDelta, Usage, Finish and Error become `text_completion`
//   objects; reasoning and tool-call events are dropped (no tools are
//   offered); Raw events (a native upstream's own bytes) are written as they are.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/chat.h"
#include "llmux/codec/openai.h"
#include "llmux/event.h"
#include "llmux/response.h"

namespace llmux::completions {

// What max_tokens is when the client does not say (OpenAI's default).
inline constexpr std::int64_t kDefaultMaxTokens = 16;

// Parses a /v1/completions body (source_api OpenAICompletions). On failure
// returns a 400 Error in OpenAI's words naming the field in `param`.
// `out.original_body` and `out.client_headers` set beforehand are kept.
std::optional<Error> parse_request(std::string_view body, ChatRequest& out);

// The chat form of a completion: [system, user] (see above).
std::vector<Message> chat_messages(const TextCompletion& completion);

// A /v1/completions body for an upstream: model, prompt, suffix, the
// sampling, stream (with stream_options.include_usage when asked or
// `options.force_usage`), then `extra` when the request came in as a
// completion. A request without `completion` sends its last user text as the prompt.
std::string render_request(const ChatRequest& request, const openai::RenderOptions& options = {});

// id "cmpl-...", the client's model, created (unix seconds).
using ResponseMeta = openai::ResponseMeta;

// A whole `text_completion` object (a pass-through response's raw body as is):
// {"id","object":"text_completion","created","model","choices":[{"text","index":0,
//  "logprobs":null,"finish_reason"}],"usage":{"prompt_tokens","completion_tokens","total_tokens"}}
std::string render_completion(const ChatResponse& response, const ResponseMeta& meta);

// Renders events as `text_completion` SSE chunks: one per text delta
// ({"text":...,"finish_reason":null}), one with an empty text and the
// finish_reason, then, when include_usage, one with empty `choices` and
// `usage`, then `data: [DONE]`. Raw events are written as they are (their
// stream carries its own end). An Error becomes `data: {"error":{...}}`
// followed by [DONE].
class ChunkRenderer {
 public:
  ChunkRenderer(ResponseMeta meta, bool include_usage);
  void render(const Event& event, std::string& out);
  bool done() const { return done_; }

 private:
  ResponseMeta meta_;
  std::string chunk_prefix_;  // `data: {"id":...,"model":...` (without "choices")
  bool include_usage_;
  bool raw_ = false;
  bool done_ = false;
  std::optional<Usage> usage_;
};

// Parses an upstream `text_completion` body into events (Role .. Finish).
std::optional<Error> parse_completion(std::string_view body, std::vector<Event>& out);

// Turns an upstream's text_completion chunk payloads (the `data:` of each SSE
// message) into events; holds the finish until usage or the end, so Usage
// precedes Finish.
class ChunkParser {
 public:
  using Emit = std::function<void(Event)>;
  // An Error for garbage or for an error object sent mid-stream.
  std::optional<Error> feed(std::string_view data, const Emit& emit);
  // The stream ended: emits the held Finish, or an Error when none came.
  std::optional<Error> finish(const Emit& emit);
  bool saw_done() const { return saw_done_; }

 private:
  bool role_emitted_ = false;
  bool saw_done_ = false;
  std::optional<FinishReason> finish_;
  bool finish_emitted_ = false;
};

}  // namespace llmux::completions
