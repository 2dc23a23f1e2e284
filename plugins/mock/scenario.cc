#include "scenario.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "llmux/json.h"
#include "mock_util.h"

namespace llmux::mock {

namespace {

constexpr std::size_t kMatchLimit = 8192;     // bytes of a message a regex is run on
constexpr std::size_t kMaxScenarioBytes = 4u << 20;
constexpr int kMaxDepth = 32;

const char* const kPlaceholders[] = {"user", "task", "file", "content", "turn", "tool_result",
                                     "working_directory", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

SourceMark mark_of(const YAML::Node& node, const std::string& file) {
  YAML::Mark m = node.Mark();
  if (m.line < 0 || m.column < 0) return SourceMark{file, 0, 0};
  return SourceMark{file, m.line + 1, m.column + 1};
}

[[noreturn]] void fail(const YAML::Node& node, const std::string& file, const std::string& path,
                       const std::string& message) {
  throw ConfigError(mark_of(node, file), path, message);
}

// A scalar as a ConfigNode, to reuse its typed conversions (and their errors).
ConfigNode scalar_node(const YAML::Node& node, const std::string& file, const std::string& path) {
  if (!node.IsScalar()) fail(node, file, path, "must be a single value");
  return ConfigNode::scalar(node.Scalar(), mark_of(node, file), path);
}

void check_keys(const YAML::Node& map, const std::string& file, const std::string& path,
                std::initializer_list<std::string_view> known) {
  std::map<std::string, int> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key = it->first;
    std::string child = path.empty() ? "" : path + ".";
    if (!key.IsScalar()) fail(key, file, path, "keys must be plain strings");
    const std::string& name = key.Scalar();
    int line = mark_of(key, file).line;
    auto [first, fresh] = seen.emplace(name, line);
    if (!fresh) {
      fail(key, file, child + name, "duplicate key '" + name + "' (first at line " + std::to_string(first->second) + ")");
    }
    bool ok = false;
    for (auto k : known) ok = ok || k == name;
    if (!ok) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      fail(key, file, child + name, "unknown key '" + name + "' (known: " + list + ")");
    }
  }
}

void check_placeholders(const std::string& text, const YAML::Node& node, const std::string& file,
                        const std::string& path) {
  std::size_t at = 0;
  while ((at = text.find("{{", at)) != std::string::npos) {
    std::size_t end = text.find("}}", at + 2);
    if (end == std::string::npos) break;
    std::string name(util::trim(std::string_view(text).substr(at + 2, end - at - 2)));
    bool ok = false;
    for (const char* p : kPlaceholders) ok = ok || name == p;
    if (!ok) {
      fail(node, file, path,
           "unknown placeholder '{{" + name +
               "}}' (known: user, task, file, content, turn, tool_result, working_directory, 0..9)");
    }
    at = end + 2;
  }
}

std::string string_value(const YAML::Node& node, const std::string& file, const std::string& path) {
  if (!node.IsScalar()) fail(node, file, path, "must be a string");
  check_placeholders(node.Scalar(), node, file, path);
  return node.Scalar();
}

// YAML -> JSON: plain scalars that read as numbers, booleans or null take that
// type; quoted ones stay strings.
void to_json(const YAML::Node& node, rapidjson::Writer<rapidjson::StringBuffer>& w, const std::string& file,
             const std::string& path, int depth) {
  if (depth > kMaxDepth) fail(node, file, path, "nesting too deep");
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      w.StartObject();
      std::map<std::string, int> seen;
      for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node key = it->first;
        const YAML::Node value = it->second;
        if (!key.IsScalar()) fail(key, file, path, "keys must be plain strings");
        if (!seen.emplace(key.Scalar(), 0).second) fail(key, file, path + "." + key.Scalar(), "duplicate key");
        w.Key(key.Scalar().c_str(), static_cast<rapidjson::SizeType>(key.Scalar().size()));
        to_json(value, w, file, path + "." + key.Scalar(), depth + 1);
      }
      w.EndObject();
      return;
    }
    case YAML::NodeType::Sequence: {
      w.StartArray();
      std::size_t i = 0;
      for (const YAML::Node& item : node) to_json(item, w, file, path + "[" + std::to_string(i++) + "]", depth + 1);
      w.EndArray();
      return;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "?") {
        if (s == "true" || s == "True" || s == "TRUE") { w.Bool(true); return; }
        if (s == "false" || s == "False" || s == "FALSE") { w.Bool(false); return; }
        if (s == "null" || s == "Null" || s == "NULL" || s == "~") { w.Null(); return; }
        if (!s.empty()) {
          char* end = nullptr;
          errno = 0;
          long long i = std::strtoll(s.c_str(), &end, 10);
          if (errno == 0 && end && *end == '\0') { w.Int64(i); return; }
          errno = 0;
          double d = std::strtod(s.c_str(), &end);
          if (errno == 0 && end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos &&
              s.find_first_of("xXnN") == std::string::npos) {
            w.Double(d);
            return;
          }
        }
      }
      check_placeholders(s, node, file, path);
      w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
      return;
    }
    default:
      w.Null();
      return;
  }
}

