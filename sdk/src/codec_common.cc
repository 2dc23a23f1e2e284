// Helpers shared by the OpenAI and Anthropic codecs (see codec_common.h).
#include "codec_common.h"

#include <charconv>
#include <cmath>

namespace llmux::codec {

const char* type_name(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "a boolean";
    case rapidjson::kObjectType: return "an object";
    case rapidjson::kArrayType: return "an array";
    case rapidjson::kStringType: return "a string";
    case rapidjson::kNumberType: return "a number";
  }
  return "a value";
}

// ---------------------------------------------------------------- parsing

namespace {

bool depth_ok(const Value& v, int depth) {
  if (depth > kMaxDepth) return false;
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      if (!depth_ok(m.value, depth + 1)) return false;
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (!depth_ok(e, depth + 1)) return false;
    }
  }
  return true;
}

}  // namespace

bool parse_json(std::string_view text, rapidjson::Document& doc, std::string& what, bool validate_utf8) {
  if (validate_utf8) {
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  } else {
    doc.Parse<rapidjson::kParseDefaultFlags | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  }
  if (doc.HasParseError()) {
    const json::TextPosition pos = json::position_of(text, doc.GetErrorOffset());
    what = "at line ";
    what += std::to_string(pos.line);
    what += ", column ";
    what += std::to_string(pos.column);
    what += ": ";
    what += rapidjson::GetParseError_En(doc.GetParseError());
    return false;
  }
  if (!depth_ok(doc, 0)) {
    what = "nesting deeper than ";
    what += std::to_string(kMaxDepth);
    what += " levels";
    return false;
  }
  return true;
}

std::optional<Error> parse_request_body(std::string_view body, rapidjson::Document& doc) {
  std::string what;
  if (!parse_json(body, doc, what, true)) return Error::invalid_request("Invalid JSON in request body " + what);
  if (!doc.IsObject()) {
    std::string message = "Invalid request body: expected a JSON object, got ";
    message += type_name(doc);
    message += '.';
    return Error::invalid_request(std::move(message));
  }
  return std::nullopt;
}

std::optional<Error> parse_upstream_object(std::string_view text, rapidjson::Document& doc,
                                           std::string_view object_name, bool in_stream) {
  std::string what;
  if (!parse_json(text, doc, what)) {
    return Error::upstream(502, (in_stream ? "upstream sent invalid JSON in stream: " : "upstream sent invalid JSON ") +
                                    what);
  }
  if (!doc.IsObject()) {
    std::string message = "upstream sent an invalid ";
    message += object_name;
    message += ": not an object";
    return Error::upstream(502, std::move(message));
  }
  return std::nullopt;
}

const Value* find(const Value& object, std::string_view name) {
  const auto it = object.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

const Value* find_set(const Value& object, std::string_view name) {
  const Value* v = find(object, name);
  return v == nullptr || v->IsNull() ? nullptr : v;
}

const Value* find_object(const Value& object, std::string_view name) {
  const Value* v = find(object, name);
  return v != nullptr && v->IsObject() ? v : nullptr;
}

std::int64_t lenient_int(const Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsNumber()) {
    const double d = v.GetDouble();
    if (std::isfinite(d) && std::fabs(d) < 9.2e18) return static_cast<std::int64_t>(d);
  }
  return 0;
}

std::optional<std::int64_t> int_member(const Value& object, std::string_view name) {
  const Value* v = find_set(object, name);
  if (v == nullptr || !v->IsNumber()) return std::nullopt;
  return lenient_int(*v);
}

