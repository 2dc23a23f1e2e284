// OpenAICompatConfig: flavour defaults and the `options` map of providers.yaml.
#include <algorithm>
#include <utility>
#include <string_view>

#include "openai_compat.h"

namespace llmux::openai_compat {

namespace {

const ConfigNode* present(const ConfigNode* node) { return node != nullptr && !node->is_null() ? node : nullptr; }

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string join_names(const std::vector<std::string>& names) {
  std::vector<std::string> seen;
  std::string out;
  for (const auto& name : names) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;  // each variable once
    seen.push_back(name);
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string unset_message(const std::string& path, const std::vector<std::string>& missing) {
  std::string names = join_names(missing);
  bool several = names.find(',') != std::string::npos;
  return path + ": environment variable" + (several ? "s " : " ") + names + (several ? " are not set" : " is not set");
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void read_base_url(OpenAICompatConfig& c, const ConfigNode& options) {
  const ConfigNode* node = present(options.find("base_url"));
  if (node == nullptr) return;
  std::string url = node->as_string();
  if (!node->missing_variables().empty() && url.empty()) {
    throw NotConfigured(unset_message(node->path(), node->missing_variables()));
  }
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    throw ConfigError(*node, "must start with http:// or https://, got " + quote(url));
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) {
    throw ConfigError(*node, "must not contain whitespace");
  }
  while (url.size() > 8 && url.back() == '/') url.pop_back();
  std::size_t host_start = url.find("://") + 3;
  if (host_start >= url.size() || url[host_start] == '/') {
    throw ConfigError(*node, "has no host: " + quote(url));
  }
  c.base_url = std::move(url);
}

// Keys: `api_key` (one secret) or `api_keys` (a list; unset entries dropped).
void read_keys(OpenAICompatConfig& c, const ConfigNode& options) {
  const ConfigNode* one = present(options.find("api_key"));
  const ConfigNode* many = present(options.find("api_keys"));
  if (one != nullptr && many != nullptr) {
    throw ConfigError(*many, "give either api_key or api_keys, not both");
  }
  c.keys.clear();
  if (one != nullptr) {
    if (c.key_required) {
      c.keys.push_back({*options.get_secret("api_key"), 1});  // NotConfigured names the unset variable
    } else {
      std::string value = one->as_string();
      if (one->missing_variables().empty() && !value.empty()) c.keys.push_back({std::move(value), 1});
    }
    return;
  }
  if (many != nullptr) {
    std::vector<ConfigNode> single;
    const std::vector<ConfigNode>* items = nullptr;
    if (many->is_scalar()) {
      single.push_back(*many);
      items = &single;
    } else if (many->is_sequence()) {
      items = &many->items();
    } else {
      throw ConfigError(*many, "expected a list of keys");
    }
    std::vector<std::string> missing;
    int position = 0;
    for (const ConfigNode& item : *items) {
      ++position;
      if (item.is_null()) continue;
      std::string value = item.as_string();
      if (!item.missing_variables().empty()) {
        missing.insert(missing.end(), item.missing_variables().begin(), item.missing_variables().end());
        continue;
      }
      if (value.empty()) continue;
      c.keys.push_back({std::move(value), position});
    }
    if (c.keys.empty() && c.key_required) {
      if (!missing.empty()) throw NotConfigured(unset_message(many->path(), missing));
      throw NotConfigured(many->path() + ": no key given");
    }
    return;
  }
  if (c.key_required) {
    throw NotConfigured(options.path() + (options.path().empty() ? "" : ": ") +
                        "no API key: set api_key (e.g. api_key: ${OPENAI_API_KEY}) or api_keys");
  }
}

void read_headers(OpenAICompatConfig& c, const ConfigNode& options) {
  const ConfigNode* node = present(options.find("headers"));
  if (node == nullptr) return;
  if (!node->is_map()) throw ConfigError(*node, "expected a map of header name to value");
  for (const auto& [name, value] : node->entries()) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
      throw ConfigError(value, "invalid header name " + quote(name));
    }
    for (std::string_view reserved : {"host", "content-length", "transfer-encoding", "connection"}) {
      if (iequals(name, reserved)) throw ConfigError(value, "header " + quote(name) + " is set by llmux");
    }
    if (value.is_null()) continue;
    std::string text = value.as_string();
    if (!value.missing_variables().empty()) {
      throw NotConfigured(unset_message(value.path(), value.missing_variables()));
    }
    if (text.find_first_of("\r\n") != std::string::npos || text.find('\0') != std::string::npos) {
      throw ConfigError(value, "header values must be one line");
    }
    c.headers.emplace_back(name, std::move(text));
  }
}

}  // namespace

