#include "agent.h"

#include <algorithm>
#include <array>
#include <utility>

#include "llmux/json.h"
#include "mock_provider.h"
#include "mock_util.h"

namespace llmux::mock {

using util::lower;
using util::trim_all;

namespace {

constexpr std::size_t kEchoLimit = 200;       // characters of the user text echoed
constexpr std::size_t kTaskScanLimit = 4096;  // bytes of a task read for names and content

// Tool tags of the XML protocol (Roo Code, Cline, the Kilo Code extension).
constexpr std::array<std::string_view, 24> kXmlTools = {
    "write_to_file",      "attempt_completion", "read_file",         "execute_command",
    "apply_diff",         "search_files",       "list_files",        "list_code_definition_names",
    "ask_followup_question", "insert_content",  "search_and_replace", "browser_action",
    "use_mcp_tool",       "access_mcp_resource", "new_task",         "switch_mode",
    "replace_in_file",    "plan_mode_respond",  "new_rule",          "update_todo_list",
    "codebase_search",    "fetch_instructions", "edit_file",         "condense"};

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A user message that carries an XML-protocol tool result ("[write_to_file
// for 'a.txt'] Result:") or the client's complaint that no tool was used.
bool is_xml_result_text(std::string_view text) {
  if (contains(text, "] Result:")) return true;
  return trim_all(text).substr(0, 7) == "[ERROR]";
}

bool is_result_message(const Message& m) {
  return m.role == Role::Tool || (m.role == Role::User && is_xml_result_text(m.text()));
}

// "<tag>" (built by appending: GCC 12 warns falsely, -Wrestrict, on "<" + string).
std::string open_tag(std::string_view tag) {
  std::string open;
  open.reserve(tag.size() + 2);
  open.push_back('<');
  open.append(tag);
  open.push_back('>');
  return open;
}

// The first XML tool tag in an assistant's text, or empty.
std::string xml_tool_used(std::string_view text) {
  std::size_t best = std::string_view::npos;
  std::string_view found;
  for (std::string_view tag : kXmlTools) {
    const std::string open = open_tag(tag);
    std::size_t at = text.find(open);
    if (at < best) {
      best = at;
      found = tag;
    }
  }
  return std::string(found);
}

std::string tool_used(const Message& assistant) {
  if (!assistant.tool_calls.empty()) return assistant.tool_calls.back().name;
  return xml_tool_used(assistant.text());
}

std::string between(std::string_view text, std::string_view open, std::string_view close) {
  std::size_t a = text.find(open);
  if (a == std::string_view::npos) return {};
  a += open.size();
  std::size_t b = text.find(close, a);
  if (b == std::string_view::npos) return {};
  return std::string(trim_all(text.substr(a, b - a)));
}

bool is_path_key(std::string_view key) {
  static constexpr std::array<std::string_view, 11> kExact = {
      "filepath", "file_path", "path", "filename", "file_name", "file", "target_file", "targetfile",
      "target_path", "absolute_path", "relative_path"};
  std::string k = lower(key);
  return std::find(kExact.begin(), kExact.end(), k) != kExact.end();
}

// One shell word starting at `i` (after blanks), unquoted ('...', "...",
// backslashes); `i` ends after it. Empty when there is none or a quote is open.
std::string shell_word(std::string_view cmd, std::size_t& i) {
  while (i < cmd.size() && (cmd[i] == ' ' || cmd[i] == '\t')) ++i;
  static constexpr std::string_view kEnd = " \t\n;&|<>()";
  std::string word;
  while (i < cmd.size() && kEnd.find(cmd[i]) == std::string_view::npos) {
    const char ch = cmd[i];
    if (ch == '\'') {
      std::size_t close = cmd.find('\'', i + 1);
      if (close == std::string_view::npos) return {};
      word.append(cmd.substr(i + 1, close - i - 1));
      i = close + 1;
    } else if (ch == '"') {
      ++i;
      while (i < cmd.size() && cmd[i] != '"') {
        if (cmd[i] == '\\' && i + 1 < cmd.size()) ++i;
        word.push_back(cmd[i++]);
      }
      if (i >= cmd.size()) return {};
      ++i;
    } else if (ch == '\\' && i + 1 < cmd.size()) {
      word.push_back(cmd[i + 1]);
      i += 2;
    } else {
      word.push_back(ch);
      ++i;
    }
  }
  return word;
}

// The file the last unquoted `>` / `>>` redirection of a shell command
// writes (not a descriptor, not /dev/null), unquoted; empty when none.
std::string redirect_target(std::string_view cmd) {
  std::string target;
  char quote = 0;
  for (std::size_t i = 0; i < cmd.size(); ++i) {
    const char ch = cmd[i];
    if (quote) {
      if (ch == quote) {
        quote = 0;
      } else if (quote == '"' && ch == '\\') {
        ++i;
      }
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
    } else if (ch == '\\') {
      ++i;
    } else if (ch == '>') {
      std::size_t at = i + 1;
      if (at < cmd.size() && (cmd[at] == '>' || cmd[at] == '|')) ++at;
      if (at < cmd.size() && cmd[at] == '&') {  // 2>&1
        i = at;
        continue;
      }
      std::string word = shell_word(cmd, at);
      if (!word.empty() && word != "/dev/null") target = std::move(word);
      i = at - 1;
    }
  }
  return target;
}

// The first file an apply_patch patch adds or updates, or empty.
std::string patched_path(std::string_view patch) {
  for (std::string_view marker : {std::string_view("*** Add File: "), std::string_view("*** Update File: ")}) {
    std::size_t at = 0;
    while ((at = patch.find(marker, at)) != std::string_view::npos) {
      const bool line_start = at == 0 || patch[at - 1] == '\n';
      at += marker.size();
      if (!line_start) continue;
      std::size_t eol = patch.find('\n', at);
      std::string_view path = trim_all(patch.substr(at, eol == std::string_view::npos ? eol : eol - at));
      if (!path.empty()) return std::string(path);
    }
  }
  return {};
}

std::string find_working_directory(std::string_view text) {
  // Codex CLI: <environment_context>\n  <cwd>/x</cwd> ...
  std::string cwd = between(text, "<cwd>", "</cwd>");
  if (!cwd.empty() && cwd.find('\n') == std::string::npos &&
      (cwd.front() == '/' || (cwd.size() > 2 && cwd[1] == ':'))) {
    return cwd;
  }
  static constexpr std::string_view kLabel = "working directory:";
  std::string low = lower(text);
  std::size_t at = 0;
  while ((at = low.find(kLabel, at)) != std::string::npos) {
    std::size_t start = at + kLabel.size();
    std::size_t end = text.find('\n', start);
    std::string_view value = trim_all(text.substr(start, end == std::string_view::npos ? end : end - start));
    at = start;
    if (!value.empty() && (value.front() == '/' || (value.size() > 2 && value[1] == ':'))) {
      return std::string(value);
    }
  }
  return {};
}

void remove_blocks(std::string& text, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  std::size_t at;
  while ((at = text.find(open)) != std::string::npos) {
    std::size_t end = text.find(close, at);
    text.erase(at, end == std::string::npos ? std::string::npos : end + close.size() - at);
  }
}

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Whether `word` occurs in `low` (lower case) as a whole word.
bool has_word(std::string_view low, std::string_view word) {
  std::size_t at = 0;
  while ((at = low.find(word, at)) != std::string_view::npos) {
    bool left = at == 0 || !word_char(low[at - 1]);
    std::size_t end = at + word.size();
    bool right = end >= low.size() || !word_char(low[end]);
    if (left && right) return true;
    at = end;
  }
  return false;
}

bool is_file_name(std::string_view token) {
  if (token.size() < 2 || token.size() > 255 || contains(token, "://") || contains(token, "..")) return false;
  for (char c : token) {
    if (!(word_char(c) || c == '.' || c == '-' || c == '/' || c == '~')) return false;
  }
  std::size_t dot = token.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= token.size()) return false;
  std::string_view ext = token.substr(dot + 1);
  if (ext.size() > 10 || contains(ext, "/")) return false;
  bool letter = false;
  for (char c : ext) letter = letter || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (!letter) return false;
  std::size_t base = token.rfind('/', dot);
  std::string_view stem = token.substr(base == std::string_view::npos ? 0 : base + 1);
  stem = stem.substr(0, stem.rfind('.'));
  if (stem.size() == 1 && ext.size() == 1) return false;  // "e.g", "i.e"
  return true;
}

std::string_view strip_token(std::string_view token) {
  static constexpr std::string_view kLead = "\"'`(<[{";
  static constexpr std::string_view kTrail = "\"'`)>]},;:!?.";
  while (!token.empty() && kLead.find(token.front()) != std::string_view::npos) token.remove_prefix(1);
  while (!token.empty() && kTrail.find(token.back()) != std::string_view::npos) token.remove_suffix(1);
  return token;
}

std::vector<std::string_view> tokens(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && util::is_space(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !util::is_space(text[i])) ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

// The text after a phrase such as "with the text": quoted (exactly the quote's
// inside) or the rest of the line without a final period.
std::string content_after(std::string_view rest) {
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t' || rest.front() == ':')) {
    rest.remove_prefix(1);
  }
  if (rest.empty()) return {};
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kQuotes = {
      {{"\"", "\""}, {"'", "'"}, {"`", "`"}, {"\xE2\x80\x9C", "\xE2\x80\x9D"}, {"\xE2\x80\x98", "\xE2\x80\x99"}}};
  for (const auto& [open, close] : kQuotes) {
    if (rest.substr(0, open.size()) != open) continue;
    std::size_t end = rest.find(close, open.size());
    if (end != std::string_view::npos && end > open.size()) {
      return std::string(rest.substr(open.size(), end - open.size()));
    }
  }
  std::size_t eol = rest.find('\n');
  std::string_view line = trim_all(rest.substr(0, eol));
  if (!line.empty() && line.back() == '.') line.remove_suffix(1);
  return std::string(trim_all(line));
}

std::string completion_summary(const Conversation& c) {
  if (!c.last_write_path.empty()) return "Done: wrote " + c.last_write_path + ".";
  return "Mock answer: tool result received.";
}

std::string echo_text(const Conversation& c) {
  if (c.task.empty()) return "Mock answer.";
  return "Mock answer to: " + util::truncate_chars(c.task, kEchoLimit);
}

const Tool* find_tool(const std::vector<Tool>& tools, std::string_view name) {
  for (const Tool& t : tools) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// Arguments from `tool`'s schema with `key` set to `value` (first).
std::string arguments_with(const Tool& tool, std::string_view key, const std::string& value) {
  rapidjson::Document generated;
  std::string base = arguments_for_schema(tool.parameters_json);
  generated.Parse(base.c_str());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  if (generated.IsObject()) {
    for (const auto& m : generated.GetObject()) {
      if (std::string_view(m.name.GetString(), m.name.GetStringLength()) == key) continue;
      m.name.Accept(w);
      m.value.Accept(w);
    }
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Answer text_answer(std::string text, std::string origin) {
  Answer a;
  a.text = std::move(text);
  a.origin = std::move(origin);
  return a;
}

Answer call_answer(const ChatRequest& request, const Conversation& c, const std::string& name, std::string args,
                   std::string origin) {
  Answer a;
  a.tool_calls.push_back({tool_call_id(request, c, name, 0), name, std::move(args)});
  a.origin = std::move(origin);
  return a;
}

}  // namespace

std::string write_path(const WriteTool& w, const Conversation& c, const std::string& path) {
  if (!w.wants_absolute || c.working_directory.empty() || path.empty() || path.front() == '/' || path.front() == '~') {
    return path;
  }
  std::string dir = c.working_directory;
  while (dir.size() > 1 && (dir.back() == '/' || dir.back() == '\\')) dir.pop_back();
  return dir + (dir.back() == '/' ? "" : "/") + path;
}

namespace {

std::optional<Answer> native_answer(const ChatRequest& request, const Conversation& c, const AgentSettings& s) {
  if (!s.tool_calls || request.tool_choice.mode == ToolChoice::Mode::None) return std::nullopt;
  const FileTask ft = file_task(c.task);
  std::optional<PlannedToolCall> writer = file_write_call(request.tools, c, ft.path, ft.content);
  const Tool* done = find_tool(request.tools, "attempt_completion");
  auto write_call = [&](const PlannedToolCall& w) {
    return call_answer(request, c, w.name, w.arguments, "agent: " + w.name);
  };
  auto done_call = [&](const std::string& result) {
    return call_answer(request, c, done->name, arguments_with(*done, "result", result), "agent: attempt_completion");
  };

  if (request.tool_choice.mode == ToolChoice::Mode::Function) {
    if (c.tool_result) return std::nullopt;
    const std::string& named = request.tool_choice.function_name;
    if (writer && writer->name == named) return write_call(*writer);
    if (done && done->name == named) return done_call(echo_text(c));
    return std::nullopt;
  }

  if (!c.tool_result) {
    const bool required = request.tool_choice.mode == ToolChoice::Mode::Required;
    if (!required && looks_like_question(c.task)) {
      return text_answer(s.reply.empty() ? echo_text(c) : s.reply, "agent: question");
    }
    if (writer) return write_call(*writer);
    return std::nullopt;
  }

  const bool spent = c.task_tool_turns >= s.max_tool_turns;
  if (done && !spent && c.last_tool != done->name) return done_call(completion_summary(c));
  return text_answer(s.reply.empty() ? completion_summary(c) : s.reply,
                     spent ? "agent: tool turns spent" : "agent: finish");
}

std::optional<Answer> xml_answer(const Conversation& c) {
  std::vector<std::string> tags = xml_tools_described(c.system);
  const bool can_write = std::find(tags.begin(), tags.end(), "write_to_file") != tags.end();
  const bool can_finish = std::find(tags.begin(), tags.end(), "attempt_completion") != tags.end();
  if (!can_write && !can_finish) return std::nullopt;
  auto completion = [](const std::string& result) {
    return "<attempt_completion>\n<result>\n" + result + "\n</result>\n</attempt_completion>";
  };
  if (!c.tool_result) {
    if (can_write && !looks_like_question(c.task)) {
      FileTask ft = file_task(c.task);
      std::string text = "I'll create " + ft.path + ".\n\n<write_to_file>\n<path>" + ft.path + "</path>\n<content>\n" +
                         ft.content + (ft.content.empty() || ft.content.back() != '\n' ? "\n" : "") + "</content>\n";
      if (contains(c.system, "<line_count>")) {
        text += "<line_count>" + std::to_string(line_count(ft.content)) + "</line_count>\n";
      }
      text += "</write_to_file>";
      return text_answer(std::move(text), "agent: xml write_to_file");
    }
    if (can_finish) return text_answer(completion(echo_text(c)), "agent: xml attempt_completion");
    return std::nullopt;
  }
  if (can_finish) return text_answer(completion(completion_summary(c)), "agent: xml attempt_completion");
  return text_answer(completion_summary(c), "agent: xml finish");
}

}  // namespace

// ---------------------------------------------------------------------------

std::string clean_user_text(std::string_view text) {
  std::string s(text);
  remove_blocks(s, "environment_details");
  remove_blocks(s, "system-reminder");
  remove_blocks(s, "environment_context");
  for (std::string_view tag : {std::string_view("task"), std::string_view("user_message")}) {
    std::string inner = between(s, "<" + std::string(tag) + ">", "</" + std::string(tag) + ">");
    if (!inner.empty()) {
      s = inner;
      break;
    }
  }
  std::string_view v = trim_all(s);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"' && v.find('"', 1) == v.size() - 1) {
    v = trim_all(v.substr(1, v.size() - 2));
  }
  return std::string(v);
}

Conversation analyze(const ChatRequest& request) {
  Conversation c;
  const auto& msgs = request.messages;
  int assistants = 0;
  for (const Message& m : msgs) {
    if (m.role == Role::Assistant) ++assistants;
    if (m.role == Role::System || m.role == Role::Developer) {
      if (!c.system.empty()) c.system += '\n';
      c.system += m.text();
    }
  }
  c.turn = assistants + 1;
  c.last_user = clean_user_text(request.last_user_text());

  // Walk back over segments: an assistant turn and the messages after it.
  auto segment_start = [&](std::size_t end) {
    std::size_t s = end;
    while (s > 0 && msgs[s - 1].role != Role::Assistant) --s;
    return s;
  };
  std::size_t end = msgs.size();
  std::size_t start = segment_start(end);
  bool trailing = true;
  while (true) {
    bool has_result = false;
    for (std::size_t i = start; i < end; ++i) has_result = has_result || is_result_message(msgs[i]);
    const bool after_assistant = start > 0;
    if (trailing) {
      c.tool_result = has_result && after_assistant;
      for (std::size_t i = end; i > start; --i) {
        if (is_result_message(msgs[i - 1])) {
          c.last_tool_result = msgs[i - 1].text();
          break;
        }
      }
      if (after_assistant) {
        const Message& a = msgs[start - 1];
        c.last_tool = tool_used(a);
        if (!a.tool_calls.empty()) {
          for (const ToolCall& tc : a.tool_calls) {
            if (c.last_write_path.empty()) c.last_write_path = written_path(tc.arguments);
          }
        } else if (c.last_tool == "write_to_file") {
          c.last_write_path = between(a.text(), "<path>", "</path>");
        }
      }
      trailing = false;
    }
    if (has_result && after_assistant && !tool_used(msgs[start - 1]).empty()) {
      ++c.task_tool_turns;
      end = start - 1;
      start = segment_start(end);
      continue;
    }
    for (std::size_t i = end; i > start; --i) {
      const Message& m = msgs[i - 1];
      if (m.role == Role::User && !is_xml_result_text(m.text())) {
        c.task = clean_user_text(m.text());
        if (c.task.empty()) continue;  // only context (Codex's <environment_context> item)
        break;
      }
    }
    break;
  }
  if (c.task.empty() && !c.tool_result) c.task = c.last_user;

  c.working_directory = find_working_directory(c.system);
  for (auto it = msgs.rbegin(); c.working_directory.empty() && it != msgs.rend(); ++it) {
    if (it->role == Role::User) c.working_directory = find_working_directory(it->text());
  }
  return c;
}

FileTask file_task(std::string_view task) {
  FileTask ft;
  task = task.substr(0, std::min(task.size(), kTaskScanLimit));
  const std::vector<std::string_view> words = tokens(task);
  for (std::string_view w : words) {
    std::string_view t = strip_token(w);
    if (is_file_name(t)) {
      ft.path = std::string(t);
      ft.path_named = true;
      break;
    }
  }
  if (!ft.path_named) {
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
      std::string k = lower(strip_token(words[i]));
      if (k != "named" && k != "called") continue;
      std::string_view t = strip_token(words[i + 1]);
      bool ok = !t.empty();
      for (char ch : t) ok = ok && (word_char(ch) || ch == '.' || ch == '-' || ch == '/');
      if (ok) {
        ft.path = std::string(t);
        ft.path_named = true;
        break;
      }
    }
  }

  static constexpr std::array<std::string_view, 20> kPhrases = {
      "with the text",     "with the content", "with the contents", "with the words", "with the word",
      "with the line",     "with the string",  "with the body",     "with text",      "with content",
      "with contents",     "with body",        "containing the text", "containing",   "that says",
      "that reads",        "that contains",    "saying",            "which says",     "reading"};
  const std::string low = lower(task);
  std::size_t best = std::string::npos, best_len = 0;
  for (std::string_view p : kPhrases) {
    std::size_t at = 0;
    while ((at = low.find(p, at)) != std::string::npos) {
      std::size_t after = at + p.size();
      bool left = at == 0 || !word_char(low[at - 1]);
      bool right = after >= low.size() || !word_char(low[after]);
      if (left && right) {
        if (at < best || (at == best && p.size() > best_len)) {
          best = at;
          best_len = p.size();
        }
        break;
      }
      at = after;
    }
  }
  if (best != std::string::npos) {
    std::string content = content_after(task.substr(best + best_len));
    if (!content.empty()) {
      ft.content = std::move(content);
      ft.content_named = true;
    }
  }
  return ft;
}

bool looks_like_question(std::string_view task) {
  std::string low = lower(trim_all(task));
  if (low.empty()) return false;
  const bool write_intent =
      file_task(low).path_named ||
      ((has_word(low, "write") || has_word(low, "create") || has_word(low, "save") || has_word(low, "make") ||
        has_word(low, "generate") || has_word(low, "add") || has_word(low, "touch")) &&
       has_word(low, "file"));
  if (write_intent) return false;
  if (low.back() == '?') return true;
  static constexpr std::array<std::string_view, 20> kStarts = {
      "what", "why", "how", "who", "when", "where", "which", "is", "are", "can", "could",
      "does", "do", "did", "explain", "tell", "describe", "should", "would", "will"};
  std::size_t end = 0;
  while (end < low.size() && word_char(low[end])) ++end;
  std::string_view first(low.data(), end);
  return std::find(kStarts.begin(), kStarts.end(), first) != kStarts.end();
}

std::optional<WriteTool> find_write_tool(const std::vector<Tool>& tools) {
  static constexpr std::array<std::string_view, 11> kContent = {
      "content", "contents", "text", "file_text", "filetext", "file_content", "filecontent",
      "data",    "body",     "code", "new_content"};
  static constexpr std::array<std::string_view, 6> kWriteNames = {
      "write", "write_to_file", "write_file", "create_file", "writefile", "file_write"};
  std::optional<WriteTool> best;
  int best_score = 0;
  for (const Tool& tool : tools) {
    rapidjson::Document doc;
    doc.Parse(tool.parameters_json.c_str());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    auto props = doc.FindMember("properties");
    if (props == doc.MemberEnd() || !props->value.IsObject()) continue;
    WriteTool w;
    w.tool = &tool;
    int path_score = 0;
    for (const auto& p : props->value.GetObject()) {
      const std::string key(p.name.GetString(), p.name.GetStringLength());
      const std::string low = lower(key);
      std::string type;
      std::string description;
      if (p.value.IsObject()) {
        auto t = p.value.FindMember("type");
        if (t != p.value.MemberEnd() && t->value.IsString()) type = t->value.GetString();
        auto d = p.value.FindMember("description");
        if (d != p.value.MemberEnd() && d->value.IsString()) description = lower(d->value.GetString());
      }
      if ((low == "line_count" || low == "linecount") && (type == "integer" || type == "number")) {
        w.line_count_key = key;
        continue;
      }
      if (!type.empty() && type != "string") continue;
      if (w.content_key.empty() && std::find(kContent.begin(), kContent.end(), low) != kContent.end()) {
        w.content_key = key;
        continue;
      }
      int score = is_path_key(key) ? 2 : (contains(low, "path") || contains(low, "file")) ? 1 : 0;
      if (score > path_score) {
        path_score = score;
        w.path_key = key;
        w.wants_absolute = contains(description, "absolute");
      }
    }
    if (w.path_key.empty() || w.content_key.empty()) continue;
    const std::string name = lower(tool.name);
    int score;
    if (std::find(kWriteNames.begin(), kWriteNames.end(), name) != kWriteNames.end()) {
      score = 4;
    } else if (contains(name, "edit") || contains(name, "replace") || contains(name, "patch") ||
               contains(name, "append") || contains(name, "insert")) {
      continue;  // changes a file rather than writing it whole
    } else if (contains(name, "write") || contains(name, "create") || contains(name, "save")) {
      score = 3;
    } else {
      score = 1;
    }
    score = score * 4 + path_score;
    if (score > best_score) {
      best_score = score;
      best = w;
    }
  }
  return best;
}

std::optional<CommandTool> find_command_tool(const std::vector<Tool>& tools) {
  // The type of property `key` in `tool`'s schema ("" when untyped, nullopt when absent).
  auto property_type = [](const rapidjson::Document& doc, const char* key) -> std::optional<std::string> {
    auto props = doc.FindMember("properties");
    if (props == doc.MemberEnd() || !props->value.IsObject()) return std::nullopt;
    auto p = props->value.FindMember(key);
    if (p == props->value.MemberEnd()) return std::nullopt;
    if (!p->value.IsObject()) return std::string();
    auto t = p->value.FindMember("type");
    return t != p->value.MemberEnd() && t->value.IsString() ? std::string(t->value.GetString()) : std::string();
  };
  struct Want {
    CommandTool::Kind kind;
    std::string_view name;
    const char* key;
    std::string_view type;
  };
  static constexpr std::array<Want, 4> kWanted = {{
      {CommandTool::Kind::ApplyPatch, "apply_patch", "input", "string"},
      {CommandTool::Kind::ExecCommand, "exec_command", "cmd", "string"},
      {CommandTool::Kind::ShellCommand, "shell_command", "command", "string"},
      {CommandTool::Kind::Shell, "shell", "command", "array"},
  }};
  for (const Want& want : kWanted) {
    for (const Tool& tool : tools) {
      if (tool.name != want.name) continue;
      rapidjson::Document doc;
      doc.Parse(tool.parameters_json.c_str());
      if (doc.HasParseError() || !doc.IsObject()) continue;
      auto type = property_type(doc, want.key);
      if (!tool.freeform && (!type || (!type->empty() && *type != want.type))) continue;
      CommandTool found;
      found.tool = &tool;
      found.kind = want.kind;
      found.has_workdir = property_type(doc, "workdir").has_value();
      return found;
    }
  }
  return std::nullopt;
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += "'\\''";
    else out.push_back(ch);
  }
  out.push_back('\'');
  return out;
}

namespace {
// A path as a shell word: quoted, except a leading "~/" (so the shell expands it).
std::string shell_path(std::string_view path) {
  if (path.substr(0, 2) == "~/") return "~/" + shell_quote(path.substr(2));
  return shell_quote(path);
}
}  // namespace

std::string write_command(const std::string& path, const std::string& content) {
  std::string cmd;
  std::size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0 && path.substr(0, slash) != "~") {
    cmd = "mkdir -p " + shell_path(path.substr(0, slash)) + " && ";
  }
  cmd += "printf '%s' " + shell_quote(content) + " > " + shell_path(path);
  return cmd;
}

