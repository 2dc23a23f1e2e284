// ClaudeConfig: defaults, the `options` map, and the credential sources.
#include "claude_config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <optional>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "llmux/json.h"

namespace llmux::claude {

namespace {

const ConfigNode* present(const ConfigNode* node) { return node != nullptr && !node->is_null() ? node : nullptr; }

std::string quote(std::string_view s) {
  std::string out = "'";
  out += s;
  out += "'";
  return out;
}

bool is_token_char(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool one_line(std::string_view s) { return s.find_first_of("\r\n") == std::string_view::npos && s.find('\0') == std::string_view::npos; }

std::string unset_message(const ConfigNode& node) {
  std::string names;
  for (const auto& name : node.missing_variables()) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  return node.path() + ": environment variable " + names + (node.missing_variables().size() > 1 ? " are" : " is") +
         " not set";
}

std::string read_url(const ConfigNode& options, std::string_view key, std::string fallback) {
  const ConfigNode* node = present(options.find(key));
  if (node == nullptr) return fallback;
  std::string url = node->as_string();
  if (!node->missing_variables().empty() && url.empty()) throw NotConfigured(unset_message(*node));
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    throw ConfigError(*node, "must start with http:// or https://, got " + quote(url));
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) throw ConfigError(*node, "must not contain whitespace");
  while (url.size() > 8 && url.back() == '/') url.pop_back();
  std::size_t host_start = url.find("://") + 3;
  if (host_start >= url.size() || url[host_start] == '/') throw ConfigError(*node, "has no host: " + quote(url));
  return url;
}

void read_headers(ClaudeConfig& c, const ConfigNode& options) {
  const ConfigNode* node = present(options.find("headers"));
  if (node == nullptr) return;
  if (!node->is_map()) throw ConfigError(*node, "expected a map of header name to value");
  for (const auto& [name, value] : node->entries()) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
      throw ConfigError(value, "invalid header name " + quote(name));
    }
    for (std::string_view reserved : {"host", "content-length", "transfer-encoding", "connection", "x-api-key",
                                      "authorization", "anthropic-beta"}) {
      if (iequals(name, reserved)) {
        throw ConfigError(value, "header " + quote(name) + " is set by llmux" +
                                     (iequals(name, "anthropic-beta") ? " (use betas)" : ""));
      }
    }
    if (value.is_null()) continue;
    std::string text = value.as_string();
    if (!value.missing_variables().empty()) throw NotConfigured(unset_message(value));
    if (!one_line(text)) throw ConfigError(value, "header values must be one line");
    c.headers.emplace_back(name, std::move(text));
  }
}

// ---- credentials

// A scalar option of a credential entry; nullopt when absent. An unset
// variable makes `unset` name it (the entry is then skipped).
std::optional<std::string> entry_value(const ConfigNode& entry, std::string_view key, std::string& unset) {
  const ConfigNode* node = present(entry.find(key));
  if (node == nullptr) return std::nullopt;
  if (!node->is_scalar()) throw ConfigError(*node, "expected a string");
  if (!node->missing_variables().empty()) {
    if (unset.empty()) unset = unset_message(*node);
    return std::nullopt;
  }
  std::string value = node->value();
  if (!one_line(value) || value.find_first_of(" \t") != std::string::npos) {
    throw ConfigError(*node, "must be one word without spaces");
  }
  if (value.empty()) return std::nullopt;
  return value;
}

void check_credential(const CredentialConfig& c, const std::function<void(const std::string&)>& fail) {
  if (c.kind == CredentialKind::OAuth && c.access_token.empty() && c.refresh_token.empty()) {
    fail("an OAuth credential needs access_token or refresh_token");
  }
  for (char ch : c.label) {
    if (std::iscntrl(static_cast<unsigned char>(ch))) fail("label must be printable");
  }
}

