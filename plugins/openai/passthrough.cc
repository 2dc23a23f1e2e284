#include "passthrough.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>

#include "llmux/json.h"

namespace llmux::openai_compat::passthrough {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// The members render_chat_request writes itself (the rest arrive in `extra`).
constexpr std::array<std::string_view, 17> kModeled = {
    "model",       "messages",          "tools",            "tool_choice", "parallel_tool_calls",
    "temperature", "top_p",             "frequency_penalty", "presence_penalty", "max_tokens",
    "max_completion_tokens", "seed",    "stop",             "stream",      "stream_options",
    "reasoning_effort", "response_format"};

// The same for a legacy completion (completions::render_request).
constexpr std::array<std::string_view, 12> kModeledCompletion = {
    "model",       "prompt", "suffix",           "max_tokens",       "temperature", "top_p",
    "frequency_penalty", "presence_penalty", "seed", "stop", "stream", "stream_options"};

int modeled_index(std::span<const std::string_view> modeled, std::string_view name) {
  for (std::size_t i = 0; i < modeled.size(); ++i) {
    if (modeled[i] == name) return static_cast<int>(i);
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

// The first character inside the array text `value`; '\0' when it is not an array.
char first_in_array(std::string_view value) {
  value = trim(value);
  if (value.empty() || value.front() != '[') return '\0';
  value = trim(value.substr(1));
  return value.empty() ? '\0' : value.front();
}

// A replacement in the client's body: `length` bytes at `at` become `text`.
struct Edit {
  std::size_t at = 0;
  std::size_t length = 0;
  std::string text;
};

// The edit that renames the model: `model` (a member of `body`) gets `name`.
Edit model_edit(std::string_view body, const json::Member& model, std::string_view name) {
  Edit renamed{static_cast<std::size_t>(model.value.data() - body.data()), model.value.size(), {}};
  json::append_quoted(renamed.text, name);
  return renamed;
}

// `body` with `edits` (at distinct places, or inserts at one place in the
// order given) applied in one pass.
std::string edited(std::string_view body, std::vector<Edit> edits) {
  std::stable_sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.at < b.at; });
  std::size_t grows = 0;
  for (const Edit& edit : edits) grows += edit.text.size();
  std::string out;
  out.reserve(body.size() + grows);
  std::size_t from = 0;
  for (const Edit& edit : edits) {
    out.append(body.substr(from, edit.at - from));
    out.append(edit.text);
    from = edit.at + edit.length;
  }
  out.append(body.substr(from));
  return out;
}

constexpr std::string_view kUsageOn = "\"include_usage\":true";

// Adds the edits that make the client's stream_options value (`value`, at
// `at` in the body) ask for usage, keeping its other members. False when the
// value cannot be read.
bool ask_for_usage(std::string_view value, std::size_t at, std::vector<Edit>& edits) {
  if (value.empty() || value.front() != '{') {
    edits.push_back({at, value.size(), "{" + std::string(kUsageOn) + "}"});  // null: replaced
    return true;
  }
  std::vector<json::Member> options;
  if (!json::top_level_members(value, options)) return false;
  bool present = false;
  for (const json::Member& option : options) {
    if (!option.is("include_usage")) continue;
    present = true;
    if (option.value == "true") continue;
    edits.push_back({at + static_cast<std::size_t>(option.value.data() - value.data()), option.value.size(), "true"});
  }
  if (!present) edits.push_back({at + 1, 0, std::string(kUsageOn) + (options.empty() ? "" : ",")});
  return true;
}

// `,"provider":<provider_member>`: the member a route adds to the client's body.
std::string provider_text(std::string_view provider_member) {
  std::string added = ",\"provider\":";
  json::append_quoted(added, provider_member);
  return added;
}

// Among an answer's or a stream frame's top-level `members`: the "error"
// that is not null and the "usage" object; `other` sees every other member.
template <class Other>
void read_members(const std::vector<json::Member>& members, std::string_view& error, std::string_view& usage,
                  Other&& other) {
  for (const json::Member& member : members) {
    if (member.is("error")) {
      if (member.value != "null") error = member.value;
    } else if (member.is("usage")) {
      if (member.value.front() == '{') usage = member.value;
    } else {
      other(member);
    }
  }
}

// Reads a whole upstream answer (syntax, then its top level), as every
// check_* does: `problem` when it is no JSON object; else its members
// (read_members). The caller says what else the answer must have.
template <class Other>
CheckedCompletion check_answer(std::string_view body, Other&& other) {
  CheckedCompletion checked;
  std::string why;
  if (!json::well_formed(body, &why)) {
    checked.problem = "not valid JSON (" + why + ")";
    return checked;
  }
  std::vector<json::Member> members;
  if (!json::top_level_members(body, members)) {
    checked.problem = "not a JSON object";
    return checked;
  }
  read_members(members, checked.error, checked.usage, other);
  return checked;
}

}  // namespace

