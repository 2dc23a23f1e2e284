// providers.yaml: schema validation into GatewayConfig.
#include "config/gateway_config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "llmux/json.h"
#include "routing/route_table.h"

namespace llmux::host {

namespace {

int bounded_int(const ConfigNode& map, std::string_view key, int fallback, int low, int high) {
  std::int64_t value = map.get_int(key, fallback);
  if (value < low || value > high) {
    throw ConfigError(*map.find(key), std::string(key) + " must be between " + std::to_string(low) + " and " +
                                          std::to_string(high) + ", got " + std::to_string(value));
  }
  return static_cast<int>(value);
}

// A YAML value as JSON text: numbers, true/false and null stay bare, other
// scalars become strings; maps and lists recurse.
std::string to_json(const ConfigNode& node) {
  std::string out;
  if (node.is_null()) return "null";
  if (node.is_scalar()) {
    const std::string& v = node.value();
    if (v == "true" || v == "false" || v == "null") return v;
    if (!v.empty() && (std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '-')) {
      rapidjson::Document number;  // only what JSON itself calls a number stays bare
      number.Parse(v.c_str(), v.size());
      if (!number.HasParseError() && number.IsNumber()) return v;
    }
    json::append_quoted(out, v);
    return out;
  }
  if (node.is_sequence()) {
    out = "[";
    for (std::size_t i = 0; i < node.items().size(); ++i) out += (i ? "," : "") + to_json(node.items()[i]);
    return out + "]";
  }
  out = "{";
  bool first = true;
  for (const auto& [key, value] : node.entries()) {
    if (!first) out += ",";
    first = false;
    json::append_quoted(out, key);
    out += ":" + to_json(value);
  }
  return out + "}";
}


constexpr std::size_t kMinBody = 1024;
constexpr std::size_t kMaxBody = std::size_t{1} << 30;  // 1 GiB
constexpr std::size_t kMinClientKeyLength = 8;
constexpr std::int64_t kMaxThreads = 64;

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void parse_listen(const ConfigNode& node, std::string& host, std::uint16_t& port) {
  const std::string text = node.as_string();
  if (!split_listen(text, host, port) || port == 0) {
    std::string port_text = text.substr(text.rfind(':') + 1);
    if (all_digits(port_text) && port_text.size() <= 15) {
      throw ConfigError(node, "port " + port_text + " is out of range (1..65535)");
    }
    std::string expected = "expected HOST:PORT (like 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080), got '" + text + "'";
    if (text.find(':') != text.rfind(':') && text.find('[') == std::string::npos) {
      expected += " (write an IPv6 address in brackets)";
    }
    throw ConfigError(node, expected);
  }
}

// "32MiB", "512KiB", "1GiB", "64KB", "1048576" (bytes).
std::size_t parse_size(const ConfigNode& node) {
  const std::string text = node.as_string();
  const std::string expected = "expected a size like 32MiB, 512KiB or a number of bytes, got '" + text + "'";
  std::size_t pos = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
  std::string digits = text.substr(0, pos);
  std::string unit = text.substr(pos);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  if (digits.empty() || digits.size() > 15) throw ConfigError(node, expected);
  static const std::map<std::string, std::uint64_t> kUnits = {
      {"", 1},          {"B", 1},
      {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
      {"KB", 1000},     {"MB", 1000 * 1000},   {"GB", 1000 * 1000 * 1000},
  };
  auto unit_it = kUnits.find(unit);
  if (unit_it == kUnits.end()) throw ConfigError(node, expected);
  std::uint64_t amount = std::stoull(digits);
  if (amount > kMaxBody / unit_it->second + 1) {
    throw ConfigError(node, "size '" + text + "' is too large (at most 1GiB)");
  }
  std::uint64_t bytes = amount * unit_it->second;
  if (bytes > kMaxBody) throw ConfigError(node, "size '" + text + "' is too large (at most 1GiB)");
  if (bytes < kMinBody) throw ConfigError(node, "size '" + text + "' is too small (at least 1KiB)");
  return static_cast<std::size_t>(bytes);
}

bool valid_provider_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The entries of an optional map-valued key: absent or empty -> nothing.
const std::vector<std::pair<std::string, ConfigNode>>* map_entries(const ConfigNode& root, std::string_view key) {
  const ConfigNode* node = root.find(key);
  if (node == nullptr || node->is_null()) return nullptr;
  if (!node->is_map()) {
    throw ConfigError(*node, "expected a map, got " +
                                 std::string(node->is_scalar() ? "'" + node->value() + "'" : "a list"));
  }
  return &node->entries();
}

class ChainParser {
 public:
  explicit ChainParser(const std::vector<ProviderDecl>& providers) {
    for (const auto& p : providers) {
      names_.insert(p.name);
      declared_.push_back(p.name);
    }
  }

  std::vector<ChainStep> parse(const ConfigNode& node) const {
    std::vector<ChainStep> chain;
    if (node.is_null()) throw ConfigError(node, "empty chain: name at least one provider");
    if (node.is_scalar() || node.is_map()) {
      chain.push_back(step(node));
    } else {
      for (const ConfigNode& item : node.items()) chain.push_back(step(item));
      if (chain.empty()) throw ConfigError(node, "empty chain: name at least one provider");
    }
    return chain;
  }

 private:
  ChainStep step(const ConfigNode& node) const {
    ChainStep out;
    out.mark = node.mark();
    const ConfigNode* provider_node = &node;
    if (node.is_map()) {
      node.check_keys({"provider", "model", "params"});
      if (const ConfigNode* params = node.find("params"); params != nullptr && !params->is_null()) {
        if (!params->is_map()) throw ConfigError(*params, "expected a map of request members");
        for (const auto& [name, value] : params->entries()) out.params.emplace_back(name, to_json(value));
      }
      node.require_string("provider");
      provider_node = node.find("provider");
      if (const ConfigNode* model = node.find("model"); model != nullptr && !model->is_null()) {
        out.upstream_model = model->as_string();
        if (out.upstream_model.empty()) throw ConfigError(*model, "model name is empty");
      }
    } else if (!node.is_scalar()) {
      throw ConfigError(node, "expected a provider name or {provider: NAME, model: UPSTREAM-MODEL}");
    }
    out.provider = provider_node->as_string();
    if (out.provider.empty()) throw ConfigError(*provider_node, "provider name is empty");
    if (names_.count(out.provider) == 0) {
      std::string message = "unknown provider '" + out.provider + "'; ";
      message += declared_.empty() ? "no providers are declared" : "declared: " + join(declared_);
      throw ConfigError(*provider_node, message);
    }
    return out;
  }

  std::set<std::string> names_;
  std::vector<std::string> declared_;
};

void check_aliases(const GatewayConfig& config, const ConfigNode& aliases_node) {
  std::map<std::string, const AliasDecl*> by_name;
  for (const auto& alias : config.aliases) by_name[alias.name] = &alias;
  for (const auto& alias : config.aliases) {
    const ConfigNode* node = aliases_node.find(alias.name);
    for (const auto& route : config.routes) {
      if (!is_wildcard(route.pattern) && route.pattern == alias.name) {
        throw ConfigError(*node, "alias '" + alias.name + "' is also a route (line " +
                                     std::to_string(route.mark.line) +
                                     "); a model name is either an alias or a route");
      }
    }
    // Follow the chain; coming back to a name already on it is a cycle.
    std::vector<std::string> trail{alias.name};
    std::string current = alias.target;
    while (true) {
      auto pos = std::find(trail.begin(), trail.end(), current);
      if (pos != trail.end()) {
        std::string cycle;
        for (auto it = pos; it != trail.end(); ++it) cycle += *it + " -> ";
        cycle += current;
        const ConfigNode* at = aliases_node.find(*pos);
        throw ConfigError(at != nullptr ? *at : *node, "alias cycle: " + cycle);
      }
      auto next = by_name.find(current);
      if (next == by_name.end()) break;
      trail.push_back(current);
      current = next->second->target;
    }
  }
}

}  // namespace

bool split_listen(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view port_text;
  if (!text.empty() && text[0] == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    if (host.empty() || host.find(':') == std::string::npos) return false;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) return false;  // IPv6 needs brackets
  }
  if (!all_digits(port_text) || port_text.size() > 5) return false;
  unsigned long value = std::stoul(std::string(port_text));
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

GatewayConfig parse_gateway_config(const std::string& yaml_text, const std::filesystem::path& source_name) {
  const std::string file = source_name.string();
  ConfigNode root = parse_yaml_tree(yaml_text, file);
  GatewayConfig config;
  config.source = source_name;
  if (!root.is_null() && !root.is_map()) {
    throw ConfigError(root, "expected a map of settings (listen, providers, routes, ...) at the top level");
  }
  root.check_keys({"listen", "plugins_dir", "state_dir", "client_keys", "admin_key", "max_body", "threads", "providers",
                   "routes", "aliases", "default", "access_log", "metrics", "responses", "admin"});

  if (const ConfigNode* node = root.find("listen"); node != nullptr && !node->is_null()) {
    parse_listen(*node, config.listen_host, config.listen_port);
  }

  // Folders are resolved relative to the config file's folder.
  auto folder = [&](const char* key, const char* fallback) {
    std::filesystem::path path = fallback;
    if (const ConfigNode* node = root.find(key); node != nullptr && !node->is_null()) {
      std::string text = node->as_string();
      if (text.empty()) throw ConfigError(*node, std::string(key) + " is empty");
      path = text;
    }
    if (path.is_relative()) {
      std::filesystem::path base = source_name.parent_path();
      path = std::filesystem::absolute(base.empty() ? path : base / path);
    }
    return path.lexically_normal();
  };
  config.plugins_dir = folder("plugins_dir", "plugins");
  config.state_dir = folder("state_dir", ".llmux-state");

  if (const ConfigNode* node = root.find("client_keys"); node != nullptr && !node->is_null()) {
    std::vector<const ConfigNode*> items;
    if (node->is_scalar()) {
      items.push_back(node);
    } else if (node->is_sequence()) {
      for (const ConfigNode& item : node->items()) items.push_back(&item);
    } else {
      throw ConfigError(*node, "expected a list of keys, got a map");
    }
    std::size_t position = 0;
    for (const ConfigNode* item : items) {
      ++position;
      if (item->is_null()) continue;
      const ConfigNode* key_node = item;
      std::string label = "key-" + std::to_string(position);
      if (item->is_map()) {  // {key: ..., label: ...}
        item->check_keys({"key", "label"});
        item->require_string("key");
        key_node = item->find("key");
        if (const ConfigNode* given = item->find("label"); given != nullptr && !given->is_null()) {
          label = given->as_string();
          if (label.empty()) throw ConfigError(*given, "label is empty");
        }
      }
      std::string key = key_node->as_string();
      if (key.empty()) continue;  // typically ${VAR} of an unset variable
      if (key.size() < kMinClientKeyLength) {
        throw ConfigError(*key_node, "client key is too short (" + std::to_string(key.size()) +
                                         " characters; at least " + std::to_string(kMinClientKeyLength) + ")");
      }
      auto same = [&](const ClientKey& k) { return k.key == key; };
      if (std::none_of(config.client_keys.begin(), config.client_keys.end(), same)) {
        config.client_keys.push_back({std::move(key), std::move(label)});
      }
    }
  }

  config.admin_key = root.get_string("admin_key");

  if (const ConfigNode* node = root.find("admin"); node != nullptr && !node->is_null()) {
    // The panel and the admin API (docs/admin-api.md).
    node->check_keys({"session_ttl", "history"});
    auto ttl = node->get_duration("session_ttl", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      config.admin.session_ttl));
    if (ttl < std::chrono::minutes(1)) throw ConfigError(*node->find("session_ttl"), "session_ttl must be at least 1m");
    config.admin.session_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
    std::int64_t history = node->get_int("history", static_cast<std::int64_t>(config.admin.history));
    if (history < 10 || history > 100000) {
      throw ConfigError(*node->find("history"), "history must be between 10 and 100000 requests");
    }
    config.admin.history = static_cast<std::size_t>(history);
  }

