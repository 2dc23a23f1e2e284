#include "llmux/json_scan.h"

#include "llmux/json.h"

namespace llmux::json {

namespace {

constexpr std::size_t npos = std::string_view::npos;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view text, std::size_t pos) {
  while (pos < text.size() && is_space(text[pos])) ++pos;
  return pos;
}

// `pos` is at an opening quote: the position after the closing one, or npos.
std::size_t skip_string(std::string_view text, std::size_t pos, bool* escaped = nullptr) {
  for (std::size_t i = pos + 1; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (escaped) *escaped = true;
      ++i;
    } else if (c == '"') {
      return i + 1;
    }
  }
  return npos;
}

// The position after the value that starts at `pos`, or npos.
std::size_t skip_value(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return npos;
  char c = text[pos];
  if (c == '"') return skip_string(text, pos);
  if (c == '{' || c == '[') {
    int depth = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
      char d = text[i];
      if (d == '"') {
        i = skip_string(text, i);
        if (i == npos) return npos;
        --i;
      } else if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return npos;
  }
  std::size_t i = pos;
  while (i < text.size() && !is_space(text[i]) && text[i] != ',' && text[i] != '}' && text[i] != ']') ++i;
  return i == pos ? npos : i;
}

// Calls `visit(member)` for each top-level member in order; `visit` returns
// false to stop there (the text read so far was fine: true).
template <class Visit>
bool scan_members(std::string_view text, Visit&& visit) {
  std::size_t pos = skip_space(text, 0);
  if (pos >= text.size() || text[pos] != '{') return false;
  pos = skip_space(text, pos + 1);
  if (pos < text.size() && text[pos] == '}') return skip_space(text, pos + 1) == text.size();
  for (;;) {
    if (pos >= text.size() || text[pos] != '"') return false;
    Member member;
    std::size_t name_end = skip_string(text, pos, &member.name_escaped);
    if (name_end == npos) return false;
    member.name = text.substr(pos + 1, name_end - pos - 2);
    pos = skip_space(text, name_end);
    if (pos >= text.size() || text[pos] != ':') return false;
    pos = skip_space(text, pos + 1);
    std::size_t value_end = skip_value(text, pos);
    if (value_end == npos) return false;
    member.value = text.substr(pos, value_end - pos);
    if (!visit(member)) return true;
    pos = skip_space(text, value_end);
    if (pos >= text.size()) return false;
    if (text[pos] == '}') return skip_space(text, pos + 1) == text.size();
    if (text[pos] != ',') return false;
    pos = skip_space(text, pos + 1);
  }
}

}  // namespace

bool Member::is(std::string_view plain) const {
  if (!name_escaped) return name == plain;
  std::string quoted;
  quoted.reserve(name.size() + 2);
  quoted.push_back('"');
  quoted.append(name);
  quoted.push_back('"');
  rapidjson::Document doc;
  doc.Parse(quoted.data(), quoted.size());
  return !doc.HasParseError() && doc.IsString() &&
         std::string_view(doc.GetString(), doc.GetStringLength()) == plain;
}

bool top_level_members(std::string_view text, std::vector<Member>& out, std::string_view stop_after) {
  return scan_members(text, [&](const Member& member) {
    out.push_back(member);
    return stop_after.empty() || !member.is(stop_after);
  });
}

std::optional<std::string_view> find_member(std::string_view object, std::string_view name) {
  std::optional<std::string_view> found;
  bool readable = scan_members(object, [&](const Member& member) {
    if (!member.is(name)) return true;
    found = member.value;
    return false;
  });
  return readable ? found : std::nullopt;
}

bool append_with_member(std::string& out, std::string_view object, std::string_view name, std::string_view value) {
  // The spans are gathered first: nothing is appended unless the whole object reads.
  constexpr std::size_t kInline = 4;
  std::string_view spans[kInline];
  std::vector<std::string_view> more;
  std::size_t count = 0;
  bool readable = scan_members(object, [&](const Member& member) {
    if (!member.is(name)) return true;
    if (count < kInline) {
      spans[count] = member.value;
    } else {
      more.push_back(member.value);
    }
    ++count;
    return true;
  });
  if (!readable || count == 0) return false;
  std::size_t from = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::string_view span = i < kInline ? spans[i] : more[i - kInline];
    std::size_t at = static_cast<std::size_t>(span.data() - object.data());
    out.append(object.substr(from, at - from));
    out.append(value);
    from = at + span.size();
  }
  out.append(object.substr(from));
  return true;
}

bool well_formed(std::string_view text, std::string* why, bool validate_utf8) {
  // The reader's stack lives in a kept per-thread buffer: checking a usual
  // stream frame allocates nothing.
  alignas(16) static thread_local char buffer[4096];
  rapidjson::MemoryPoolAllocator<> pool(buffer, sizeof buffer);
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>> reader(&pool, 256);
  rapidjson::MemoryStream bytes(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> input(bytes);
  rapidjson::BaseReaderHandler<> ignore;
  // Iterative: nesting depth costs heap, never the thread's stack.
  if (validate_utf8) {
    reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(input, ignore);
  } else {
    reader.Parse<rapidjson::kParseDefaultFlags | rapidjson::kParseIterativeFlag>(input, ignore);
  }
  if (!reader.HasParseError()) return true;
  if (why != nullptr) {
    TextPosition at = position_of(text, reader.GetErrorOffset());
    *why = "at line " + std::to_string(at.line) + ", column " + std::to_string(at.column) + ": " +
           rapidjson::GetParseError_En(reader.GetParseErrorCode());
  }
  return false;
}

}  // namespace llmux::json