std::string add_file_patch(const std::string& path, const std::string& content) {
  std::string patch = "*** Begin Patch\n*** Add File: " + path + "\n";
  std::string_view rest = content;
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);  // every added line ends with one
  while (true) {
    std::size_t eol = rest.find('\n');
    patch += '+';
    patch.append(rest.substr(0, eol));
    patch += '\n';
    if (eol == std::string_view::npos) break;
    rest.remove_prefix(eol + 1);
  }
  patch += "*** End Patch\n";
  return patch;
}

std::string command_arguments(const CommandTool& tool, const Conversation& conversation, const std::string& path,
                              const std::string& content) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto string = [&](std::string_view v) { w.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); };
  w.StartObject();
  if (tool.kind == CommandTool::Kind::ApplyPatch) {
    w.Key("input");
    string(add_file_patch(path, content));
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }
  const std::string cmd = write_command(path, content);
  switch (tool.kind) {
    case CommandTool::Kind::ExecCommand:
      w.Key("cmd");
      string(cmd);
      break;
    case CommandTool::Kind::ShellCommand:
      w.Key("command");
      string(cmd);
      break;
    default:
      w.Key("command");
      w.StartArray();
      string("bash");
      string("-lc");
      string(cmd);
      w.EndArray();
      break;
  }
  if (tool.has_workdir && !conversation.working_directory.empty()) {
    w.Key("workdir");
    string(conversation.working_directory);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::optional<PlannedToolCall> file_write_call(const std::vector<Tool>& tools, const Conversation& conversation,
                                               const std::string& path, const std::string& content) {
  if (auto writer = find_write_tool(tools)) {
    const std::string where = write_path(*writer, conversation, path);
    return PlannedToolCall{{}, writer->tool->name, write_arguments(*writer, where, content)};
  }
  if (auto command = find_command_tool(tools)) {
    return PlannedToolCall{{}, command->tool->name, command_arguments(*command, conversation, path, content)};
  }
  return std::nullopt;
}

bool can_write_files(const std::vector<Tool>& tools) {
  return find_write_tool(tools).has_value() || find_command_tool(tools).has_value();
}

std::string written_path(std::string_view arguments) {
  rapidjson::Document doc;
  doc.Parse(arguments.data(), arguments.size());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  for (const auto& m : doc.GetObject()) {
    if (m.value.IsString() && is_path_key(std::string_view(m.name.GetString(), m.name.GetStringLength()))) {
      return std::string(m.value.GetString(), m.value.GetStringLength());
    }
  }
  auto text = [&](const char* key) -> std::string_view {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd()) return {};
    const rapidjson::Value* v = &it->value;
    if (v->IsArray() && !v->Empty()) v = &(*v)[v->Size() - 1];  // ["bash", "-lc", "..."]
    return v->IsString() ? std::string_view(v->GetString(), v->GetStringLength()) : std::string_view();
  };
  if (std::string path = patched_path(text("input")); !path.empty()) return path;
  for (const char* key : {"cmd", "command"}) {
    if (std::string path = redirect_target(text(key)); !path.empty()) return path;
  }
  return {};
}