void read_yaml_credentials(ClaudeConfig& c, const ConfigNode& list) {
  if (!list.is_sequence()) throw ConfigError(list, "expected a list of credentials");
  for (const ConfigNode& entry : list.items()) {
    if (!entry.is_map()) {
      throw ConfigError(entry, "expected a map with label and api_key, or access_token/refresh_token/expires_at");
    }
    entry.check_keys({"label", "api_key", "access_token", "refresh_token", "expires_at"});
    CredentialConfig cred;
    cred.source = "providers.yaml";
    cred.label = entry.get_string("label");
    std::string unset;
    auto api_key = entry_value(entry, "api_key", unset);
    auto access = entry_value(entry, "access_token", unset);
    auto refresh = entry_value(entry, "refresh_token", unset);
    const bool has_key = present(entry.find("api_key")) != nullptr;
    const bool has_oauth = present(entry.find("access_token")) != nullptr || present(entry.find("refresh_token")) != nullptr;
    if (has_key && has_oauth) throw ConfigError(entry, "give api_key or access_token/refresh_token, not both");
    if (!has_key && !has_oauth) throw ConfigError(entry, "needs api_key, or access_token and/or refresh_token");
    if (const ConfigNode* expires = present(entry.find("expires_at"))) {
      if (has_key) throw ConfigError(*expires, "expires_at belongs to OAuth credentials");
      auto ms = parse_expiry(expires->as_string());
      if (!ms) throw ConfigError(*expires, "expected unix seconds or milliseconds, or an ISO-8601 UTC time");
      cred.expires_at_ms = *ms;
    }
    std::string name = cred.label.empty() ? entry.path() : "credential " + quote(cred.label);
    if (!unset.empty()) {
      c.skipped.push_back(name + " skipped: " + unset);
      continue;
    }
    if (has_key) {
      if (!api_key) {
        c.skipped.push_back(name + " skipped: empty api_key");
        continue;
      }
      cred.kind = CredentialKind::ApiKey;
      cred.api_key = std::move(*api_key);
    } else {
      cred.kind = CredentialKind::OAuth;
      cred.access_token = access.value_or("");
      cred.refresh_token = refresh.value_or("");
      if (cred.access_token.empty() && cred.refresh_token.empty()) {
        c.skipped.push_back(name + " skipped: empty tokens");
        continue;
      }
    }
    check_credential(cred, [&](const std::string& why) { throw ConfigError(entry, why); });
    c.credentials.push_back(std::move(cred));
  }
}

std::filesystem::path relative_to_config(const ConfigNode& node, const std::string& text) {
  std::filesystem::path path = text;
  if (text.rfind("~/", 0) == 0) {
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
      path = std::filesystem::path(home) / text.substr(2);
    }
  }
  if (path.is_relative() && !node.mark().file.empty()) {
    std::filesystem::path base = std::filesystem::path(node.mark().file).parent_path();
    if (!base.empty()) path = base / path;
  }
  return path;
}

std::string string_member(const rapidjson::Value& object, std::initializer_list<const char*> names,
                          const std::string& where) {
  for (const char* name : names) {
    auto it = object.FindMember(name);
    if (it == object.MemberEnd() || it->value.IsNull()) continue;
    if (!it->value.IsString()) throw std::invalid_argument(where + ": " + name + " must be a string");
    return std::string(it->value.GetString(), it->value.GetStringLength());
  }
  return {};
}

// `where` starts every message (which never holds a secret).
CredentialConfig credential_from_json(const rapidjson::Value& item, const std::string& source, const std::string& where) {
  if (!item.IsObject()) throw std::invalid_argument(where + ": expected an object");
  CredentialConfig cred;
  cred.source = source;
  cred.label = string_member(item, {"label", "name"}, where);
  cred.api_key = string_member(item, {"api_key", "apiKey"}, where);
  cred.access_token = string_member(item, {"access_token", "accessToken"}, where);
  cred.refresh_token = string_member(item, {"refresh_token", "refreshToken"}, where);
  for (const char* name : {"expires_at", "expiresAt"}) {
    auto it = item.FindMember(name);
    if (it == item.MemberEnd() || it->value.IsNull()) continue;
    std::optional<std::int64_t> ms;
    if (it->value.IsInt64()) {
      ms = parse_expiry(std::to_string(it->value.GetInt64()));
    } else if (it->value.IsString()) {
      ms = parse_expiry(it->value.GetString());
    }
    if (!ms) throw std::invalid_argument(where + ": " + name + " must be unix seconds, milliseconds or ISO-8601");
    cred.expires_at_ms = *ms;
  }
  const bool oauth = !cred.access_token.empty() || !cred.refresh_token.empty();
  if (!cred.api_key.empty() && oauth) throw std::invalid_argument(where + ": api_key and OAuth tokens together");
  if (cred.api_key.empty() && !oauth) throw std::invalid_argument(where + ": needs api_key or access_token/refresh_token");
  cred.kind = oauth ? CredentialKind::OAuth : CredentialKind::ApiKey;
  for (const std::string* secret : {&cred.api_key, &cred.access_token, &cred.refresh_token}) {
    if (!one_line(*secret) || secret->find_first_of(" \t") != std::string::npos) {
      throw std::invalid_argument(where + ": a token must be one word without spaces");
    }
  }
  check_credential(cred, [&](const std::string& why) { throw std::invalid_argument(where + ": " + why); });
  return cred;
}

}  // namespace

