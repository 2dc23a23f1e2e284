// The Ollama provider: Ollama's native API (not its OpenAI-compatible one).
//
//   POST {base_url}/api/chat   always streamed (NDJSON); the host collects the
//                              events for a client that asked for no stream
//   POST {base_url}/api/embed  embeddings (/v1/embeddings): every input text
//                              in one request, {"embeddings":[[...],...]} back
//   POST {base_url}/api/generate  legacy completions (/v1/completions): prompt
//                              and suffix (fill-in-the-middle with the model's
//                              own template), streamed the same way
//   GET  {base_url}/api/tags   the installed models, refreshed in the
//                              background every models_ttl
//
// Mapping notes:
// - images must arrive as base64 data: URIs (Ollama cannot fetch URLs); a URL
//   fails the call with 400 before anything is sent
// - Ollama has no tool_choice: "none" sends no tools, "required" and a named
//   function send the tools anyway (the model may still answer in text)
// - Ollama has no tool call ids: calls get "call_<n>" (n = their index in
//   the answer) unless the upstream sent an id
// - response_format json_object / json_schema become Ollama's `format`; a
//   `think` member (Ollama's own, for thinking models) is passed through
// - embeddings: texts only (token-id input fails the call with 400: Ollama
//   tokenizes itself); `truncate: true` is sent (Ollama's default, stated:
//   an over-long text is cut to the model's context); `dimensions` is passed on
// - the configured `options` are sent with every request; the request's
//   sampling (temperature, top_p, seed, stop, max_tokens -> num_predict,
//   frequency/presence_penalty) replaces the same keys
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmux/event.h"
#include "llmux/http.h"
#include "llmux/provider.h"

namespace llmux::ollama {

inline constexpr const char* kPluginName = "ollama";
inline constexpr const char* kPluginVersion = "1.0.0";
inline constexpr const char* kOwnedBy = "ollama";
inline constexpr std::size_t kMaxErrorBody = 64 * 1024;
inline constexpr std::size_t kMaxTagsBody = 8 * 1024 * 1024;

struct OllamaOptions {
  std::string base_url = "http://127.0.0.1:11434";  // without a trailing '/'
  HttpHeaders headers;
  HttpTimeouts timeouts{std::chrono::seconds(5), std::chrono::seconds(300), std::chrono::seconds(120),
                        std::chrono::milliseconds(0)};
  std::string keep_alive;  // empty: not sent
  std::chrono::milliseconds models_ttl{std::chrono::seconds(60)};  // 0: fetch once
  // Extra Ollama `options` (e.g. num_ctx): name -> JSON value text.
  std::vector<std::pair<std::string, std::string>> model_options;
  // Legacy completions: /api/generate (native, the default) or their chat
  // form on /api/chat (`completions: chat`).
  bool native_completions = true;

  // Reads and validates a provider's `options` map. Throws ConfigError.
  static OllamaOptions parse(const ConfigNode& options);
};

// The /api/chat body for a canonical request, or the Error (400) that ends
// the call when the request cannot be expressed for Ollama.
struct ChatBody {
  std::string json;
  std::optional<Error> error;
  std::vector<std::string> notes;  // debug-level remarks (e.g. unparsable tool arguments)
};
ChatBody build_chat_body(const ChatRequest& request, const OllamaOptions& options);
// The /api/generate body for a legacy completion: model, prompt, suffix (when
// there is one), stream, options (sampling as for chat), keep_alive.
ChatBody build_generate_body(const ChatRequest& request, const OllamaOptions& options);

// The /api/embed body for an embeddings request ({"model","input":[texts],
// "truncate":true,"dimensions"?,"options"?,"keep_alive"?}), or the Error (400)
// for input Ollama cannot take (token ids).
struct EmbedBody {
  std::string json;
  std::optional<Error> error;
};
EmbedBody build_embed_body(const ChatRequest& request, const OllamaOptions& options);

// Turns an /api/embed answer ({"embeddings":[[...],...],"prompt_eval_count":N})
// into events: one Embedding per vector (index = its position), Usage, Finish.
// `inputs` is how many texts were sent: another count of vectors is an error.
std::optional<Error> parse_embed_response(std::string_view body, std::size_t inputs, std::vector<Event>& out);

// Turns the lines of one /api/chat or /api/generate NDJSON stream into events.
class StreamDecoder {
 public:
  enum class Status { Continue, Done, Failed };
  template <class Emit>
  Status on_line(std::string_view line, Emit&& emit) {
    std::vector<Event> events;
    Status status = decode(line, events);
    for (auto& e : events) emit(std::move(e));
    return status;
  }
  bool finished() const { return finished_; }

 private:
  Status decode(std::string_view line, std::vector<Event>& out);
  void role(std::vector<Event>& out);
  bool role_sent_ = false;
  bool finished_ = false;
  int tool_calls_ = 0;
};

// The error for a non-2xx answer: {"error":"msg"} -> "ollama: msg", the
// status kept (404 = model not found), Retry-After honoured.
Error error_from_response(int status, const HttpHeaders& headers, std::string_view body);

// Model ids listed by /api/tags: each `name`, and for "x:latest" also "x".
// Nullopt when the body is not a tags listing.
std::optional<std::vector<std::string>> parse_tags(std::string_view body);

class OllamaProvider : public Provider {
 public:
  OllamaProvider(std::string name, OllamaOptions options, HostServices& host);
  ~OllamaProvider() override;
  OllamaProvider(const OllamaProvider&) = delete;
  OllamaProvider& operator=(const OllamaProvider&) = delete;

  // Builds a provider and starts its first model listing. Throws ConfigError.
  static std::shared_ptr<OllamaProvider> create(const ProviderSpec& spec);

  std::vector<ModelInfo> models() const override;
  void chat(ChatCallPtr call) override;
  bool serves(Operation) const override { return true; }

  const OllamaOptions& options() const { return options_; }
  struct Shared;  // state shared with timers and transfers (outlives nothing it must not)

 private:
  // A POST to {base_url}{path} with the configured headers and timeouts and the call's traceparent.
  HttpRequest upstream_request(const ChatRequest& chat, std::string_view path, const char* accept) const;
  void embed(const ChatCallPtr& call, const std::string& who);

  std::string name_;
  OllamaOptions options_;
  HostServices& host_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace llmux::ollama
