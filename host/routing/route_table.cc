// The routing table: alias replacement, exact and wildcard routes, default chain.
#include "routing/route_table.h"

#include <algorithm>
#include <stdexcept>

namespace llmux::host {

namespace {

// Replaces an alias by its target, hop by hop. Aliases were checked acyclic at
// load; the hop limit guards a hand-built config.
std::string follow_aliases(const GatewayConfig& config, std::string_view model) {
  std::string name(model);
  for (std::size_t hops = 0; hops <= config.aliases.size(); ++hops) {
    auto alias = std::find_if(config.aliases.begin(), config.aliases.end(),
                              [&](const AliasDecl& a) { return a.name == name; });
    if (alias == config.aliases.end()) break;
    name = alias->target;
  }
  return name;
}

}  // namespace

std::optional<std::string> ProviderSlot::unusable_reason() const {
  if (!ready()) return state;
  ProviderCondition condition = provider->condition();
  if (condition.state != ProviderCondition::State::Up) return "unauthorized: " + condition.reason;
  return std::nullopt;
}

bool ProviderSlot::unauthorized() const {
  return ready() && provider->condition().state == ProviderCondition::State::Unauthorized;
}

bool wildcard_match(std::string_view pattern, std::string_view name) {
  // Greedy match with backtracking to the last '*': O(|pattern| * |name|) at
  // worst, no recursion.
  std::size_t p = 0, n = 0;
  std::size_t star = std::string_view::npos;  // position of the last '*' seen
  std::size_t star_n = 0;                     // where that '*' started matching
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == name[n]))) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_n = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::size_t literal_length(std::string_view pattern) {
  return static_cast<std::size_t>(
      std::count_if(pattern.begin(), pattern.end(), [](char c) { return c != '*' && c != '?'; }));
}

bool is_wildcard(std::string_view pattern) { return pattern.find_first_of("*?") != std::string_view::npos; }

RouteTable::RouteTable(GatewayConfig config, std::vector<ProviderSlot> slots)
    : config_(std::move(config)), slots_(std::move(slots)) {
  for (const auto& decl : config_.providers) {
    if (find_slot(decl.name) == nullptr) {
      throw std::invalid_argument("RouteTable: no slot for provider '" + decl.name + "'");
    }
  }
  auto check_chain = [this](const std::vector<ChainStep>& chain, const std::string& where) {
    for (const auto& step : chain) {
      if (find_slot(step.provider) == nullptr) {
        throw std::invalid_argument("RouteTable: " + where + " names provider '" + step.provider +
                                    "' that has no slot");
      }
    }
  };
  for (const auto& route : config_.routes) check_chain(route.chain, "route '" + route.pattern + "'");
  check_chain(config_.default_chain, "the default chain");
  for (auto& name : served_models()) label_models_.insert(std::move(name));
}

std::string_view RouteTable::model_label(std::string_view requested, std::string_view resolved) const {
  if (auto it = label_models_.find(resolved); it != label_models_.end()) return *it;
  if (auto it = label_models_.find(requested); it != label_models_.end()) return *it;
  return "other";
}

const ProviderSlot* RouteTable::find_slot(std::string_view name) const {
  for (const auto& slot : slots_) {
    if (slot.name == name) return &slot;
  }
  return nullptr;
}

const RouteDecl* RouteTable::match_route(std::string_view model) const {
  for (const auto& route : config_.routes) {
    if (!is_wildcard(route.pattern) && route.pattern == model) return &route;
  }
  const RouteDecl* best = nullptr;
  std::size_t best_literal = 0;
  for (const auto& route : config_.routes) {
    if (!is_wildcard(route.pattern) || !wildcard_match(route.pattern, model)) continue;
    std::size_t literal = literal_length(route.pattern);
    if (best == nullptr || literal > best_literal) {  // ties: the first in the file stays
      best = &route;
      best_literal = literal;
    }
  }
  return best;
}

std::optional<Resolution> RouteTable::resolve(std::string_view model) const {
  Resolution out;
  out.requested = std::string(model);
  out.resolved = follow_aliases(config_, model);

  const std::vector<ChainStep>* chain = nullptr;
  if (const RouteDecl* route = match_route(out.resolved)) {
    out.matched_route = route->pattern;
    chain = &route->chain;
  } else if (!config_.default_chain.empty()) {
    out.matched_route = "default";
    chain = &config_.default_chain;
  } else {
    return std::nullopt;
  }
  out.chain.reserve(chain->size());
  for (const auto& step : *chain) {
    ResolvedStep resolved;
    resolved.slot = find_slot(step.provider);
    resolved.upstream_model = step.upstream_model.empty() ? out.resolved : step.upstream_model;
    resolved.params = &step.params;
    out.chain.push_back(std::move(resolved));
  }
  return out;
}

std::vector<std::string> RouteTable::served_models() const {
  std::vector<std::string> out;
  for (const auto& route : config_.routes) {
    if (!is_wildcard(route.pattern)) out.push_back(route.pattern);
    out.insert(out.end(), route.models.begin(), route.models.end());
  }
  for (const auto& alias : config_.aliases) out.push_back(alias.name);
  for (const auto& slot : slots_) {
    if (!slot.ready()) continue;
    std::vector<ModelInfo> models;
    try {
      models = slot.provider->models();
    } catch (...) {
      continue;  // a provider that cannot list its models just lists none
    }
    for (const auto& model : models) {
      if (model.id.empty()) continue;
      if (match_route(follow_aliases(config_, model.id)) != nullptr) out.push_back(model.id);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace llmux::host