const char* to_string(CredentialKind kind) noexcept { return kind == CredentialKind::OAuth ? "oauth" : "api_key"; }

const std::string& CredentialConfig::secret() const {
  if (kind == CredentialKind::ApiKey) return api_key;
  return refresh_token.empty() ? access_token : refresh_token;
}

std::optional<std::int64_t> parse_expiry(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (text.size() > 15) return std::nullopt;
    std::int64_t value = std::stoll(std::string(text));
    return value > 100'000'000'000LL ? value : value * 1000;  // above 10^11: already milliseconds
  }
  // YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  std::string t(text);
  int consumed = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(t).substr(static_cast<std::size_t>(consumed));
  std::int64_t millis = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digits < 3) millis = millis * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    for (; digits < 3; ++digits) millis *= 10;
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00" && rest != "+0000") return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + millis;
}

std::vector<CredentialConfig> parse_credentials_json(std::string_view text, const std::string& source) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    auto at = json::position_of(text, doc.GetErrorOffset());
    throw std::invalid_argument(source + ": invalid JSON at line " + std::to_string(at.line) + ", column " +
                                std::to_string(at.column) + ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  std::vector<CredentialConfig> out;
  const rapidjson::Value* list = nullptr;
  if (doc.IsArray()) {
    list = &doc;
  } else if (doc.IsObject()) {
    if (auto it = doc.FindMember("credentials"); it != doc.MemberEnd() && it->value.IsArray()) {
      list = &it->value;
    } else if (auto cc = doc.FindMember("claudeAiOauth"); cc != doc.MemberEnd() && cc->value.IsObject()) {
      // Claude Code's ~/.claude/.credentials.json: one OAuth login.
      out.push_back(credential_from_json(cc->value, source, source + " entry 1"));
      if (out.back().label.empty()) out.back().label = "claude-code";
      return out;
    }
  }
  if (list == nullptr) {
    throw std::invalid_argument(source + ": expected a JSON list of credentials (or {\"credentials\":[...]})");
  }
  std::size_t position = 0;
  for (const auto& item : list->GetArray()) {
    out.push_back(credential_from_json(item, source, source + " entry " + std::to_string(++position)));
  }
  return out;
}

CredentialConfig parse_credential_secret(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    auto at = json::position_of(text, doc.GetErrorOffset());
    throw std::invalid_argument("the secret is not valid JSON (line " + std::to_string(at.line) + ", column " +
                                std::to_string(at.column) + ": " + rapidjson::GetParseError_En(doc.GetParseError()) +
                                ")");
  }
  if (!doc.IsObject()) throw std::invalid_argument("the secret must be a JSON object");
  if (auto cc = doc.FindMember("claudeAiOauth"); cc != doc.MemberEnd()) {
    if (!cc->value.IsObject()) throw std::invalid_argument("claudeAiOauth must be an object");
    return credential_from_json(cc->value, "admin", "claudeAiOauth");
  }
  return credential_from_json(doc, "admin", "the secret");
}

