// ConfigNode: a positioned config tree with strict typed getters.
#include "llmux/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace llmux {

namespace {

std::string format_error(const SourceMark& mark, const std::string& path, const std::string& message) {
  std::string out = mark.to_string();
  if (!out.empty()) out += ": ";
  if (!path.empty()) {
    out += path;
    out += ": ";
  }
  out += message;
  return out;
}

// How a value is shown in an error message: quoted, and cut when very long.
std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 60;
  std::string out = "'";
  if (text.size() > kMax) {
    out.append(text.substr(0, kMax));
    out += "...";
  } else {
    out.append(text);
  }
  out += "'";
  return out;
}

const char* type_name(ConfigNode::Type type) {
  switch (type) {
    case ConfigNode::Type::Null: return "an empty value";
    case ConfigNode::Type::Scalar: return "a scalar";
    case ConfigNode::Type::Sequence: return "a list";
    case ConfigNode::Type::Map: return "a map";
  }
  return "an unknown value";
}

// What the node is, for "expected X, got Y".
std::string describe(const ConfigNode& node) {
  if (node.is_scalar()) return quote(node.value());
  return type_name(node.type());
}

[[noreturn]] void wrong_form(const ConfigNode& node, std::string_view expected) {
  std::string message = "expected ";
  message.append(expected);
  message += ", got ";
  message += describe(node);
  throw ConfigError(node, std::move(message));
}

std::string child_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out.append(key);
  return out;
}

std::string item_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Levenshtein distance, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// A node's value is "absent" for the getters when the key is missing or has no value.
const ConfigNode* present(const ConfigNode* node) {
  return node != nullptr && !node->is_null() ? node : nullptr;
}

}  // namespace

// ---------------------------------------------------------------- SourceMark

