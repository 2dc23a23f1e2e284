// YAML text -> ConfigNode: positions, key paths, duplicate keys, ${VAR}.
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "config/gateway_config.h"

namespace llmux::host {

namespace {

// yaml-cpp can build a node that contains itself through an alias; nothing
// sensible in a config nests this deep.
constexpr int kMaxDepth = 64;

SourceMark to_mark(const YAML::Mark& mark, const std::string& file) {
  if (mark.line < 0 || mark.column < 0) return SourceMark{file, 0, 0};
  return SourceMark{file, mark.line + 1, mark.column + 1};
}

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// Replaces ${VAR}, ${VAR:-default} and $$ in a scalar value. A variable that
// is unset (or empty) takes its default; unset without a default becomes empty
// and is recorded in `missing`.
std::string substitute(const std::string& text, const SourceMark& mark, const std::string& path,
                       std::vector<std::string>& missing) {
  if (text.find('$') == std::string::npos) return text;
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      ++i;
      continue;
    }
    char next = text[i + 1];
    if (next == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next != '{') {
      out += '$';
      ++i;
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      throw ConfigError(mark, path, "unterminated '${' in '" + text + "' (write $$ for a literal $)");
    }
    std::string_view body(text.data() + i + 2, close - i - 2);
    std::size_t sep = body.find(":-");
    std::string_view name = body.substr(0, sep);
    if (name.empty()) throw ConfigError(mark, path, "empty variable name in '${" + std::string(body) + "}'");
    bool valid = is_name_start(name[0]);
    for (char n : name) valid = valid && is_name_char(n);
    if (!valid) {
      throw ConfigError(mark, path,
                        "invalid variable name '" + std::string(name) +
                            "' in '${" + std::string(body) +
                            "}' (use letters, digits and _; ${VAR:-default} for a default)");
    }
    std::string var(name);
    const char* env = std::getenv(var.c_str());
    if (env != nullptr && *env != '\0') {
      out += env;
    } else if (sep != std::string_view::npos) {
      out.append(body.substr(sep + 2));
    } else if (env == nullptr) {
      bool seen = false;
      for (const auto& m : missing) seen = seen || m == var;
      if (!seen) missing.push_back(var);
    }
    i = close + 1;
  }
  return out;
}

ConfigNode convert(const YAML::Node& node, const SourceMark& mark, const std::string& path,
                   const std::string& file, int depth) {
  if (depth > kMaxDepth) throw ConfigError(mark, path, "nesting too deep");
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return ConfigNode::null(mark, path);
    case YAML::NodeType::Scalar: {
      std::vector<std::string> missing;
      ConfigNode out = ConfigNode::scalar(substitute(node.Scalar(), mark, path, missing), mark, path);
      out.set_missing_variables(std::move(missing));
      return out;
    }
    case YAML::NodeType::Sequence: {
      ConfigNode out = ConfigNode::sequence(mark, path);
      std::size_t index = 0;
      for (const YAML::Node& item : node) {
        SourceMark item_mark = to_mark(item.Mark(), file);
        if (item_mark.line == 0) item_mark = mark;
        std::string item_path = path + "[" + std::to_string(index++) + "]";
        out.push_back(convert(item, item_mark, item_path, file, depth + 1));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      ConfigNode out = ConfigNode::map(mark, path);
      std::map<std::string, int> first_line;
      for (auto it = node.begin(); it != node.end(); ++it) {
        // Copies: the iterator hands out a temporary pair.
        const YAML::Node key = it->first;
        const YAML::Node value = it->second;
        SourceMark key_mark = to_mark(key.Mark(), file);
        if (key_mark.line == 0) key_mark = mark;
        if (!key.IsScalar()) {
          throw ConfigError(key_mark, path, "map keys must be plain strings");
        }
        const std::string& name = key.Scalar();
        std::string child_path = path.empty() ? name : path + "." + name;
        auto [seen, inserted] = first_line.emplace(name, key_mark.line);
        if (!inserted) {
          throw ConfigError(key_mark, child_path,
                            "duplicate key '" + name + "' (first at line " + std::to_string(seen->second) + ")");
        }
        // A map entry is positioned at its key: that is where a reader looks
        // for it, and a missing or block value has no better place.
        out.insert(name, convert(value, key_mark, child_path, file, depth + 1));
      }
      return out;
    }
  }
  return ConfigNode::null(mark, path);
}

}  // namespace

ConfigNode parse_yaml_tree(const std::string& yaml_text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(to_mark(e.mark, source_name), "", e.msg);
  } catch (const YAML::Exception& e) {
    throw ConfigError(to_mark(e.mark, source_name), "", e.msg);
  }
  SourceMark mark = to_mark(root.Mark(), source_name);
  if (mark.line == 0) mark = SourceMark{source_name, 1, 1};
  return convert(root, mark, "", source_name, 0);
}

}  // namespace llmux::host