std::string expand(const std::string& text, const std::map<std::string, std::string>& values) {
  if (text.find("{{") == std::string::npos) return text;
  std::string out;
  std::size_t at = 0;
  while (true) {
    std::size_t open = text.find("{{", at);
    std::size_t close = open == std::string::npos ? open : text.find("}}", open + 2);
    if (close == std::string::npos) {
      out.append(text, at, std::string::npos);
      return out;
    }
    out.append(text, at, open - at);
    std::string name(util::trim(std::string_view(text).substr(open + 2, close - open - 2)));
    auto it = values.find(name);
    if (it != values.end()) out += it->second;
    at = close + 2;
  }
}

void expand_json(rapidjson::Value& v, rapidjson::Document::AllocatorType& alloc,
                 const std::map<std::string, std::string>& values) {
  if (v.IsString()) {
    std::string s(v.GetString(), v.GetStringLength());
    if (s.find("{{") != std::string::npos) v.SetString(expand(s, values), alloc);
  } else if (v.IsObject()) {
    for (auto& m : v.GetObject()) expand_json(m.value, alloc, values);
  } else if (v.IsArray()) {
    for (auto& item : v.GetArray()) expand_json(item, alloc, values);
  }
}

std::optional<FinishReason> finish_of(const std::string& s) {
  if (s == "stop") return FinishReason::Stop;
  if (s == "length") return FinishReason::Length;
  if (s == "tool_calls") return FinishReason::ToolCalls;
  if (s == "content_filter") return FinishReason::ContentFilter;
  return std::nullopt;
}

}  // namespace

struct Scenario::Turn {
  std::string name;
  // Conditions.
  bool has_user = false;
  std::regex user;
  std::optional<bool> tool_result;
  std::vector<std::pair<int, int>> turns;  // inclusive ranges
  std::string system_contains;
  std::string tool;
  // Answer.
  std::string reasoning;
  std::string text;
  struct Call {
    std::string name;
    std::string arguments;  // JSON object text with placeholders in strings
  };
  std::vector<Call> tool_calls;
  std::optional<Error> error;
  std::optional<FinishReason> finish;
  std::optional<std::chrono::milliseconds> delay;
  std::optional<std::chrono::milliseconds> chunk_delay;
  std::int64_t cut_after = -1;
  std::int64_t stall_after = -1;
  bool agent = false;
};

Scenario::~Scenario() = default;
std::size_t Scenario::size() const { return turns_.size(); }