std::string SourceMark::to_string() const {
  // A position that is not known (line 0) is left out: "file" alone.
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

// ---------------------------------------------------------------- ConfigError

ConfigError::ConfigError(SourceMark mark, std::string path, std::string message)
    : std::runtime_error(format_error(mark, path, message)),
      mark_(std::move(mark)),
      path_(std::move(path)),
      detail_(std::move(message)) {}

ConfigError::ConfigError(const ConfigNode& node, std::string message)
    : ConfigError(node.mark(), node.path(), std::move(message)) {}

// ---------------------------------------------------------------- building

ConfigNode ConfigNode::of(Type type, SourceMark mark, std::string path) {
  ConfigNode node;
  node.type_ = type;
  node.mark_ = std::move(mark);
  node.path_ = std::move(path);
  return node;
}

ConfigNode ConfigNode::scalar(std::string value, SourceMark mark, std::string path) {
  ConfigNode node = of(Type::Scalar, std::move(mark), std::move(path));
  node.value_ = std::move(value);
  return node;
}

ConfigNode ConfigNode::sequence(SourceMark mark, std::string path) {
  return of(Type::Sequence, std::move(mark), std::move(path));
}

ConfigNode ConfigNode::map(SourceMark mark, std::string path) { return of(Type::Map, std::move(mark), std::move(path)); }

ConfigNode ConfigNode::null(SourceMark mark, std::string path) {
  return of(Type::Null, std::move(mark), std::move(path));
}

ConfigNode& ConfigNode::push_back(ConfigNode item) {
  // Paths are given at building time when they are empty (trees built by hand).
  auto adopt = [](auto& self, ConfigNode& node, std::string path) -> void {
    node.path_ = std::move(path);
    for (std::size_t i = 0; i < node.items_.size(); ++i) self(self, node.items_[i], item_path(node.path_, i));
    for (auto& [key, child] : node.entries_) self(self, child, child_path(node.path_, key));
  };
  if (type_ == Type::Null) type_ = Type::Sequence;
  if (type_ != Type::Sequence) throw std::logic_error("ConfigNode::push_back on a node that is not a sequence");
  if (item.path_.empty()) adopt(adopt, item, item_path(path_, items_.size()));
  items_.push_back(std::move(item));
  return items_.back();
}

ConfigNode& ConfigNode::insert(std::string key, ConfigNode value) {
  // Paths are given at building time when they are empty (trees built by hand).
  auto adopt = [](auto& self, ConfigNode& node, std::string path) -> void {
    node.path_ = std::move(path);
    for (std::size_t i = 0; i < node.items_.size(); ++i) self(self, node.items_[i], item_path(node.path_, i));
    for (auto& [key, child] : node.entries_) self(self, child, child_path(node.path_, key));
  };
  if (type_ == Type::Null) type_ = Type::Map;
  if (type_ != Type::Map) throw std::logic_error("ConfigNode::insert on a node that is not a map");
  if (value.path_.empty()) adopt(adopt, value, child_path(path_, key));
  entries_.emplace_back(std::move(key), std::move(value));
  return entries_.back().second;
}

// ---------------------------------------------------------------- lookup

const ConfigNode* ConfigNode::find(std::string_view key) const {
  if (type_ != Type::Map) return nullptr;
  for (const auto& [name, child] : entries_) {
    if (name == key) return &child;
  }
  return nullptr;
}

std::string ConfigNode::get_string(std::string_view key, std::string fallback) const {
  const ConfigNode* node = present(find(key));
  return node != nullptr ? node->as_string() : fallback;
}

std::int64_t ConfigNode::get_int(std::string_view key, std::int64_t fallback) const {
  const ConfigNode* node = present(find(key));
  return node != nullptr ? node->as_int() : fallback;
}

double ConfigNode::get_double(std::string_view key, double fallback) const {
  const ConfigNode* node = present(find(key));
  return node != nullptr ? node->as_double() : fallback;
}

bool ConfigNode::get_bool(std::string_view key, bool fallback) const {
  const ConfigNode* node = present(find(key));
  return node != nullptr ? node->as_bool() : fallback;
}

std::chrono::milliseconds ConfigNode::get_duration(std::string_view key, std::chrono::milliseconds fallback) const {
  const ConfigNode* node = present(find(key));
  return node != nullptr ? node->as_duration() : fallback;
}

std::vector<std::string> ConfigNode::get_string_list(std::string_view key) const {
  const ConfigNode* node = present(find(key));
  std::vector<std::string> out;
  if (node == nullptr) return out;
  if (node->is_scalar()) {
    out.push_back(node->value());
    return out;
  }
  if (!node->is_sequence()) wrong_form(*node, "a string or a list of strings");
  out.reserve(node->items().size());
  for (const ConfigNode& item : node->items()) out.push_back(item.as_string());
  return out;
}

std::optional<std::string> ConfigNode::get_secret(std::string_view key) const {
  const ConfigNode* node = present(find(key));
  if (node == nullptr) return std::nullopt;
  std::string value = node->as_string();
  const auto& missing = node->missing_variables();
  if (!missing.empty()) {
    std::string message = node->path() + ": environment variable";
    if (missing.size() > 1) message += "s";
    message += " ";
    for (std::size_t i = 0; i < missing.size(); ++i) {
      if (i > 0) message += ", ";
      message += missing[i];
    }
    message += missing.size() > 1 ? " are not set" : " is not set";
    throw NotConfigured(message);
  }
  if (value.empty()) throw NotConfigured(node->path() + " is empty");
  return value;
}

std::string ConfigNode::require_string(std::string_view key) const {
  if (type_ != Type::Map) wrong_form(*this, "a map");
  const ConfigNode* node = find(key);
  if (node == nullptr) {
    throw ConfigError(*this, "missing required key '" + std::string(key) + "'");
  }
  if (node->is_null()) {
    throw ConfigError(*node, "missing value for required key '" + std::string(key) + "'");
  }
  return node->as_string();
}

// ---------------------------------------------------------------- conversions

std::string ConfigNode::as_string() const {
  if (type_ != Type::Scalar) wrong_form(*this, "a string");
  return value_;
}

std::int64_t ConfigNode::as_int() const {
  if (type_ != Type::Scalar) wrong_form(*this, "an integer");
  std::string_view text = value_;
  std::size_t pos = 0;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) pos = 1;
  std::string_view digits = text.substr(pos);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) {
    wrong_form(*this, "an integer");
  }
  if (digits.size() > 1 && digits[0] == '0') {
    throw ConfigError(*this, "expected a decimal integer, got " + quote(value_) +
                                 " (leading zeros are not allowed)");
  }
  // from_chars does not take '+': parse the sign and the digits separately.
  std::string_view number = text[0] == '+' ? digits : text;
  std::int64_t result = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), result);
  if (ec == std::errc::result_out_of_range) {
    throw ConfigError(*this, "integer " + quote(value_) + " is out of range");
  }
  if (ec != std::errc() || end != number.data() + number.size()) wrong_form(*this, "an integer");
  return result;
}

