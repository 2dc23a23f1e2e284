// OpenAI-compatible upstreams: one provider base, configured per flavour.
//
// `openai` (any OpenAI-compatible API, keys required) and `g4f` (the gpt4free
// API server: local default URL, no key, an optional `provider` member) are
// two sets of defaults for OpenAICompatConfig; OpenAICompatPlugin turns a
// providers.yaml `options` map into an OpenAICompatProvider. All behaviour
// (key rotation and 401 probes, request rendering, pass-through, streaming,
// errors, backpressure, model listing) lives here, once, for chat calls
// (POST {base_url}/chat/completions) and embedding calls (POST
// {base_url}/embeddings: the client's body passed through with the model
// renamed when it came in as /v1/embeddings, else rendered by the embeddings
// codec; the same keys, errors, retries and cooldowns).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmux/http.h"
#include "llmux/provider.h"
#include "llmux/upstream_settings.h"

namespace llmux::openai_compat {

struct ApiKey {
  std::string value;
  int position = 1;  // 1-based place in the configured list (for log lines; never the key itself)
};

// What one provider does: the flavour's defaults overlaid with its options.
struct OpenAICompatConfig {
  // ---- the flavour
  std::string plugin = "openai";        // plugin name: log lines, error messages
  std::string version = "1.0.0";
  bool key_required = true;             // no usable key -> NotConfigured
  bool provider_option = false;         // accepts `provider` (g4f's upstream provider name)

  // ---- options (defaults first)
  std::string base_url = "https://api.openai.com/v1";  // without a trailing '/'
  std::vector<ApiKey> keys;             // empty: no Authorization header
  HttpHeaders headers;                  // extra request headers (replace defaults of the same name)
  std::string organization;             // -> OpenAI-Organization
  UpstreamSettings upstream;            // timeouts (connect 10s, first byte 60s, idle 120s), proxy, TLS
  std::optional<std::vector<std::string>> models;  // static list; unset = ask GET {base_url}/models
  std::chrono::milliseconds models_ttl{std::chrono::minutes(5)};  // 0 = fetch once
  std::string provider;                 // g4f: sent as the request member "provider"
  // OpenAI in: send the client's body with only the model renamed and relay
  // the upstream's bytes (passthrough.h). false: always parse and re-render.
  bool passthrough = true;
  // Whether the upstream serves POST {base_url}/embeddings (Provider::serves):
  // false lets a chain skip this provider for embedding requests.
  bool embeddings = true;
  // Legacy completions (/v1/completions in): Native sends them to
  // {base_url}/completions (the client's body passed through as above);
  // Chat sends their chat form to {base_url}/chat/completions, for upstreams
  // without a completions endpoint. The host renders either answer as a
  // text_completion.
  enum class Completions { Native, Chat };
  Completions completions = Completions::Native;
  // Responses in (POST /v1/responses). Translate: the host's codec made a
  // chat of it and it goes to /chat/completions like any other. Native: the
  // client's body goes to {base_url}/responses with only the model renamed
  // and the upstream's Responses answer comes back as it is (passthrough.h);
  // a request whose body cannot pass (a step with `params`) is translated.
  enum class Responses { Translate, Native };
  Responses responses = Responses::Translate;
  // A key that got 401 waits this long, then the next request probes it.
  std::chrono::milliseconds unauthorized_cooldown{std::chrono::seconds(60)};

  static OpenAICompatConfig openai();
  static OpenAICompatConfig g4f();

  // Reads `options` over `defaults`. Throws ConfigError (with position) for a
  // wrong value and NotConfigured for a missing secret.
  static OpenAICompatConfig parse(OpenAICompatConfig defaults, const ConfigNode& options);
};

// Limits on what the provider buffers from an upstream.
inline constexpr std::size_t kMaxErrorBody = 64 * 1024;         // non-2xx bodies
inline constexpr std::size_t kMaxJsonBody = 256u * 1024 * 1024;  // a whole chat.completion
inline constexpr std::size_t kMaxSseEvent = 16u * 1024 * 1024;   // one SSE event
inline constexpr std::size_t kMaxModelsBody = 8u * 1024 * 1024;  // GET /models

struct Core;  // shared state of one provider (keys, models cache, host services)

class OpenAICompatProvider final : public Provider {
 public:
  OpenAICompatProvider(std::string name, OpenAICompatConfig config, HostServices& host);
  // Cancels the model refresh; calls in flight keep their shared state and
  // finish without the host services of this provider.
  ~OpenAICompatProvider() override;
  OpenAICompatProvider(const OpenAICompatProvider&) = delete;
  OpenAICompatProvider& operator=(const OpenAICompatProvider&) = delete;

  std::vector<ModelInfo> models() const override;
  void chat(ChatCallPtr call) override;
  // Chat and completions always; embeddings unless the config says otherwise.
  bool serves(Operation operation) const override;
  // OpenAI chat in with `passthrough` on: the body goes up as it is, so the
  // host may skip parsing it (routing-only).
  bool passes_through(Api api) const override;
  // Unauthorized while every key waits after a 401 (none due for its probe).
  ProviderCondition condition() const override;

  const OpenAICompatConfig& config() const;

 private:
  std::shared_ptr<Core> core_;
};

class OpenAICompatPlugin : public Plugin {
 public:
  explicit OpenAICompatPlugin(OpenAICompatConfig defaults) : defaults_(std::move(defaults)) {}
  std::string name() const override { return defaults_.plugin; }
  std::string version() const override { return defaults_.version; }
  std::shared_ptr<Provider> create_provider(const ProviderSpec& spec) override;

 private:
  OpenAICompatConfig defaults_;
};

// "…abcd" for long keys, "…" for short ones: enough to tell keys apart in a
// log line, never enough to use one.
std::string key_hint(const std::string& key);

}  // namespace llmux::openai_compat
