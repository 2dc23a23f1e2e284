// The routing table: maps a requested model name to an ordered chain of
// provider steps. Built from a GatewayConfig and the providers instantiated for
// it; immutable once built, swapped whole on reload.
//
// Lookup precedence: an alias is first replaced by its target; then an exact
// route; then the matching wildcard route with the most literal characters
// (ties: the one first in the file); then the default chain; else not found.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "config/gateway_config.h"
#include "llmux/provider.h"

namespace llmux::host {

// A provider as the table knows it: ready, or the reason it cannot serve.
struct ProviderSlot {
  std::string name;
  std::string plugin;
  std::shared_ptr<Provider> provider;  // null when not usable
  std::string state;                   // "ready", "not configured: ...", "unavailable: ..."
  RetryPolicy retry;
  CooldownPolicy cooldown;
  bool not_configured = false;         // a secret it needs is unset (state says which)
  bool ready() const { return provider != nullptr; }
  // Why the provider cannot take a request now by its own account (not
  // loaded, not configured, or ProviderCondition not Up), or nullopt. The
  // host's cooldowns come on top (ProviderHealth).
  std::optional<std::string> unusable_reason() const;
  bool unauthorized() const;
};

struct ResolvedStep {
  const ProviderSlot* slot = nullptr;  // owned by the table
  std::string upstream_model;          // the name to send this provider
  const std::vector<std::pair<std::string, std::string>>* params = nullptr;  // the step's request members
};

struct Resolution {
  std::string requested;       // what the client asked for
  std::string resolved;        // after alias replacement
  std::string matched_route;   // the route pattern (or "default")
  std::vector<ResolvedStep> chain;
};

class RouteTable {
 public:
  // `slots` must hold a slot for every provider the config declares.
  RouteTable(GatewayConfig config, std::vector<ProviderSlot> slots);

  // Null when nothing matches (the caller answers 404 with served_models()).
  std::optional<Resolution> resolve(std::string_view model) const;

  // Every concrete model name the table serves: exact route names, the
  // models routes declare, alias names, and provider-reported models that
  // some route matches. Sorted, unique.
  std::vector<std::string> served_models() const;

  // The value of a `model` metrics label for a request: the (alias-resolved)
  // name when the table knows it as a concrete model (served_models() as the
  // table was built), else "other". Bounded by the config, whatever clients send.
  std::string_view model_label(std::string_view requested, std::string_view resolved) const;

  const GatewayConfig& config() const { return config_; }
  const std::vector<ProviderSlot>& slots() const { return slots_; }
  const ProviderSlot* find_slot(std::string_view name) const;

 private:
  const RouteDecl* match_route(std::string_view model) const;
  GatewayConfig config_;
  std::vector<ProviderSlot> slots_;
  // Looked up by string_view (per request): no string made for the lookup.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  std::unordered_set<std::string, NameHash, std::equal_to<>> label_models_;
};

// True if `name` matches `pattern` ('*' any run, '?' one char).
bool wildcard_match(std::string_view pattern, std::string_view name);
// Number of literal (non-wildcard) characters of a pattern.
std::size_t literal_length(std::string_view pattern);
bool is_wildcard(std::string_view pattern);

}  // namespace llmux::host