std::string string_member(const Value& object, std::string_view name) {
  const Value* v = find_set(object, name);
  return v != nullptr && v->IsString() ? string_of(*v) : std::string();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// ---------------------------------------------------------------- writing

void append_int(std::string& out, std::int64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out.append("null");
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

void append_key(std::string& out, std::string_view name) {
  out.push_back('"');
  out.append(name);
  out.append("\":");
}

void append_text_block(std::string& out, std::string_view text) {
  out.append("{\"type\":\"text\",\"text\":");
  json::append_quoted(out, text);
  out.push_back('}');
}

void append_tool_name(std::string& out, const Tool& tool) {
  out.append("\"name\":");
  json::append_quoted(out, tool.name);
  if (!tool.description.empty()) {
    out.append(",\"description\":");
    json::append_quoted(out, tool.description);
  }
}

std::string open_request_body(const ChatRequest& request) {
  std::size_t estimate = 256;
  for (const Message& m : request.messages) {
    for (const ContentPart& p : m.content) estimate += p.text.size() + p.image_url.size() + 48;
    for (const ToolCall& c : m.tool_calls) estimate += c.arguments.size() + 96;
    for (const ThinkingBlock& t : m.thinking) estimate += t.text.size() + t.signature.size() + t.redacted_data.size() + 64;
    estimate += m.reasoning.size() + 48;
  }
  for (const Tool& t : request.tools) estimate += t.parameters_json.size() + t.description.size() + 96;
  for (const auto& [key, value] : request.extra) estimate += key.size() + value.size() + 4;
  std::string out;
  out.reserve(estimate);
  out.append("{\"model\":");
  json::append_quoted(out, request.model);
  return out;
}

void append_sampling_numbers(std::string& out, const Sampling& s) {
  const auto number = [&](std::string_view key, const std::optional<double>& v) {
    if (!v) return;
    out.push_back(',');
    append_key(out, key);
    append_double(out, *v);
  };
  number("temperature", s.temperature);
  number("top_p", s.top_p);
  number("frequency_penalty", s.frequency_penalty);
  number("presence_penalty", s.presence_penalty);
}

void append_seed_and_stop(std::string& out, const Sampling& s) {
  if (s.seed) {
    out.append(",\"seed\":");
    append_int(out, *s.seed);
  }
  if (!s.stop.empty()) {
    out.append(",\"stop\":[");
    for (std::size_t i = 0; i < s.stop.size(); ++i) {
      if (i != 0) out.push_back(',');
      json::append_quoted(out, s.stop[i]);
    }
    out.push_back(']');
  }
}

void append_stream(std::string& out, const ChatRequest& request, bool force_usage) {
  if (!request.stream) return;
  out.append(",\"stream\":true");
  if (request.include_usage || force_usage) out.append(",\"stream_options\":{\"include_usage\":true}");
}

void keep_extra(std::vector<std::pair<std::string, std::string>>& extra, std::string_view name, const Value& v) {
  std::string text = json::to_string(v);
  for (auto& [key, value] : extra) {
    if (key == name) {
      value = std::move(text);
      return;
    }
  }
  extra.emplace_back(std::string(name), std::move(text));
}

void append_extra(std::string& out, const std::vector<std::pair<std::string, std::string>>& extra,
                  std::span<const std::string_view> modeled) {
  for (const auto& [key, value] : extra) {
    bool written = false;
    for (const std::string_view known : modeled) written = written || key == known;
    if (written) continue;
    out.push_back(',');
    json::append_quoted(out, key);
    out.push_back(':');
    out.append(value);
  }
}

// ---------------------------------------------------------------- OpenAI streams

void append_openai_usage(std::string& out, const Usage& u, bool details) {
  out.append("{\"prompt_tokens\":");
  append_int(out, u.input_tokens);
  out.append(",\"completion_tokens\":");
  append_int(out, u.output_tokens);
  out.append(",\"total_tokens\":");
  append_int(out, u.input_tokens + u.output_tokens);
  if (details && u.cache_read_tokens) {
    out.append(",\"prompt_tokens_details\":{\"cached_tokens\":");
    append_int(out, *u.cache_read_tokens);
    out.push_back('}');
  }
  if (details && u.reasoning_tokens) {
    out.append(",\"completion_tokens_details\":{\"reasoning_tokens\":");
    append_int(out, *u.reasoning_tokens);
    out.push_back('}');
  }
  out.push_back('}');
}

Usage openai_usage_of(const Value& usage, bool reasoning) {
  Usage u;
  u.input_tokens = int_member(usage, "prompt_tokens").value_or(0);
  u.output_tokens = int_member(usage, "completion_tokens").value_or(0);
  if (const Value* d = find_object(usage, "prompt_tokens_details")) {
    u.cache_read_tokens = int_member(*d, "cached_tokens");
  }
  if (const Value* d = find_object(usage, "completion_tokens_details"); reasoning && d != nullptr) {
    u.reasoning_tokens = int_member(*d, "reasoning_tokens");
  }
  return u;
}

std::string openai_chunk_prefix(std::string_view id, std::string_view object, std::int64_t created,
                                std::string_view model) {
  std::string out = "data: {\"id\":";
  json::append_quoted(out, id);
  out.append(",\"object\":\"").append(object).append("\",\"created\":");
  append_int(out, created);
  out.append(",\"model\":");
  json::append_quoted(out, model);
  return out;
}

void append_openai_stream_end(std::string& out, std::string_view chunk_prefix, bool include_usage,
                              const std::optional<Usage>& usage, bool details) {
  if (include_usage) {
    out.append(chunk_prefix);
    out.append(",\"choices\":[],\"usage\":");
    append_openai_usage(out, usage.value_or(Usage{}), details);
    out.append("}\n\n");
  }
  out.append("data: [DONE]\n\n");
}

bool openai_stream_control(std::string_view& data, bool& saw_done, bool& finish_emitted,
                           const std::optional<FinishReason>& finish, const EmitEvent& emit) {
  if (saw_done || finish_emitted) return true;
  data = trim(data);
  if (data.empty()) return true;  // keep-alive
  if (data != "[DONE]") return false;
  saw_done = true;
  if (finish) {
    finish_emitted = true;
    emit(Event::finished(*finish));
  }
  return true;
}

std::optional<Error> openai_stream_finish(bool& finish_emitted, const std::optional<FinishReason>& finish,
                                          const EmitEvent& emit) {
  if (finish_emitted) return std::nullopt;
  if (!finish) return Error::upstream(502, "upstream stream ended before finish_reason");
  finish_emitted = true;
  emit(Event::finished(*finish));
  return std::nullopt;
}

// ---------------------------------------------------------------- base64

namespace {
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto n = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                   static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest != 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return false;
  out.clear();
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    const int v = base64_value(c);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    if (++count == 4) {
      out.push_back(static_cast<char>((bits >> 16) & 0xFF));
      out.push_back(static_cast<char>((bits >> 8) & 0xFF));
      out.push_back(static_cast<char>(bits & 0xFF));
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) {
    out.push_back(static_cast<char>((bits >> 4) & 0xFF));
  } else if (count == 3) {
    out.push_back(static_cast<char>((bits >> 10) & 0xFF));
    out.push_back(static_cast<char>((bits >> 2) & 0xFF));
  }
  return true;
}

// ---------------------------------------------------------------- upstream errors

const Value* error_member(std::string_view body, rapidjson::Document& doc) {
  std::string what;
  if (!parse_json(body, doc, what) || !doc.IsObject()) return nullptr;
  const Value* err = find_set(doc, "error");
  if (err != nullptr && (err->IsString() || (err->IsObject() && find_set(*err, "message") != nullptr))) return err;
  return nullptr;
}

std::string http_error_message(int status, std::string_view body) {
  std::string message = "upstream returned HTTP " + std::to_string(status);
  std::string_view excerpt = trim(body);
  if (!excerpt.empty()) {
    constexpr std::size_t kMaxExcerpt = 200;
    bool cut = false;
    if (excerpt.size() > kMaxExcerpt) {
      std::size_t n = kMaxExcerpt;
      while (n > 0 && (static_cast<unsigned char>(excerpt[n]) & 0xC0) == 0x80) --n;  // keep UTF-8 whole
      excerpt = excerpt.substr(0, n);
      cut = true;
    }
    message += ": ";
    message += excerpt;
    if (cut) message += "...";
  }
  return message;
}

// ---------------------------------------------------------------- request checks

bool FieldChecker::fail(Error e) {
  error = std::move(e);
  return false;
}

bool FieldChecker::type_error(const std::string& path, const char* expected, const Value& got) {
  std::string message = "Invalid type for '";
  message += path;
  message += "': expected ";
  message += expected;
  message += ", got ";
  message += type_name(got);
  message += '.';
  return fail(Error::invalid_request(std::move(message), path, "invalid_type"));
}

bool FieldChecker::value_error(const std::string& path, std::string message) {
  return fail(Error::invalid_request(std::move(message), path, "invalid_value"));
}

bool FieldChecker::missing(const std::string& path) {
  return fail(
      Error::invalid_request("Missing required parameter: '" + path + "'.", path, "missing_required_parameter"));
}

bool FieldChecker::unsupported(const std::string& path, std::string_view value, std::string_view what) {
  std::string message = "Invalid value for '";
  message += path;
  message += "': ";
  json::append_quoted(message, value);
  message += ' ';
  message += what;
  return value_error(path, std::move(message));
}

bool FieldChecker::optional_bool(const Value& v, std::string_view path, std::optional<bool>& out) {
  if (v.IsNull()) return true;
  if (!v.IsBool()) return type_error(std::string(path), "a boolean", v);
  out = v.GetBool();
  return true;
}

bool FieldChecker::optional_number(const Value& v, std::string_view path, std::optional<double>& out) {
  if (v.IsNull()) return true;
  if (!v.IsNumber()) return type_error(std::string(path), "a number", v);
  out = v.GetDouble();
  return true;
}

bool FieldChecker::optional_int(const Value& v, std::string_view path, std::optional<std::int64_t>& out) {
  if (v.IsNull()) return true;
  if (v.IsInt64()) {
    out = v.GetInt64();
    return true;
  }
  if (v.IsNumber()) {
    const double d = v.GetDouble();
    if (d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) {
      out = static_cast<std::int64_t>(d);
      return true;
    }
  }
  return type_error(std::string(path), "an integer", v);
}

bool FieldChecker::required_string(const Value& object, const std::string& path, const char* name,
                                   std::string& out) {
  const Value* v = find(object, name);
  if (v == nullptr) return missing(path + "." + name);
  if (!v->IsString()) return type_error(path + "." + name, "a string", *v);
  out = string_of(*v);
  return true;
}

bool FieldChecker::optional_string(const Value& object, const std::string& path, const char* name,
                                   std::string& out) {
  const Value* v = find_set(object, name);
  if (v == nullptr) return true;
  if (!v->IsString()) return type_error(path + "." + name, "a string", *v);
  out = string_of(*v);
  return true;
}

bool FieldChecker::typed_object(const Value& v, const std::string& path, std::string& type) {
  if (!v.IsObject()) return type_error(path, "an object", v);
  return required_string(v, path, "type", type);
}

bool FieldChecker::parse_model(const Value& v, std::string& model) {
  if (!v.IsString()) return type_error("model", "a string", v);
  if (v.GetStringLength() == 0) return value_error("model", "Invalid 'model': must not be empty.");
  model = string_of(v);
  return true;
}

bool FieldChecker::parse_stream(const Value& v, bool& stream) {
  std::optional<bool> b;
  const bool ok = optional_bool(v, "stream", b);
  stream = b.value_or(false);
  return ok;
}

bool FieldChecker::messages_array(const Value& v, std::vector<Message>& out) {
  if (!v.IsArray()) return type_error("messages", "an array", v);
  out.clear();
  if (v.Empty()) {
    return fail(Error::invalid_request("Invalid 'messages': empty array. Expected an array with minimum length 1.",
                                       "messages", "empty_array"));
  }
  out.reserve(v.Size());
  return true;
}

bool FieldChecker::string_elements(const Value& v, const std::string& path, std::vector<std::string>& out) {
  for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
    if (!v[k].IsString()) return type_error(path + "[" + std::to_string(k) + "]", "a string", v[k]);
    out.push_back(string_of(v[k]));
  }
  return true;
}

bool FieldChecker::parse_stop(const Value& v, std::vector<std::string>& out) {
  out.clear();
  if (v.IsNull()) return true;
  if (v.IsString()) {
    out.push_back(string_of(v));
    return true;
  }
  if (!v.IsArray()) return type_error("stop", "a string or an array of strings", v);
  return string_elements(v, "stop", out);
}

bool FieldChecker::parse_stream_options(const Value& v, bool& include_usage) {
  if (v.IsNull()) return true;
  if (!v.IsObject()) return type_error("stream_options", "an object", v);
  if (const Value* iu = find(v, "include_usage")) {
    std::optional<bool> b;
    if (!optional_bool(*iu, "stream_options.include_usage", b)) return false;
    include_usage = b.value_or(false);
  }
  return true;
}

bool FieldChecker::tool_choice_string(const Value& v, ToolChoice& out) {
  const std::string_view s = view_of(v);
  if (s == "auto") {
    out.mode = ToolChoice::Mode::Auto;
  } else if (s == "none") {
    out.mode = ToolChoice::Mode::None;
  } else if (s == "required") {
    out.mode = ToolChoice::Mode::Required;
  } else {
    return unsupported("tool_choice", s, "is not one of 'auto', 'none', 'required'.");
  }
  return true;
}

}  // namespace llmux::codec