std::optional<std::string> upstream_body(const ChatRequest& request, std::string_view provider_member) {
  if (!request.original_body) return std::nullopt;
  std::span<const std::string_view> modeled;
  if (request.source_api == Api::OpenAIChat && !request.completion) {
    modeled = kModeled;
  } else if (request.source_api == Api::OpenAICompletions && request.completion) {
    modeled = kModeledCompletion;
  } else {
    return std::nullopt;
  }
  const std::string& body = *request.original_body;
  thread_local std::vector<json::Member> members;
  members.clear();
  if (!json::top_level_members(body, members)) return std::nullopt;
  const json::Member* model = nullptr;
  const json::Member* stream_options = nullptr;
  std::size_t unmodeled = 0;
  bool has_provider = false;
  unsigned seen = 0;  // modeled members, by bit: a duplicate one goes the slow way
  // A routing-only request (ChatRequest::parsed false) was never parsed: its
  // body is the client's word alone, repeated members included (only a second
  // model or stream_options matters here, and the host refused those).
  const bool routing_only = !request.parsed;
  for (const json::Member& member : members) {
    if (member.name_escaped) return std::nullopt;
    int index = modeled_index(modeled, member.name);
    if (index >= 0) {
      const bool rewritten = member.name == "model" || member.name == "stream_options";
      if ((seen & (1u << index)) && (rewritten || !routing_only)) return std::nullopt;
      seen |= 1u << index;
      if (member.name == "model") model = &member;
      if (member.name == "stream_options") stream_options = &member;
      continue;
    }
    ++unmodeled;
    has_provider = has_provider || member.name == "provider";
  }
  if (model == nullptr || model->value.empty() || model->value.front() != '"') return std::nullopt;
  // Every member the codec kept in `extra` must still be the client's: a
  // route step's parameters (added or replaced after parsing) need rendering.
  if (!routing_only && unmodeled != request.extra.size()) return std::nullopt;
  for (const auto& [name, value] : request.extra) {
    const json::Member* found = nullptr;
    for (const json::Member& member : members) {
      if (member.name == name) {
        found = &member;
        break;
      }
    }
    if (found == nullptr || !same_value(found->value, value)) return std::nullopt;
  }

  auto offset = [&](std::string_view part) { return static_cast<std::size_t>(part.data() - body.data()); };
  std::vector<Edit> edits;
  edits.push_back(model_edit(body, *model, request.model));
  std::string added;  // members appended before the closing brace
  if (request.stream) {
    // Usage is always asked for: the host needs it even when the client did not ask.
    if (stream_options == nullptr) {
      added.append(",\"stream_options\":{").append(kUsageOn).append("}");
    } else if (!ask_for_usage(stream_options->value, offset(stream_options->value), edits)) {
      return std::nullopt;
    }
  }
  if (!provider_member.empty() && !has_provider) added.append(provider_text(provider_member));
  if (!added.empty()) edits.push_back({body.rfind('}'), 0, std::move(added)});  // the object's own (only blanks follow)
  return edited(body, std::move(edits));
}

