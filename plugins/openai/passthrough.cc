#include "passthrough.h"

#include <array>
#include <cstring>

#include "llmux/json.h"

namespace llmux::openai_compat::passthrough {

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

// The members render_chat_request writes itself (the rest arrive in `extra`).
constexpr std::array<std::string_view, 15> kModeled = {
    "model",       "messages",          "tools",            "tool_choice", "parallel_tool_calls",
    "temperature", "top_p",             "frequency_penalty", "presence_penalty", "max_tokens",
    "max_completion_tokens", "seed",    "stop",             "stream",      "stream_options"};

int modeled_index(std::string_view name) {
  for (std::size_t i = 0; i < kModeled.size(); ++i) {
    if (kModeled[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// `raw` (JSON text as the client wrote it) equals `compact` (the same value as
// the codec re-serialized it) once whitespace outside strings is ignored.
bool same_value(std::string_view raw, std::string_view compact) {
  std::size_t j = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (!in_string && is_space(c)) continue;
    if (j >= compact.size() || compact[j] != c) return false;
    ++j;
    if (in_string && c == '\\') {
      if (++i >= raw.size() || j >= compact.size() || compact[j] != raw[i]) return false;
      ++j;
    } else if (c == '"') {
      in_string = !in_string;
    }
  }
  return j == compact.size();
}

}  // namespace

bool top_level_members(std::string_view text, std::vector<Member>& out, std::string_view stop_after) {
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
    out.push_back(member);
    if (!stop_after.empty() && !member.name_escaped && member.name == stop_after) return true;
    pos = skip_space(text, value_end);
    if (pos >= text.size()) return false;
    if (text[pos] == '}') return skip_space(text, pos + 1) == text.size();
    if (text[pos] != ',') return false;
    pos = skip_space(text, pos + 1);
  }
}

std::optional<std::string_view> find_member(std::string_view object, std::string_view name) {
  thread_local std::vector<Member> members;
  members.clear();
  if (!top_level_members(object, members, name) || members.empty()) return std::nullopt;
  const Member& last = members.back();
  if (last.name_escaped || last.name != name) return std::nullopt;
  return last.value;
}

std::optional<UpstreamBody> upstream_body(const ChatRequest& request, std::string_view provider_member) {
  if (request.source_api != Api::OpenAIChat || !request.original_body) return std::nullopt;
  const std::string& body = *request.original_body;
  thread_local std::vector<Member> members;
  members.clear();
  if (!top_level_members(body, members)) return std::nullopt;
  const Member* model = nullptr;
  std::size_t unmodeled = 0;
  bool has_provider = false;
  unsigned seen = 0;  // modeled members, by bit: a duplicate one goes the slow way
  for (const Member& member : members) {
    if (member.name_escaped) return std::nullopt;
    int index = modeled_index(member.name);
    if (index >= 0) {
      if (seen & (1u << index)) return std::nullopt;
      seen |= 1u << index;
      if (index == 0) model = &member;
      continue;
    }
    ++unmodeled;
    has_provider = has_provider || member.name == "provider";
  }
  if (model == nullptr || model->value.empty() || model->value.front() != '"') return std::nullopt;
  // Every member the codec kept in `extra` must still be the client's: a
  // route step's parameters (added or replaced after parsing) need rendering.
  if (unmodeled != request.extra.size()) return std::nullopt;
  for (const auto& [name, value] : request.extra) {
    const Member* found = nullptr;
    for (const Member& member : members) {
      if (member.name == name) {
        found = &member;
        break;
      }
    }
    if (found == nullptr || !same_value(found->value, value)) return std::nullopt;
  }

  UpstreamBody out;
  out.client_model.assign(model->value);
  std::size_t at = static_cast<std::size_t>(model->value.data() - body.data());
  std::size_t after = at + model->value.size();
  out.body.reserve(body.size() + request.model.size() + provider_member.size() + 16);
  out.body.append(body, 0, at);
  json::append_quoted(out.body, request.model);
  if (!provider_member.empty() && !has_provider) {
    std::size_t close = body.rfind('}');
    if (close == std::string::npos || close < after) return std::nullopt;
    out.body.append(body, after, close - after);
    out.body.append(",\"provider\":");
    json::append_quoted(out.body, provider_member);
    out.body.append(body, close, std::string::npos);
  } else {
    out.body.append(body, after, std::string::npos);
  }
  return out;
}

bool append_with_model(std::string& out, std::string_view object, std::string_view model_token) {
  auto value = find_member(object, "model");
  if (!value) return false;
  std::size_t at = static_cast<std::size_t>(value->data() - object.data());
  out.append(object.substr(0, at));
  out.append(model_token);
  out.append(object.substr(at + value->size()));
  return true;
}

void SseRelay::feed(std::string_view bytes, std::string& out) {
  std::string_view data = bytes;
  bool from_tail = !tail_.empty();
  if (from_tail) {
    tail_.append(bytes);
    data = tail_;
  }
  std::size_t start = 0;                       // where the current event begins
  std::size_t line = from_tail ? scan_from_ : 0;  // where the current line begins (earlier ones were read)
  while (line < data.size()) {
    const void* nl = std::memchr(data.data() + line, '\n', data.size() - line);
    if (nl == nullptr) break;
    std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
    bool blank = end == line || (end == line + 1 && data[line] == '\r');
    line = end + 1;
    if (blank) {
      event(data.substr(start, line - start), out);
      start = line;
    }
  }
  if (from_tail) {
    tail_.erase(0, start);
  } else if (start < data.size()) {
    tail_.assign(data.substr(start));
  }
  scan_from_ = line - start;
}

void SseRelay::finish(std::string& out) {
  if (tail_.empty()) return;
  std::string last = std::move(tail_);
  tail_.clear();
  scan_from_ = 0;
  if (last.back() != '\n') last.push_back('\n');
  last.push_back('\n');
  event(last, out);
}

void SseRelay::event(std::string_view text, std::string& out) {
  // The usual frame is one line, "data: {...}\n\n"; only then is the model
  // looked at. Anything else (comments, event: lines, multi-line data) is
  // forwarded as it is.
  if (text.substr(0, 5) == "data:") {
    std::size_t payload = text[5] == ' ' ? 6 : 5;
    std::size_t eol = text.find('\n', payload);
    std::size_t payload_end = eol;
    if (payload_end > payload && text[payload_end - 1] == '\r') --payload_end;
    std::string_view rest = text.substr(eol + 1);
    bool single = rest == "\n" || rest == "\r\n";
    std::string_view data = text.substr(payload, payload_end - payload);
    if (!seen_data_) {
      seen_data_ = true;
      auto start = data.find_first_not_of(" \t");
      error_first_ = start != std::string_view::npos && data.substr(start, 8) == "{\"error\"";
    }
    if (single && data == "[DONE]") {
      done_ = true;
    } else if (single && !data.empty() && data.front() == '{') {
      auto model = find_member(data, "model");
      if (model && *model != client_model_) {
        out.append(text.substr(0, payload));
        append_with_model(out, data, client_model_);
        out.append(text.substr(payload_end));
        return;
      }
    }
  }
  out.append(text);
}

}  // namespace llmux::openai_compat::passthrough
