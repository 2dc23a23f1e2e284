// A provider's configuration subtree, handed to a plugin as a plain tree with
// the source position of every node, so a plugin reports errors as precisely
// as the host does ("providers.yaml:12:7: providers.openai.options.timeout: ...").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmux {

struct SourceMark {
  std::string file;
  int line = 0;    // 1-based, 0 when unknown
  int column = 0;  // 1-based
  std::string to_string() const;  // "file:line:column"
};

class ConfigNode;

// A config value that is wrong: carries where it is and which key path it has.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(SourceMark mark, std::string path, std::string message);
  ConfigError(const ConfigNode& node, std::string message);
  const SourceMark& mark() const { return mark_; }
  const std::string& path() const { return path_; }
  const std::string& detail() const { return detail_; }

 private:
  SourceMark mark_;
  std::string path_;
  std::string detail_;
};

// Thrown by a plugin when a provider lacks something it needs that is not an
// error in the file (typically a secret in an unset environment variable).
// The host reports the provider as "not configured" and routing skips it.
class NotConfigured : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigNode {
 public:
  enum class Type { Null, Scalar, Sequence, Map };

  ConfigNode() = default;
  static ConfigNode scalar(std::string value, SourceMark mark, std::string path);
  static ConfigNode sequence(SourceMark mark, std::string path);
  static ConfigNode map(SourceMark mark, std::string path);
  static ConfigNode null(SourceMark mark, std::string path);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_scalar() const { return type_ == Type::Scalar; }
  bool is_sequence() const { return type_ == Type::Sequence; }
  bool is_map() const { return type_ == Type::Map; }
  const SourceMark& mark() const { return mark_; }
  const std::string& path() const { return path_; }  // e.g. "providers.openai.options.base_url"

  // Scalars. `value()` is the text after ${VAR} substitution.
  const std::string& value() const { return value_; }
  // Names of variables the scalar referenced that were unset and had no default.
  const std::vector<std::string>& missing_variables() const { return missing_variables_; }

  // Sequences and maps (map entries keep file order).
  const std::vector<ConfigNode>& items() const { return items_; }
  const std::vector<std::pair<std::string, ConfigNode>>& entries() const { return entries_; }
  const ConfigNode* find(std::string_view key) const;

  // Typed getters: the key may be absent (fallback returned) but when present
  // it must have the right form, else ConfigError with position and path.
  std::string get_string(std::string_view key, std::string fallback = {}) const;
  std::int64_t get_int(std::string_view key, std::int64_t fallback) const;
  double get_double(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  // Durations: "250ms", "30s", "5m", "1h", or a bare number of seconds.
  std::chrono::milliseconds get_duration(std::string_view key, std::chrono::milliseconds fallback) const;
  std::vector<std::string> get_string_list(std::string_view key) const;  // a scalar or a sequence of scalars
  // A secret: when present but built from an unset variable, throws NotConfigured
  // naming the variable; when absent, returns std::nullopt.
  std::optional<std::string> get_secret(std::string_view key) const;
  std::string require_string(std::string_view key) const;  // ConfigError when absent

  // Conversions of this node itself.
  std::string as_string() const;
  std::int64_t as_int() const;
  double as_double() const;
  bool as_bool() const;
  std::chrono::milliseconds as_duration() const;

  // Building (used by the host's YAML loader and by tests).
  void set_missing_variables(std::vector<std::string> names) { missing_variables_ = std::move(names); }
  ConfigNode& push_back(ConfigNode item);
  ConfigNode& insert(std::string key, ConfigNode value);

  // Rejects keys that are not in `known` ("unknown key 'tiemout' (known: ...)").
  void check_keys(std::initializer_list<std::string_view> known) const;

 private:
  static ConfigNode of(Type type, SourceMark mark, std::string path);
  Type type_ = Type::Null;
  SourceMark mark_;
  std::string path_;
  std::string value_;
  std::vector<std::string> missing_variables_;
  std::vector<ConfigNode> items_;
  std::vector<std::pair<std::string, ConfigNode>> entries_;
};

}  // namespace llmux