std::optional<std::string> responses_body(const ChatRequest& request, std::string_view provider_member) {
  if (request.source_api != Api::OpenAIResponses || !request.original_body) return std::nullopt;
  const std::string& body = *request.original_body;
  thread_local std::vector<json::Member> members;
  members.clear();
  if (!json::top_level_members(body, members)) return std::nullopt;
  const json::Member* model = nullptr;
  bool has_provider = false;
  for (const json::Member& member : members) {
    if (member.name_escaped) return std::nullopt;  // could be a second "model" in disguise
    if (member.name == "model") {
      if (model != nullptr) return std::nullopt;
      model = &member;
    }
    has_provider = has_provider || member.name == "provider";
  }
  if (model == nullptr || model->value.empty() || model->value.front() != '"') return std::nullopt;
  std::vector<Edit> edits;
  edits.push_back(model_edit(body, *model, request.model));
  if (!provider_member.empty() && !has_provider) edits.push_back({body.rfind('}'), 0, provider_text(provider_member)});
  return edited(body, std::move(edits));
}

CheckedCompletion check_completion(std::string_view body) {
  bool has_choice = false;
  CheckedCompletion checked = check_answer(body, [&](const json::Member& member) {
    if (member.is("choices")) has_choice = first_in_array(member.value) == '{';
  });
  if (checked.problem.empty() && checked.error.empty() && !has_choice) {
    checked.problem = "not a chat.completion or text_completion (no choice in \"choices\")";
  }
  return checked;
}

std::optional<std::string> embeddings_upstream_body(const ChatRequest& request, std::string_view provider_member) {
  if (request.source_api != Api::OpenAIEmbeddings || !request.original_body) return std::nullopt;
  const std::string& body = *request.original_body;
  std::string model;
  json::append_quoted(model, request.model);
  std::string out;
  out.reserve(body.size() + model.size() + provider_member.size() + 16);
  if (!json::append_with_member(out, body, "model", model)) return std::nullopt;
  if (!provider_member.empty() && !json::find_member(body, "provider")) {
    out.insert(out.rfind('}'), provider_text(provider_member));  // the object's own (only blanks follow)
  }
  return out;
}

CheckedCompletion check_embeddings(std::string_view body) {
  bool has_data = false;
  CheckedCompletion checked = check_answer(body, [&](const json::Member& member) {
    if (!member.is("data")) return;
    const char first = first_in_array(member.value);
    has_data = first == '{' || first == ']';
  });
  if (checked.problem.empty() && checked.error.empty() && !has_data) checked.problem = "not an embeddings list (no \"data\" array of objects)";
  return checked;
}

bool FrameReader::feed(std::string_view bytes, const OnFrame& on_frame) {
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
      bool go_on = event(data.substr(start, line - start), on_frame);
      start = line;
      if (!go_on) {
        tail_.clear();
        scan_from_ = 0;
        return false;
      }
    }
  }
  if (from_tail) {
    tail_.erase(0, start);
  } else if (start < data.size()) {
    tail_.assign(data.substr(start));
  }
  scan_from_ = line - start;
  return true;
}

bool FrameReader::finish(const OnFrame& on_frame) {
  if (tail_.empty()) return true;
  std::string last = std::move(tail_);
  tail_.clear();
  scan_from_ = 0;
  if (last.back() != '\n') last.push_back('\n');
  last.push_back('\n');
  return event(last, on_frame);
}

