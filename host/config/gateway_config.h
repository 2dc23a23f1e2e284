// providers.yaml, validated and typed. Loading reports every error with file,
// line, column and key path (ConfigError).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "services/response_store.h"
#include "llmux/config.h"

namespace llmux::host {

// Retries of one provider before the chain moves on (only for failures worth
// retrying: connect errors, first-byte timeouts, 408, 429, 5xx).
struct RetryPolicy {
  int attempts = 2;                                // retries after the first try
  std::chrono::milliseconds backoff{250};          // first wait; doubles each retry, with jitter
  std::chrono::milliseconds max_backoff{8000};
  std::chrono::milliseconds max_retry_after{10000};  // a longer Retry-After falls back at once
};

// Circuit breaker: after `after_failures` failures in a row (or one refused
// connection) the provider is skipped for `period`; then one probe request
// decides whether it comes back. after_failures 0 = never cool down.
struct CooldownPolicy {
  int after_failures = 3;
  std::chrono::milliseconds period{30000};
};

struct ProviderDecl {
  std::string name;    // key under `providers:`
  std::string plugin;  // plugin name, e.g. "mock"
  ConfigNode options;  // the `options:` subtree (an empty map when absent)
  RetryPolicy retry;
  CooldownPolicy cooldown;
  SourceMark mark;
};

struct ChainStep {
  std::string provider;        // a ProviderDecl name
  std::string upstream_model;  // model sent upstream; empty = the requested (alias-resolved) name
  // Request members this step sets (name -> JSON text), e.g. g4f's `provider`.
  std::vector<std::pair<std::string, std::string>> params;
  SourceMark mark;
};

struct RouteDecl {
  std::string pattern;  // exact model name, or a wildcard with '*' (any run) and '?' (one char)
  std::vector<ChainStep> chain;
  // Concrete model names the route serves ({chain, models} form): listed by
  // GET /v1/models, and the bounded `model` label values of the metrics.
  std::vector<std::string> models;
  SourceMark mark;
};

struct AliasDecl {
  std::string name;    // what clients ask for
  std::string target;  // the model name it stands for
  SourceMark mark;
};

// A client key and the name it goes by in logs and metrics (never the key).
struct ClientKey {
  std::string key;
  std::string label;  // `label:` in the file, else "key-N" (1-based position)
};

// Where the JSON access log goes (one line per finished request).
struct AccessLogTarget {
  enum class Kind { Off, Stderr, File };
  Kind kind = Kind::Off;
  std::filesystem::path file;  // Kind::File, resolved relative to the config file's folder
  bool operator==(const AccessLogTarget&) const = default;
};

struct MetricsOptions {
  bool enabled = true;       // GET /metrics on the main port
  std::string listen_host;   // also serve /metrics here when set (a separate loopback port)
  std::uint16_t listen_port = 0;
};

// The panel and the admin API: `admin: {session_ttl, history}`.
struct AdminOptions {
  std::chrono::seconds session_ttl{std::chrono::hours(12)};
  std::size_t history = 2000;  // finished requests the live log keeps
};

struct GatewayConfig {
  std::filesystem::path source;  // the file it was read from
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::filesystem::path plugins_dir;  // resolved relative to the config file's folder
  std::filesystem::path state_dir;    // providers' durable state (token pools); same resolution
  std::vector<ClientKey> client_keys;    // empty = no auth
  std::string admin_key;                 // empty = admin endpoints need a client key (or nothing)
  AdminOptions admin;
  std::size_t max_body_bytes = 32u << 20;
  ResponseStoreLimits responses_store;  // `responses: {store_ttl, store_max}`
  unsigned threads = 0;                  // 0 = one per core
  AccessLogTarget access_log;
  MetricsOptions metrics;
  std::vector<ProviderDecl> providers;
  std::vector<RouteDecl> routes;  // file order
  std::vector<AliasDecl> aliases;
  std::vector<ChainStep> default_chain;  // empty = no default route (unknown models get 404)
};

// "HOST:PORT", "[v6]:PORT": false when `text` is not one (port 0..65535).
bool split_listen(std::string_view text, std::string& host, std::uint16_t& port);

// Reads and validates a config file. Throws ConfigError (file:line:column,
// key path, message) on the first error. ${VAR} and ${VAR:-default} in scalars
// are replaced from the environment; unset variables without a default leave
// the scalar empty and are recorded on the node (see ConfigNode::missing_variables).
GatewayConfig load_gateway_config(const std::filesystem::path& file);

// Same, from text (tests); `source_name` is used in error positions.
GatewayConfig parse_gateway_config(const std::string& yaml_text, const std::filesystem::path& source_name);

// YAML text -> ConfigNode tree with positions and ${VAR} substitution.
// Throws ConfigError for YAML syntax errors, duplicate keys, bad ${...} syntax.
ConfigNode parse_yaml_tree(const std::string& yaml_text, const std::string& source_name);

}  // namespace llmux::host