  if (const ConfigNode* node = root.find("max_body"); node != nullptr && !node->is_null()) {
    config.max_body_bytes = parse_size(*node);
  }

  if (const ConfigNode* node = root.find("responses"); node != nullptr && !node->is_null()) {
    // Stored Responses (previous_response_id): how long and how much.
    node->check_keys({"store_ttl", "store_max"});
    auto ttl = node->get_duration("store_ttl", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    config.responses_store.ttl));
    if (ttl < std::chrono::seconds(1)) throw ConfigError(*node->find("store_ttl"), "store_ttl must be at least 1s");
    config.responses_store.ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
    if (const ConfigNode* max = node->find("store_max"); max != nullptr && !max->is_null()) {
      config.responses_store.max_bytes = parse_size(*max);
    }
  }

  if (const ConfigNode* node = root.find("threads"); node != nullptr && !node->is_null()) {
    std::int64_t threads = node->as_int();
    if (threads < 0 || threads > kMaxThreads) {
      throw ConfigError(*node, "threads must be between 0 (one per core) and " + std::to_string(kMaxThreads) +
                                   ", got " + std::to_string(threads));
    }
    config.threads = static_cast<unsigned>(threads);
  }

  if (const ConfigNode* node = root.find("access_log"); node != nullptr && !node->is_null()) {
    std::string text = node->as_string();
    if (text == "off" || text == "false") {
      config.access_log.kind = AccessLogTarget::Kind::Off;
    } else if (text == "stderr") {
      config.access_log.kind = AccessLogTarget::Kind::Stderr;
    } else if (text.empty()) {
      throw ConfigError(*node, "access_log is empty: write off, stderr or a file path");
    } else {
      std::filesystem::path path = text;
      if (path.is_relative()) {
        std::filesystem::path base = source_name.parent_path();
        path = std::filesystem::absolute(base.empty() ? path : base / path);
      }
      config.access_log = {AccessLogTarget::Kind::File, path.lexically_normal()};
    }
  }

