// The canonical chat model: what every inbound API is parsed into and every
// provider consumes. Codecs (OpenAI, later Anthropic) translate to and from it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmux {

enum class Role { System, Developer, User, Assistant, Tool };

const char* to_string(Role role) noexcept;

struct ContentPart {
  enum class Kind { Text, Image };
  Kind kind = Kind::Text;
  std::string text;       // Kind::Text
  std::string image_url;  // Kind::Image: an https: URL or a data: URI
  std::string detail;     // Kind::Image: "auto" | "low" | "high", empty when not given

  static ContentPart make_text(std::string t) { return {Kind::Text, std::move(t), {}, {}}; }
  static ContentPart make_image(std::string url, std::string detail = {}) {
    return {Kind::Image, {}, std::move(url), std::move(detail)};
  }
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text exactly as the model produced it
};

// An Anthropic thinking block sent back by the client. Signatures are bound to
// the model that produced them: only an Anthropic upstream gets them replayed;
// other families never see them.
struct ThinkingBlock {
  std::string text;       // thinking text ("thinking" blocks)
  std::string signature;  // "thinking" blocks
  std::string redacted_data;  // "redacted_thinking" blocks (text and signature empty)
  bool redacted() const { return !redacted_data.empty(); }
};

struct Message {
  Role role = Role::User;
  // Text and image parts. A plain string content is one text part with
  // content_was_string set, so a codec can render it back in the same form.
  std::vector<ContentPart> content;
  bool content_was_string = true;
  bool content_was_null = false;     // assistant turns with only tool calls
  std::string name;                  // optional participant name
  std::vector<ToolCall> tool_calls;  // Role::Assistant
  std::string tool_call_id;          // Role::Tool
  bool tool_error = false;           // Role::Tool: Anthropic tool_result is_error
  std::string reasoning;             // Role::Assistant: reasoning text, if the client sent it back
  std::vector<ThinkingBlock> thinking;  // Role::Assistant: Anthropic thinking blocks, in order

  // All text parts joined (images skipped): what most providers need.
  std::string text() const;
};

struct Tool {
  std::string name;
  std::string description;
  std::string parameters_json = "{}";  // JSON Schema as JSON text
  std::optional<bool> strict;
  // A Responses API `custom` tool, whose input is free text (Codex's
  // apply_patch). Every provider is offered it as a function with one string
  // parameter `input` (parameters_json says so) and its calls carry arguments
  // {"input": text}; the Responses codec unwraps them back into a
  // custom_tool_call. Other codecs treat it as a plain function.
  bool freeform = false;
};

struct ToolChoice {
  enum class Mode { Unset, Auto, None, Required, Function };
  Mode mode = Mode::Unset;
  std::string function_name;  // Mode::Function
};

struct Sampling {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<double> frequency_penalty;
  std::optional<double> presence_penalty;
  std::optional<std::int64_t> max_tokens;  // max_tokens or max_completion_tokens
  std::optional<std::int64_t> seed;
  std::optional<std::int64_t> top_k;  // Anthropic
  std::vector<std::string> stop;
};

// The one enumeration of inbound API dialects in llmux: the API a request
// arrived in (a provider of the same family may pass the original body
// through), and the shape of every answer and error the host writes for it.
enum class Api {
  OpenAIChat,         // POST /v1/chat/completions
  Anthropic,          // POST /v1/messages
  OpenAIResponses,    // POST /v1/responses
  OpenAICompletions,  // POST /v1/completions (legacy text completion, fill-in-the-middle)
  OpenAIEmbeddings,   // POST /v1/embeddings
};

// "openai", "anthropic", "responses", "completions", "embeddings": stable
// label values (metrics, access log).
const char* to_string(Api api) noexcept;

// What a request asks a provider for.
enum class Operation {
  Chat,        // a conversation turn (chat, messages, responses)
  Completion,  // continue a text (ChatRequest::completion is set)
  Embedding,   // vectors for texts (ChatRequest::embedding is set)
};

// A legacy text completion (/v1/completions). The codec also states it as a
// chat (`messages` asks for the text that belongs at the cursor), so a
// provider without a native completion endpoint answers it as a chat; one
// with such an endpoint reads this instead.
struct TextCompletion {
  std::string prompt;  // the text before the cursor
  std::string suffix;  // fill-in-the-middle: the text after it (empty when none)
};

// An embeddings request (/v1/embeddings): texts, or token-id arrays.
struct EmbeddingInput {
  std::vector<std::string> texts;
  std::vector<std::vector<std::int64_t>> tokens;  // set instead of texts when the client sent token ids
  bool base64 = false;                            // encoding_format "base64" (else "float")
  std::optional<std::int64_t> dimensions;
  std::size_t size() const { return texts.empty() ? tokens.size() : texts.size(); }
};

// Reasoning asked for (Responses `reasoning`, chat `reasoning_effort`).
struct ReasoningOptions {
  std::string effort;   // "minimal" | "low" | "medium" | "high" ... as the client said; empty when not given
  std::string summary;  // Responses: "auto" | "concise" | "detailed"; empty when not given
};

struct ChatRequest {
  std::string model;  // the name sent upstream (after alias resolution and per-step renaming)
  std::vector<Message> messages;
  std::vector<Tool> tools;
  ToolChoice tool_choice;
  std::optional<bool> parallel_tool_calls;
  Sampling sampling;
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  std::optional<ReasoningOptions> reasoning;
  // Structured output asked for, as raw JSON in Chat Completions'
  // `response_format` shape ({"type":"json_schema","json_schema":{...}});
  // empty when the client asked for plain text.
  std::string response_format;
  std::optional<TextCompletion> completion;  // Operation::Completion
  std::optional<EmbeddingInput> embedding;   // Operation::Embedding
  // What the codec dropped or changed on the way in (a built-in tool no
  // provider can run, ...): the host logs each once per request.
  std::vector<std::string> warnings;
  // Members llmux does not model, kept for pass-through: name -> raw JSON value
  // text. They belong to `source_api`: a codec of another API must not forward them.
  std::vector<std::pair<std::string, std::string>> extra;

  Api source_api = Api::OpenAIChat;
  std::shared_ptr<const std::string> original_body;  // the inbound body, unmodified
  // False for a request the host only routed (routing-only parsing): the body
  // was checked to be a JSON object and only `model`, `stream`,
  // `include_usage`, `source_api`, `original_body`, `client_headers` and
  // `traceparent` are set; messages, tools, sampling and `extra` are empty.
  // The host hands such a request only to a provider whose
  // Provider::passes_through(source_api) is true, on a step without `params`;
  // any other step gets the request parsed in full first.
  bool parsed = true;
  // Inbound headers an upstream of the same family needs on pass-through
  // (lower-case names): for Anthropic "anthropic-beta" and "anthropic-version".
  // Never credentials.
  std::vector<std::pair<std::string, std::string>> client_headers;
  // The request's W3C trace context (`traceparent`, version 00): the client's
  // when it sent a valid one, else made by llmux from the request id. Every
  // upstream request of this call carries it as the `traceparent` header.
  std::string traceparent;
  // The value of client header `name` (lower-case), or empty.
  std::string client_header(std::string_view name) const {
    for (const auto& [key, value] : client_headers) {
      if (key == name) return value;
    }
    return {};
  }

  Operation operation() const {
    return embedding ? Operation::Embedding : completion ? Operation::Completion : Operation::Chat;
  }

  // Text of the last user message (joined text parts), or empty.
  std::string last_user_text() const;
  bool has_tool_result() const;
};

}  // namespace llmux