bool FrameReader::event(std::string_view text, const OnFrame& on_frame) {
  Frame frame;
  frame.text = text;
  bool has_data = false;
  bool joined = false;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == ':') continue;  // the blank end, or a comment
    std::size_t colon = line.find(':');
    if (line.substr(0, colon) != "data") continue;
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (!has_data) {
      has_data = true;
      frame.data = value;
      continue;
    }
    if (!joined) joined_.assign(frame.data);
    joined = true;
    joined_.push_back('\n');
    joined_.append(value);
    frame.data = joined_;
  }
  if (!has_data) return on_frame(frame);

  std::string_view payload = trim(frame.data);
  std::string why;
  if (payload.empty()) {
    frame.kind = Frame::Kind::Empty;
  } else if (payload == "[DONE]") {
    frame.kind = Frame::Kind::Done;
  } else if (!json::well_formed(payload, &why)) {
    frame.kind = Frame::Kind::Invalid;
    frame.problem = "not valid JSON (" + why + ")";
  } else if (payload.front() != '{') {
    frame.kind = Frame::Kind::Invalid;
    frame.problem = "not a JSON object";
  } else {
    frame.kind = Frame::Kind::Object;
    members_.clear();
    json::top_level_members(payload, members_);
    bool no_choices = false;
    read_members(members_, frame.error, frame.usage, [&](const json::Member& member) {
      if (member.is("choices")) {
        no_choices = first_in_array(member.value) == ']';
      } else if (member.is("type")) {
        if (frame.type.empty()) frame.type = member.value;
      }
    });
    frame.usage_only = !frame.usage.empty() && no_choices;
  }
  return on_frame(frame);
}

// ---------------------------------------------------------------------------
// Responses

ResponsesEvent responses_event(std::string_view type) {
  if (type.size() < 2 || type.front() != '"' || type.back() != '"') return ResponsesEvent::Untyped;
  std::string_view name = type.substr(1, type.size() - 2);
  if (name == "response.created" || name == "response.in_progress" || name == "response.queued") {
    return ResponsesEvent::Opening;
  }
  if (name == "response.completed" || name == "response.incomplete") return ResponsesEvent::Completed;
  if (name == "response.failed") return ResponsesEvent::Failed;
  if (name == "error") return ResponsesEvent::Error;
  return ResponsesEvent::Content;
}

CheckedResponse check_response(std::string_view body) {
  bool has_output = false;
  const CheckedCompletion answer = check_answer(body, [&](const json::Member& member) {
    if (member.is("output")) has_output = member.value.front() == '[';
  });
  CheckedResponse checked;
  checked.problem = answer.problem;
  checked.failed = !answer.error.empty();
  checked.usage = answer.usage;
  if (checked.problem.empty() && !checked.failed && !has_output) checked.problem = "not a response object (no \"output\" array)";
  return checked;
}

namespace {

std::string string_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

const rapidjson::Value* object_member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsObject() ? &it->value : nullptr;
}

}  // namespace

Error responses_failure(std::string_view json_text) {
  rapidjson::Document doc;
  doc.Parse(json_text.data(), json_text.size());
  const rapidjson::Value* error = nullptr;
  if (!doc.HasParseError() && doc.IsObject()) {
    if (string_member(doc, "type") == "error") {
      error = &doc;  // an `error` event: code, message and param at its top
    } else if (const rapidjson::Value* response = object_member(doc, "response")) {
      error = object_member(*response, "error");  // response.failed
    } else {
      error = object_member(doc, "error");  // a whole body: a failed response, or the OpenAI error shape
    }
  }
  if (error == nullptr) return Error::upstream(502, "the upstream reported a failure without saying why");
  std::string code;
  int status = 502;
  if (auto it = error->FindMember("code"); it != error->MemberEnd()) {
    if (it->value.IsString()) {
      code.assign(it->value.GetString(), it->value.GetStringLength());
    } else if (it->value.IsInt() && it->value.GetInt() >= 400 && it->value.GetInt() <= 599) {
      status = it->value.GetInt();
    }
  }
  if (code == "rate_limit_exceeded") status = 429;
  if (code == "invalid_prompt" || code == "context_length_exceeded") status = 400;
  std::string message = string_member(*error, "message");
  Error e = Error::upstream(status, message.empty() ? "upstream error" : std::move(message));
  e.code = std::move(code);
  e.param = string_member(*error, "param");
  return e;
}

}  // namespace llmux::openai_compat::passthrough