  if (const ConfigNode* node = root.find("metrics"); node != nullptr && !node->is_null()) {
    if (!node->is_map()) throw ConfigError(*node, "expected {enabled: true|false, listen: HOST:PORT}");
    node->check_keys({"enabled", "listen"});
    config.metrics.enabled = node->get_bool("enabled", true);
    if (const ConfigNode* listen = node->find("listen"); listen != nullptr && !listen->is_null()) {
      parse_listen(*listen, config.metrics.listen_host, config.metrics.listen_port);
    }
  }

  if (const auto* entries = map_entries(root, "providers")) {
    for (const auto& [name, node] : *entries) {
      if (!valid_provider_name(name)) {
        throw ConfigError(node, "invalid provider name '" + name + "' (use letters, digits, '_', '.' and '-')");
      }
      if (!node.is_map()) {
        throw ConfigError(node, "expected a map with 'plugin' (and optional 'options'), got " +
                                    std::string(node.is_null() ? "an empty value"
                                                : node.is_scalar() ? "'" + node.value() + "'"
                                                                   : "a list"));
      }
      node.check_keys({"plugin", "options", "retry", "cooldown"});
      ProviderDecl decl;
      decl.name = name;
      decl.mark = node.mark();
      if (const ConfigNode* retry = node.find("retry"); retry != nullptr && !retry->is_null()) {
        if (!retry->is_map()) throw ConfigError(*retry, "expected {attempts, backoff, max_backoff, max_retry_after}");
        retry->check_keys({"attempts", "backoff", "max_backoff", "max_retry_after"});
        decl.retry.attempts = bounded_int(*retry, "attempts", decl.retry.attempts, 0, 10);
        decl.retry.backoff = retry->get_duration("backoff", decl.retry.backoff);
        decl.retry.max_backoff = retry->get_duration("max_backoff", decl.retry.max_backoff);
        decl.retry.max_retry_after = retry->get_duration("max_retry_after", decl.retry.max_retry_after);
      }
      if (const ConfigNode* cooldown = node.find("cooldown"); cooldown != nullptr && !cooldown->is_null()) {
        if (!cooldown->is_map()) throw ConfigError(*cooldown, "expected {after_failures, period}");
        cooldown->check_keys({"after_failures", "period"});
        decl.cooldown.after_failures = bounded_int(*cooldown, "after_failures", decl.cooldown.after_failures, 0, 1000);
        decl.cooldown.period = cooldown->get_duration("period", decl.cooldown.period);
      }
      decl.plugin = node.require_string("plugin");
      if (decl.plugin.empty()) throw ConfigError(*node.find("plugin"), "plugin name is empty");
      const ConfigNode* options = node.find("options");
      if (options == nullptr || options->is_null()) {
        decl.options = ConfigNode::map(options ? options->mark() : node.mark(), node.path() + ".options");
      } else if (options->is_map()) {
        decl.options = *options;
      } else {
        throw ConfigError(*options, "expected a map of plugin options");
      }
      config.providers.push_back(std::move(decl));
    }
  }