ClaudeConfig ClaudeConfig::parse(const ConfigNode& options) {
  ClaudeConfig c;
  if (!options.is_null() && !options.is_map()) throw ConfigError(options, "expected a map of options");
  options.check_keys({"base_url", "anthropic_version", "betas", "headers", "connect_timeout", "first_byte_timeout",
                      "idle_timeout", "total_timeout", "proxy", "verify_tls", "ca_path", "models", "credentials",
                      "credentials_env", "credentials_file", "selection", "token_url", "client_id", "refresh_skew",
                      "cooldown", "max_cooldown", "refresh_timeout", "state_flush"});
  c.base_url = read_url(options, "base_url", c.base_url);
  c.token_url = read_url(options, "token_url", c.token_url);
  read_headers(c, options);

  c.anthropic_version = options.get_string("anthropic_version", c.anthropic_version);
  if (const ConfigNode* node = present(options.find("anthropic_version"));
      node != nullptr && (c.anthropic_version.empty() || !one_line(c.anthropic_version))) {
    throw ConfigError(*node, "must be one non-empty line");
  }
  if (const ConfigNode* node = present(options.find("betas"))) {
    c.betas = options.get_string_list("betas");
    for (const auto& beta : c.betas) {
      if (beta.empty() || beta.find_first_of(", \t\r\n") != std::string::npos) {
        throw ConfigError(*node, "each beta is one name without commas or spaces");
      }
    }
  }

  c.upstream = read_upstream_settings(options, std::move(c.upstream));
  if (const ConfigNode* models = present(options.find("models"))) {
    c.models = options.get_string_list("models");
    for (const auto& m : c.models) {
      if (m.empty()) throw ConfigError(*models, "model names must not be empty");
    }
  }

  if (const ConfigNode* node = present(options.find("selection"))) {
    std::string s = node->as_string();
    if (s == "round_robin") {
      c.selection = Selection::RoundRobin;
    } else if (s == "least_recently_used" || s == "lru") {
      c.selection = Selection::LeastRecentlyUsed;
    } else {
      throw ConfigError(*node, "expected round_robin or least_recently_used, got " + quote(s));
    }
  }
  c.client_id = options.get_string("client_id", c.client_id);
  if (const ConfigNode* node = present(options.find("client_id")); node != nullptr && (c.client_id.empty() || !one_line(c.client_id))) {
    throw ConfigError(*node, "must be one non-empty line");
  }
  c.refresh_skew = options.get_duration("refresh_skew", c.refresh_skew);
  c.cooldown = options.get_duration("cooldown", c.cooldown);
  c.max_cooldown = options.get_duration("max_cooldown", c.max_cooldown);
  c.refresh_timeout = options.get_duration("refresh_timeout", c.refresh_timeout);
  c.state_flush = options.get_duration("state_flush", c.state_flush);

  // ---- credentials: the options' list, then the variable's, then the file's
  std::vector<std::string> unconfigured;  // why a source gave nothing
  if (const ConfigNode* list = present(options.find("credentials"))) read_yaml_credentials(c, *list);
  if (const ConfigNode* node = present(options.find("credentials_env"))) {
    std::string name = node->as_string();
    if (name.empty() || name.find_first_of(" \t\r\n=") != std::string::npos) {
      throw ConfigError(*node, "expected the name of an environment variable");
    }
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') {
      unconfigured.push_back(node->path() + ": environment variable " + name + " is not set");
      c.skipped.push_back(unconfigured.back());
    } else {
      try {
        for (auto& cred : parse_credentials_json(value, "$" + name)) c.credentials.push_back(std::move(cred));
      } catch (const std::invalid_argument& e) {
        throw ConfigError(*node, e.what());
      }
    }
  }
  if (const ConfigNode* node = present(options.find("credentials_file"))) {
    std::string text = node->as_string();
    if (!node->missing_variables().empty() && text.empty()) throw NotConfigured(unset_message(*node));
    if (text.empty()) throw ConfigError(*node, "expected a file path");
    std::filesystem::path path = relative_to_config(*node, text);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      unconfigured.push_back(node->path() + ": cannot read " + path.string());
      c.skipped.push_back(unconfigured.back());
    } else {
      std::ostringstream content;
      content << in.rdbuf();
      try {
        for (auto& cred : parse_credentials_json(content.str(), "file " + path.string())) {
          c.credentials.push_back(std::move(cred));
        }
      } catch (const std::invalid_argument& e) {
        throw ConfigError(*node, e.what());
      }
    }
  }

  // Labels: given ones must be unique; missing ones are numbered by position.
  std::set<std::string> seen;
  for (const auto& cred : c.credentials) {
    if (!cred.label.empty() && !seen.insert(cred.label).second) {
      const ConfigNode* where = present(options.find("credentials"));
      throw ConfigError(where ? *where : options, "credential label " + quote(cred.label) + " is used twice");
    }
  }
  for (std::size_t i = 0; i < c.credentials.size(); ++i) {
    if (!c.credentials[i].label.empty()) continue;
    std::string label = "credential-" + std::to_string(i + 1);
    while (seen.count(label)) label += "'";
    seen.insert(label);
    c.credentials[i].label = label;
  }

  if (c.credentials.empty()) {
    std::string why;
    for (const auto& s : c.skipped) why += (why.empty() ? "" : "; ") + s;
    if (why.empty()) why = "no credentials: set credentials (api_key or OAuth tokens), credentials_env or credentials_file";
    throw NotConfigured((options.path().empty() ? "" : options.path() + ": ") + why);
  }
  return c;
}

}  // namespace llmux::claude