namespace {

std::pair<int, int> turn_range(const YAML::Node& node, const std::string& file, const std::string& path) {
  if (!node.IsScalar()) fail(node, file, path, "must be a turn number, a list of them, or \"N+\"");
  std::string s = node.Scalar();
  bool open = !s.empty() && s.back() == '+';
  if (open) s.pop_back();
  ConfigNode n = ConfigNode::scalar(s, mark_of(node, file), path);
  std::int64_t v = n.as_int();
  if (v < 1 || v > 1'000'000) fail(node, file, path, "turn numbers start at 1");
  return {static_cast<int>(v), open ? INT_MAX : static_cast<int>(v)};
}

Error parse_error(const YAML::Node& node, const std::string& file, const std::string& path) {
  int status = 0;
  std::string message, type;
  std::optional<std::chrono::milliseconds> retry_after;
  const YAML::Node* status_node = &node;
  if (node.IsMap()) {
    check_keys(node, file, path, {"status", "message", "type", "retry_after"});
    if (!node["status"]) fail(node, file, path, "needs a status");
    YAML::Node s = node["status"];
    status = static_cast<int>(scalar_node(s, file, path + ".status").as_int());
    if (status < 400 || status > 599) fail(s, file, path + ".status", "must be an HTTP error status 400..599");
    if (node["message"]) message = string_value(node["message"], file, path + ".message");
    if (node["type"]) type = string_value(node["type"], file, path + ".type");
    if (node["retry_after"]) retry_after = scalar_node(node["retry_after"], file, path + ".retry_after").as_duration();
  } else {
    status = static_cast<int>(scalar_node(*status_node, file, path).as_int());
    if (status < 400 || status > 599) fail(node, file, path, "must be an HTTP error status 400..599");
  }
  Error e = Error::upstream(status, message.empty() ? "mock scenario: HTTP " + std::to_string(status) : message);
  if (!type.empty()) e.type = type;
  e.retry_after = retry_after;
  return e;
}

}  // namespace