std::int64_t line_count(std::string_view content) {
  if (content.empty()) return 0;
  std::int64_t n = std::count(content.begin(), content.end(), '\n');
  if (content.back() != '\n') ++n;
  return n;
}

std::string write_arguments(const WriteTool& tool, const std::string& path, const std::string& content) {
  rapidjson::Document generated;
  std::string base = arguments_for_schema(tool.tool->parameters_json);
  generated.Parse(base.c_str());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key(tool.path_key.c_str(), static_cast<rapidjson::SizeType>(tool.path_key.size()));
  w.String(path.c_str(), static_cast<rapidjson::SizeType>(path.size()));
  w.Key(tool.content_key.c_str(), static_cast<rapidjson::SizeType>(tool.content_key.size()));
  w.String(content.c_str(), static_cast<rapidjson::SizeType>(content.size()));
  if (!tool.line_count_key.empty()) {
    w.Key(tool.line_count_key.c_str(), static_cast<rapidjson::SizeType>(tool.line_count_key.size()));
    w.Int64(line_count(content));
  }
  if (generated.IsObject()) {
    for (const auto& m : generated.GetObject()) {
      std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (key == tool.path_key || key == tool.content_key || key == tool.line_count_key) continue;
      m.name.Accept(w);
      m.value.Accept(w);
    }
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::vector<std::string> xml_tools_described(std::string_view system) {
  std::vector<std::string> out;
  for (std::string_view tag : kXmlTools) {
    if (contains(system, open_tag(tag))) out.emplace_back(tag);
  }
  return out;
}

std::string tool_call_id(const ChatRequest& request, const Conversation& conversation, std::string_view name,
                         int index) {
  std::string salt(1, '\0');
  salt += std::to_string(conversation.turn) + ":" + std::to_string(index);
  return "call_mock_" + util::hex64(util::fnv1a(name, util::fnv1a(salt, util::fnv1a(request.last_user_text()))));
}

std::optional<Answer> agent_answer(const ChatRequest& request, const Conversation& conversation,
                                   const AgentSettings& settings) {
  if (!request.tools.empty()) return native_answer(request, conversation, settings);
  return xml_answer(conversation);
}

}  // namespace llmux::mock