  ChainParser chains(config.providers);

  if (const auto* entries = map_entries(root, "routes")) {
    for (const auto& [pattern, node] : *entries) {
      if (pattern.empty()) throw ConfigError(node, "empty route pattern");
      RouteDecl route;
      route.pattern = pattern;
      route.mark = node.mark();
      if (node.is_map() && node.find("chain") != nullptr) {  // {chain: [...], models: [...]}
        node.check_keys({"chain", "models"});
        route.chain = chains.parse(*node.find("chain"));
        if (const ConfigNode* models = node.find("models"); models != nullptr && !models->is_null()) {
          if (!models->is_sequence()) throw ConfigError(*models, "expected a list of model names");
          for (const ConfigNode& model : models->items()) {
            std::string name = model.as_string();
            if (name.empty() || is_wildcard(name)) {
              throw ConfigError(model, "expected a concrete model name, got '" + name + "'");
            }
            if (is_wildcard(pattern) && !wildcard_match(pattern, name)) {
              throw ConfigError(model, "'" + name + "' does not match the route pattern '" + pattern + "'");
            }
            route.models.push_back(std::move(name));
          }
        }
      } else {
        route.chain = chains.parse(node);
      }
      config.routes.push_back(std::move(route));
    }
  }

  const ConfigNode* aliases_node = root.find("aliases");
  if (const auto* entries = map_entries(root, "aliases")) {
    for (const auto& [name, node] : *entries) {
      if (name.empty()) throw ConfigError(node, "empty alias name");
      if (!node.is_scalar()) throw ConfigError(node, "expected the model name the alias stands for");
      AliasDecl alias;
      alias.name = name;
      alias.target = node.value();
      alias.mark = node.mark();
      if (alias.target.empty()) throw ConfigError(node, "alias target is empty");
      config.aliases.push_back(std::move(alias));
    }
    check_aliases(config, *aliases_node);
  }

  if (const ConfigNode* node = root.find("default"); node != nullptr) {
    config.default_chain = chains.parse(*node);
  }

  return config;
}

GatewayConfig load_gateway_config(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    throw ConfigError(SourceMark{file.string(), 0, 0}, "",
                      std::string("cannot read config file: ") + std::strerror(EISDIR));
  }
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    int err = errno;
    throw ConfigError(SourceMark{file.string(), 0, 0}, "",
                      std::string("cannot read config file: ") + std::strerror(err != 0 ? err : ENOENT));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    int err = errno;
    throw ConfigError(SourceMark{file.string(), 0, 0}, "",
                      std::string("cannot read config file: ") + std::strerror(err != 0 ? err : EIO));
  }
  return parse_gateway_config(text.str(), file);
}

}  // namespace llmux::host