std::shared_ptr<const Scenario> Scenario::parse(const std::string& yaml, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    SourceMark m{file, e.mark.line < 0 ? 0 : e.mark.line + 1, e.mark.column < 0 ? 0 : e.mark.column + 1};
    throw ConfigError(m, "", e.msg);
  }
  std::shared_ptr<Scenario> scenario(new Scenario());
  scenario->source_ = file;
  if (!root.IsMap()) {
    SourceMark m = mark_of(root, file);
    if (m.line == 0) m = SourceMark{file, 1, 1};
    throw ConfigError(m, "", "a scenario is a map with a 'turns' list");
  }
  check_keys(root, file, "", {"description", "turns"});
  YAML::Node turns = root["turns"];
  if (!turns) fail(root, file, "", "a scenario needs a 'turns' list");
  if (!turns.IsSequence() || turns.size() == 0) fail(turns, file, "turns", "must be a non-empty list of turns");

  std::size_t index = 0;
  for (const YAML::Node& node : turns) {
    const std::string path = "turns[" + std::to_string(index++) + "]";
    if (!node.IsMap()) fail(node, file, path, "a turn is a map (match, text, tool_calls, error, ...)");
    check_keys(node, file, path,
               {"name", "match", "reasoning", "text", "tool_calls", "error", "finish", "delay", "chunk_delay",
                "cut_after", "stall_after", "agent"});
    Turn t;
    if (node["name"]) t.name = string_value(node["name"], file, path + ".name");

    if (YAML::Node m = node["match"]) {
      const std::string mp = path + ".match";
      if (!m.IsMap()) fail(m, file, mp, "must be a map of conditions (user, tool_result, turn, system, tool)");
      check_keys(m, file, mp, {"user", "tool_result", "turn", "system", "tool"});
      if (YAML::Node u = m["user"]) {
        std::string pattern = string_value(u, file, mp + ".user");
        auto flags = std::regex::ECMAScript;
        if (pattern.rfind("(?i)", 0) == 0) {
          pattern.erase(0, 4);
          flags |= std::regex::icase;
        }
        try {
          t.user = std::regex(pattern, flags);
        } catch (const std::regex_error& e) {
          fail(u, file, mp + ".user", std::string("invalid regular expression: ") + e.what());
        }
        t.has_user = true;
      }
      if (YAML::Node r = m["tool_result"]) t.tool_result = scalar_node(r, file, mp + ".tool_result").as_bool();
      if (YAML::Node n = m["turn"]) {
        if (n.IsSequence()) {
          std::size_t i = 0;
          for (const YAML::Node& item : n) t.turns.push_back(turn_range(item, file, mp + ".turn[" + std::to_string(i++) + "]"));
          if (t.turns.empty()) fail(n, file, mp + ".turn", "must list at least one turn");
        } else {
          t.turns.push_back(turn_range(n, file, mp + ".turn"));
        }
      }
      if (YAML::Node s = m["system"]) t.system_contains = string_value(s, file, mp + ".system");
      if (YAML::Node s = m["tool"]) t.tool = string_value(s, file, mp + ".tool");
    }

    if (node["reasoning"]) t.reasoning = string_value(node["reasoning"], file, path + ".reasoning");
    if (node["text"]) t.text = string_value(node["text"], file, path + ".text");
    if (YAML::Node calls = node["tool_calls"]) {
      const std::string cp = path + ".tool_calls";
      if (!calls.IsSequence() || calls.size() == 0) fail(calls, file, cp, "must be a non-empty list of {name, arguments}");
      std::size_t i = 0;
      for (const YAML::Node& c : calls) {
        const std::string ip = cp + "[" + std::to_string(i++) + "]";
        if (!c.IsMap()) fail(c, file, ip, "a tool call is a map {name, arguments}");
        check_keys(c, file, ip, {"name", "arguments"});
        if (!c["name"]) fail(c, file, ip, "a tool call needs a name");
        Turn::Call call;
        call.name = string_value(c["name"], file, ip + ".name");
        if (call.name.empty()) fail(c["name"], file, ip + ".name", "must not be empty");
        call.arguments = "{}";
        if (YAML::Node a = c["arguments"]) {
          if (a.IsMap()) {
            rapidjson::StringBuffer buf;
            rapidjson::Writer<rapidjson::StringBuffer> w(buf);
            to_json(a, w, file, ip + ".arguments", 0);
            call.arguments.assign(buf.GetString(), buf.GetSize());
          } else if (a.IsScalar()) {
            rapidjson::Document doc;
            doc.Parse(a.Scalar().c_str());
            if (doc.HasParseError() || !doc.IsObject()) {
              fail(a, file, ip + ".arguments", "must be a map, or a JSON object as a string");
            }
            check_placeholders(a.Scalar(), a, file, ip + ".arguments");
            call.arguments = json::to_string(doc);
          } else if (!a.IsNull()) {
            fail(a, file, ip + ".arguments", "must be a map, or a JSON object as a string");
          }
        }
        t.tool_calls.push_back(std::move(call));
      }
    }
    if (YAML::Node e = node["error"]) t.error = parse_error(e, file, path + ".error");
    if (YAML::Node f = node["finish"]) {
      std::string s = string_value(f, file, path + ".finish");
      t.finish = finish_of(s);
      if (!t.finish) fail(f, file, path + ".finish", "must be stop, length, tool_calls or content_filter, not '" + s + "'");
    }
    if (YAML::Node d = node["delay"]) {
      t.delay = scalar_node(d, file, path + ".delay").as_duration();
      if (t.delay->count() < 0) fail(d, file, path + ".delay", "must not be negative");
    }
    if (YAML::Node d = node["chunk_delay"]) {
      t.chunk_delay = scalar_node(d, file, path + ".chunk_delay").as_duration();
      if (t.chunk_delay->count() < 0) fail(d, file, path + ".chunk_delay", "must not be negative");
    }
    if (YAML::Node c = node["cut_after"]) {
      t.cut_after = scalar_node(c, file, path + ".cut_after").as_int();
      if (t.cut_after < 0) fail(c, file, path + ".cut_after", "must be at least 0 (chunks before the cut)");
    }
    if (YAML::Node c = node["stall_after"]) {
      t.stall_after = scalar_node(c, file, path + ".stall_after").as_int();
      if (t.stall_after < 0) fail(c, file, path + ".stall_after", "must be at least 0 (chunks before the stall)");
    }
    if (YAML::Node a = node["agent"]) t.agent = scalar_node(a, file, path + ".agent").as_bool();

    const bool says = !t.text.empty() || !t.tool_calls.empty() || !t.reasoning.empty();
    if (t.error && (says || t.agent)) {
      fail(node, file, path, "an error turn answers with the error only (no text, reasoning, tool_calls or agent)");
    }
    if (t.agent && says) fail(node, file, path, "an agent turn takes its answer from the built-in agent (no text or tool_calls)");
    if (!t.error && !t.agent && t.text.empty() && t.tool_calls.empty()) {
      fail(node, file, path, "a turn needs text, tool_calls, error or agent: true (an empty answer fails agents)");
    }
    scenario->turns_.push_back(std::move(t));
  }
  return scenario;
}

