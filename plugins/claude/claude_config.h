// The claude provider's options (providers.yaml `options`) and its credentials,
// which may come from the options themselves, from an environment variable
// holding a JSON list, or from a JSON file.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llmux/config.h"
#include "llmux/http.h"
#include "llmux/upstream_settings.h"

namespace llmux::claude {

enum class CredentialKind { ApiKey, OAuth };
enum class Selection { RoundRobin, LeastRecentlyUsed };

const char* to_string(CredentialKind kind) noexcept;  // "api_key" | "oauth"

// One configured credential: a static API key (sent as x-api-key) or an OAuth
// access token with an optional refresh token (sent as a Bearer token).
struct CredentialConfig {
  std::string label;  // unique; names the credential in logs, /api/tokens and the state store
  CredentialKind kind = CredentialKind::ApiKey;
  std::string api_key;
  std::string access_token;   // may be empty when a refresh token is given (refreshed on first use)
  std::string refresh_token;  // empty: the access token cannot be refreshed
  std::int64_t expires_at_ms = 0;  // unix milliseconds; 0 = unknown
  std::string source;  // "providers.yaml", "$NAME", "file <path>": for messages

  // The configured secret this credential is identified by: the API key, else
  // the refresh token, else the access token.
  const std::string& secret() const;
};

struct ClaudeConfig {
  std::string base_url = "https://api.anthropic.com";  // without a trailing '/'
  std::string anthropic_version = "2023-06-01";
  std::vector<std::string> betas;  // always added to anthropic-beta
  HttpHeaders headers;             // extra request headers
  UpstreamSettings upstream;       // timeouts (connect 10s, first byte 60s, idle 120s), proxy, TLS
  std::vector<std::string> models;  // listed by /v1/models; routes decide what is sent here

  std::vector<CredentialConfig> credentials;
  std::vector<std::string> skipped;  // entries left out (an unset variable), for one log line each

  Selection selection = Selection::RoundRobin;
  std::string token_url = "https://console.anthropic.com/v1/oauth/token";
  std::string client_id = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";  // Claude Code's public OAuth client
  std::chrono::milliseconds refresh_skew{std::chrono::minutes(5)};   // refresh this long before expiry
  std::chrono::milliseconds cooldown{std::chrono::seconds(60)};      // 429/529 without retry-after; failed refresh
  std::chrono::milliseconds max_cooldown{std::chrono::hours(1)};     // cap on an upstream's retry-after
  std::chrono::milliseconds refresh_timeout{std::chrono::seconds(30)};  // a whole token request
  std::chrono::milliseconds state_flush{std::chrono::seconds(5)};    // counters reach the store this often

  // Throws ConfigError (with position) for a wrong value and NotConfigured
  // when no credential is usable (e.g. only unset variables).
  static ClaudeConfig parse(const ConfigNode& options);
};

// Reads a JSON list of credentials (the format of credentials_env and
// credentials_file; a file may also be {"credentials":[...]} or Claude Code's
// {"claudeAiOauth":{...}}). Throws std::invalid_argument saying what is wrong.
std::vector<CredentialConfig> parse_credentials_json(std::string_view text, const std::string& source);

// One credential an operator adds (the admin API): {"api_key"},
// {"access_token","refresh_token","expires_at"} (a token may be absent, not
// both) or Claude Code's credentials file {"claudeAiOauth":{...}}. Its source
// is "admin". Throws std::invalid_argument saying what is wrong, never
// quoting the text (it holds a secret).
CredentialConfig parse_credential_secret(std::string_view text);

// Unix milliseconds from seconds or milliseconds (values above 10^11 are
// milliseconds) or an ISO-8601 UTC time ("2025-06-01T12:00:00Z"); nullopt
// when unreadable.
std::optional<std::int64_t> parse_expiry(std::string_view text);

}  // namespace llmux::claude
