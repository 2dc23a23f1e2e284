// The claude provider: the Anthropic Messages API through a token pool.
//
//   Anthropic in (request.source_api == Api::Anthropic with original_body):
//     the client's body goes upstream untouched but for "model", with the
//     client's anthropic-beta; the answer comes back as Raw events (whole SSE
//     events with their original bytes, or the whole JSON body), each checked
//     to be Anthropic's before it goes, then Usage and Finish. The model the
//     answer names stays the upstream's (the host renames it for the client).
//   OpenAI in: rendered with the Anthropic codec, parsed back into canonical events.
//
// Every request takes a credential from the pool; a 401/403 refreshes it once,
// a 429/529 rests it, and the request moves on to the next credential (each at
// most once) before an error reaches the host.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "claude_config.h"
#include "llmux/provider.h"

namespace llmux::claude {

class TokenPool;

inline constexpr std::size_t kMaxErrorBody = 64 * 1024;          // non-2xx bodies
inline constexpr std::size_t kMaxJsonBody = 256u * 1024 * 1024;  // a whole message
inline constexpr std::size_t kMaxSseEvent = 16u * 1024 * 1024;   // one SSE event
inline constexpr std::size_t kMaxCountBody = 1024 * 1024;         // count_tokens answer

class ClaudeProvider final : public Provider {
 public:
  ClaudeProvider(std::string name, ClaudeConfig config, HostServices& host);
  ~ClaudeProvider() override;
  ClaudeProvider(const ClaudeProvider&) = delete;
  ClaudeProvider& operator=(const ClaudeProvider&) = delete;

  std::vector<ModelInfo> models() const override;
  void chat(ChatCallPtr call) override;
  // Anthropic in: the client's body goes up with the model renamed (the host may skip parsing it).
  bool passes_through(Api api) const override { return api == Api::Anthropic; }
  bool count_tokens(const ChatRequest& request, CountTokensDone done) override;
  std::string credentials_report() const override;
  // Add, disable, enable, refresh or remove a credential (docs/claude-pool.md).
  bool manage_credentials(CredentialAction action, CredentialActionDone done) override;

 private:
  std::shared_ptr<TokenPool> pool_;
};

// The body /v1/messages/count_tokens accepts: `body` without the members only
// message creation takes (stream, max_tokens, sampling, metadata, ...).
std::string count_tokens_body(std::string_view body, std::string_view model);

}  // namespace llmux::claude