double ConfigNode::as_double() const {
  if (type_ != Type::Scalar) wrong_form(*this, "a number");
  std::string_view text = value_;
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  // Only plain decimal notation: no hex floats, no inf/nan.
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) {
        return is_digit(c) || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+';
      })) {
    wrong_form(*this, "a number");
  }
  double result = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), result);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && !std::isfinite(result))) {
    throw ConfigError(*this, "number " + quote(value_) + " is out of range");
  }
  if (ec != std::errc() || end != text.data() + text.size()) wrong_form(*this, "a number");
  return result;
}

bool ConfigNode::as_bool() const {
  if (type_ != Type::Scalar) wrong_form(*this, "true or false");
  if (value_ == "true") return true;
  if (value_ == "false") return false;
  std::string lower;
  for (char c : value_) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == "yes" || lower == "no" || lower == "on" || lower == "off" || lower == "y" || lower == "n" ||
      lower == "true" || lower == "false") {
    throw ConfigError(*this, "expected true or false, got " + quote(value_) +
                                 " (write true or false in lower case; yes/no/on/off are not accepted)");
  }
  wrong_form(*this, "true or false");
}

std::chrono::milliseconds ConfigNode::as_duration() const {
  constexpr std::string_view kExpected = "a duration like 250ms, 30s, 5m, 1h or a number of seconds";
  if (type_ != Type::Scalar) wrong_form(*this, kExpected);
  std::string_view text = value_;
  if (!text.empty() && text[0] == '-') throw ConfigError(*this, "duration " + quote(value_) + " is negative");
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  // The number: digits with an optional fraction.
  std::size_t pos = 0;
  std::size_t int_digits = 0, frac_digits = 0;
  while (pos < text.size() && is_digit(text[pos])) ++pos, ++int_digits;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && is_digit(text[pos])) ++pos, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) wrong_form(*this, kExpected);
  std::string_view number = text.substr(0, pos);
  std::string_view unit = text.substr(pos);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    wrong_form(*this, kExpected);
  }
  double amount = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), amount);
  if (ec != std::errc() || end != number.data() + number.size()) wrong_form(*this, kExpected);
  double millis = amount * scale;
  // A year is far beyond any sensible timeout; it also keeps the cast safe.
  constexpr double kMaxMillis = 366.0 * 24 * 3'600'000;
  if (!std::isfinite(millis) || millis > kMaxMillis) {
    throw ConfigError(*this, "duration " + quote(value_) + " is too long");
  }
  return std::chrono::milliseconds(std::llround(millis));
}

// ---------------------------------------------------------------- validation

void ConfigNode::check_keys(std::initializer_list<std::string_view> known) const {
  if (type_ == Type::Null) return;
  if (type_ != Type::Map) wrong_form(*this, "a map");
  for (const auto& [key, child] : entries_) {
    if (std::find(known.begin(), known.end(), std::string_view(key)) != known.end()) continue;
    std::string message = "unknown key " + quote(key) + ";";
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (std::string_view candidate : known) {
      std::size_t distance = edit_distance(key, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
    if (best_distance <= 2 && best_distance < key.size()) {
      message += " did you mean '";
      message.append(best);
      message += "'?";
    }
    if (known.size() == 0) {
      message += " no keys are allowed here";
    } else {
      message += " known keys: ";
      bool first = true;
      for (std::string_view candidate : known) {
        if (!first) message += ", ";
        first = false;
        message.append(candidate);
      }
    }
    throw ConfigError(child, std::move(message));
  }
}

}  // namespace llmux