std::shared_ptr<const Scenario> Scenario::load(const std::string& path, const ConfigNode& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(where, "cannot read scenario file '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxScenarioBytes) throw ConfigError(where, "scenario file '" + path + "' is larger than 4 MiB");
  return parse(text.str(), path);
}

std::optional<Scenario::Match> Scenario::match(const ChatRequest& request, const Conversation& c) const {
  const std::string subject = c.last_user.substr(0, std::min(c.last_user.size(), kMatchLimit));
  for (std::size_t i = 0; i < turns_.size(); ++i) {
    const Turn& t = turns_[i];
    std::smatch groups;
    if (t.has_user && !std::regex_search(subject, groups, t.user)) continue;
    if (t.tool_result && *t.tool_result != c.tool_result) continue;
    if (!t.turns.empty()) {
      bool in = false;
      for (auto [lo, hi] : t.turns) in = in || (c.turn >= lo && c.turn <= hi);
      if (!in) continue;
    }
    if (!t.system_contains.empty() && c.system.find(t.system_contains) == std::string::npos) continue;
    if (!t.tool.empty()) {
      bool offered = false;
      if (t.tool == "@write") {
        offered = can_write_files(request.tools);
      } else {
        for (const Tool& tool : request.tools) offered = offered || tool.name == t.tool;
      }
      if (!offered) continue;
    }

    Match m;
    m.index = i;
    m.agent = t.agent;
    Answer& a = m.answer;
    a.origin = "scenario " + source_ + " turn " + std::to_string(i + 1) + (t.name.empty() ? "" : " (" + t.name + ")");
    a.first_byte_delay = t.delay;
    a.chunk_delay = t.chunk_delay;
    a.cut_after = t.cut_after;
    a.stall_after = t.stall_after;
    a.finish = t.finish;
    if (t.error) {
      a.error = t.error;
      return m;
    }
    if (t.agent) return m;

    const FileTask ft = file_task(c.task);
    std::map<std::string, std::string> values{
        {"user", c.last_user},       {"task", c.task},
        {"file", ft.path},           {"content", ft.content},
        {"turn", std::to_string(c.turn)}, {"tool_result", c.last_tool_result},
        {"working_directory", c.working_directory}};
    for (std::size_t g = 0; g < 10; ++g) {
      values[std::to_string(g)] = t.has_user && g < groups.size() && groups[g].matched ? groups[g].str() : "";
    }
    a.reasoning = expand(t.reasoning, values);
    a.text = expand(t.text, values);
    int index = 0;
    for (const auto& call : t.tool_calls) {
      rapidjson::Document args;
      args.Parse(call.arguments.c_str());
      expand_json(args, args.GetAllocator(), values);
      std::string name = call.name;
      std::string arguments = json::to_string(args);
      if (name == "@write") {
        auto get = [&](const char* key, const std::string& fallback) {
          auto it = args.FindMember(key);
          return it != args.MemberEnd() && it->value.IsString()
                     ? std::string(it->value.GetString(), it->value.GetStringLength())
                     : fallback;
        };
        auto writer = file_write_call(request.tools, c, get("path", ft.path), get("content", ft.content));
        if (!writer) continue;
        name = std::move(writer->name);
        arguments = std::move(writer->arguments);
      }
      a.tool_calls.push_back({tool_call_id(request, c, name, index), name, std::move(arguments)});
      ++index;
    }
    if (a.text.empty() && a.tool_calls.empty()) {
      a.text = t.tool_calls.empty() ? "Mock answer." : "mock scenario: the client offers no file-writing tool.";
    }
    return m;
  }
  return std::nullopt;
}

}  // namespace llmux::mock
