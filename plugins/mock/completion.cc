#include "completion.h"

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mock_util.h"

namespace llmux::mock {

namespace {

constexpr std::string_view kIndentUnit = "    ";

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

bool digit(char c) { return c >= '0' && c <= '9'; }

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view indent_of(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && (line[n] == ' ' || line[n] == '\t')) ++n;
  return line.substr(0, n);
}

bool blank(std::string_view line) { return util::trim(rtrim(line)).empty(); }

// The lines of `text` (the last one may be empty: the cursor's line).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
}

// The parameter names of a block opener like "def add(a, b=1):",
// "function add(a, b) {", "int add(int a, const int& b) {".
std::vector<std::string> parameters(std::string_view opener) {
  std::vector<std::string> out;
  const std::size_t open = opener.find('(');
  const std::size_t close = opener.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close <= open) return out;
  std::string_view list = opener.substr(open + 1, close - open - 1);
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view param = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    param = param.substr(0, param.find('='));  // a default value
    if (std::size_t colon = param.find(':'); colon != std::string_view::npos) {
      param = param.substr(0, colon);  // a type annotation (Python, TypeScript)
    }
    param = rtrim(util::trim(param));
    std::size_t end = param.size();
    while (end > 0 && !ident_char(param[end - 1])) --end;  // "a[]", "b..."
    std::size_t begin = end;
    while (begin > 0 && ident_char(param[begin - 1])) --begin;  // the last word: "int a" -> "a"
    std::string name(param.substr(begin, end - begin));
    if (name.empty() || digit(name.front()) || name == "self" || name == "this" || name == "void") continue;
    out.push_back(std::move(name));
  }
  return out;
}

// The body statement of a block opened by `opener` (ending in '{' or ':').
std::string body_statement(std::string_view opener) {
  const bool braces = rtrim(opener).back() == '{';
  std::vector<std::string> names = parameters(opener);
  if (names.empty()) return braces ? "return;" : "pass";
  std::string statement = "return ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) statement += " + ";
    statement += names[i];
  }
  if (braces) statement += ';';
  return statement;
}

bool opens_block(std::string_view line) {
  line = rtrim(line);
  return !line.empty() && (line.back() == '{' || line.back() == ':');
}

// Rule 1: an argument before the closing bracket the suffix starts with.
std::optional<std::string> argument(std::string_view line, std::string_view suffix) {
  suffix = util::trim(suffix);
  if (suffix.empty() || (suffix.front() != ')' && suffix.front() != ']')) return std::nullopt;
  std::string_view before = rtrim(line);
  if (before.empty()) return std::nullopt;
  const char last = before.back();
  if (last != '(' && last != '[' && last != ',') return std::nullopt;
  std::string text = last == ',' && line.size() == before.size() ? " " : "";
  // The number after the last integer on the line ("add(1, " -> "2").
  std::size_t end = before.size();
  while (end > 0 && !digit(before[end - 1])) --end;
  if (end > 0) {
    std::size_t begin = end;
    while (begin > 0 && digit(before[begin - 1])) --begin;
    if (end - begin <= 9 && (begin == 0 || !ident_char(before[begin - 1]))) {
      text += std::to_string(std::stoll(std::string(before.substr(begin, end - begin))) + 1);
      return text;
    }
  }
  return text + "value";
}

constexpr std::string_view kSentences[] = {
    "is completed by the llmux mock.",
    "continues here, just as the mock predicted.",
    "ends with a deterministic mock completion.",
    "goes on the same way every time the mock is asked.",
};

}  // namespace

std::string completion_text(const TextCompletion& completion) {
  const std::vector<std::string_view> lines = lines_of(completion.prompt);
  const std::string_view line = lines.back();  // the cursor's line, up to the cursor

  if (auto arg = argument(line, completion.suffix)) return *arg;

  if (opens_block(line)) {
    // Still on the opener's line: a new line, indented one level deeper.
    // Appended piece by piece: GCC 12's -Wrestrict misreads "literal" + string&& at -O3.
    std::string out = "\n";
    out.append(indent_of(line)).append(kIndentUnit).append(body_statement(line));
    return out;
  }
  if (blank(line) && lines.size() > 1) {
    std::size_t i = lines.size() - 1;
    while (i > 0 && blank(lines[i - 1])) --i;
    if (i > 0 && opens_block(lines[i - 1])) {
      std::string_view opener = lines[i - 1];
      // The cursor sits in the body's indent already, or at the line's start.
      std::string indent = line.empty() ? std::string(indent_of(opener)) + std::string(kIndentUnit) : "";
      return indent + body_statement(opener);
    }
  }

  const std::uint64_t h = util::fnv1a(completion.suffix, util::fnv1a(completion.prompt));
  std::string text;
  if (!completion.prompt.empty() && !util::is_space(completion.prompt.back())) text = " ";
  text += kSentences[h % std::size(kSentences)];
  return text;
}

}  // namespace llmux::mock