OpenAICompatConfig OpenAICompatConfig::openai() { return OpenAICompatConfig{}; }

OpenAICompatConfig OpenAICompatConfig::g4f() {
  OpenAICompatConfig c;
  c.plugin = "g4f";
  c.key_required = false;
  c.provider_option = true;
  c.base_url = "http://127.0.0.1:1337/v1";
  c.embeddings = false;  // the gpt4free API server has no /v1/embeddings
  c.completions = Completions::Chat;  // g4f's providers are chat models
  return c;
}

OpenAICompatConfig OpenAICompatConfig::parse(OpenAICompatConfig c, const ConfigNode& options) {
  if (!options.is_null() && !options.is_map()) throw ConfigError(options, "expected a map of options");
  if (c.provider_option) {
    options.check_keys({"base_url", "api_key", "api_keys", "headers", "connect_timeout", "first_byte_timeout",
                        "idle_timeout", "total_timeout", "proxy", "verify_tls", "ca_path", "models", "models_ttl",
                        "organization", "provider", "passthrough", "embeddings", "completions", "responses", "unauthorized_cooldown"});
  } else {
    options.check_keys({"base_url", "api_key", "api_keys", "headers", "connect_timeout", "first_byte_timeout",
                        "idle_timeout", "total_timeout", "proxy", "verify_tls", "ca_path", "models", "models_ttl",
                        "organization", "passthrough", "embeddings", "completions", "responses", "unauthorized_cooldown"});
  }
  read_base_url(c, options);
  read_headers(c, options);

  c.upstream = read_upstream_settings(options, std::move(c.upstream));
  c.passthrough = options.get_bool("passthrough", c.passthrough);
  c.embeddings = options.get_bool("embeddings", c.embeddings);
  if (const ConfigNode* completions = present(options.find("completions"))) {
    std::string mode = completions->as_string();
    if (mode == "native") {
      c.completions = OpenAICompatConfig::Completions::Native;
    } else if (mode == "chat") {
      c.completions = OpenAICompatConfig::Completions::Chat;
    } else {
      throw ConfigError(*completions, "must be 'native' or 'chat', got " + quote(mode));
    }
  }
  c.unauthorized_cooldown = options.get_duration("unauthorized_cooldown", c.unauthorized_cooldown);
  if (const ConfigNode* responses = present(options.find("responses"))) {
    std::string mode = responses->as_string();
    if (mode == "native") {
      c.responses = OpenAICompatConfig::Responses::Native;
    } else if (mode == "translate") {
      c.responses = OpenAICompatConfig::Responses::Translate;
    } else {
      throw ConfigError(*responses, "must be 'native' or 'translate', got " + quote(mode));
    }
  }

  if (const ConfigNode* models = present(options.find("models"))) {
    std::vector<std::string> list = options.get_string_list("models");
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].empty()) {
        throw ConfigError(models->is_sequence() ? models->items()[i] : *models, "model names must not be empty");
      }
    }
    c.models = std::move(list);
  }
  c.models_ttl = options.get_duration("models_ttl", c.models_ttl);

  c.organization = options.get_string("organization", c.organization);
  if (const ConfigNode* org = present(options.find("organization"));
      org != nullptr && c.organization.find_first_of("\r\n") != std::string::npos) {
    throw ConfigError(*org, "organization must be one line");
  }

  if (c.provider_option) {
    if (const ConfigNode* provider = present(options.find("provider"))) {
      c.provider = provider->as_string();
      if (c.provider.empty()) throw ConfigError(*provider, "provider must not be empty");
    }
  }

  read_keys(c, options);  // last: a ConfigError elsewhere beats a NotConfigured here
  return c;
}

std::string key_hint(const std::string& key) {
  // Show the last 4 characters only when they are a small part of the key.
  if (key.size() < 12) return "\xE2\x80\xA6";
  return "\xE2\x80\xA6" + key.substr(key.size() - 4);
}

}  // namespace llmux::openai_compat
