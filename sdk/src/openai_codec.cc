// The OpenAI Chat Completions codec (see llmux/codec/openai.h).
//
// Rendering is done by string appends (no DOM): it is on the per-chunk hot
// path. Parsing uses the RapidJSON DOM through llmux/json.h.
#include "llmux/codec/openai.h"

#include <charconv>
#include <cmath>
#include <initializer_list>

#include "llmux/json.h"

namespace llmux::openai {

namespace {

using rapidjson::Value;

// Deeper documents are refused: rendering a value back (json::to_string) recurses.
constexpr int kMaxDepth = 128;

std::string_view view_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }
std::string string_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

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

// Parses `text` into `doc`. On failure returns false with `what` set to
// "at line L, column C: <reason>".
template <unsigned Flags>
bool parse_json(std::string_view text, rapidjson::Document& doc, std::string& what) {
  doc.Parse<Flags | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    const json::TextPosition pos = json::position_of(text, doc.GetErrorOffset());
    what = "at line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column) + ": " +
           rapidjson::GetParseError_En(doc.GetParseError());
    return false;
  }
  if (!depth_ok(doc, 0)) {
    what = "nesting deeper than " + std::to_string(kMaxDepth) + " levels";
    return false;
  }
  return true;
}

// Members: absent and null are the same for optional fields.
const Value* find(const Value& object, std::string_view name) {
  const auto it = object.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
  return it == object.MemberEnd() ? nullptr : &it->value;
}
const Value* find_set(const Value& object, std::string_view name) {
  const Value* v = find(object, name);
  return v == nullptr || v->IsNull() ? nullptr : v;
}

std::int64_t lenient_int(const Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsNumber()) {
    const double d = v.GetDouble();
    if (std::isfinite(d) && std::fabs(d) < 9.2e18) return static_cast<std::int64_t>(d);
  }
  return 0;
}

// Upstream-supplied integer member (token counts, indexes): tolerant of 12.0.
std::optional<std::int64_t> int_member(const Value& object, std::string_view name) {
  const Value* v = find_set(object, name);
  if (v == nullptr || !v->IsNumber()) return std::nullopt;
  return lenient_int(*v);
}

std::string string_member(const Value& object, std::string_view name) {
  const Value* v = find_set(object, name);
  return v != nullptr && v->IsString() ? string_of(*v) : std::string();
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

// `"name":` (name is a trusted literal).
void append_key(std::string& out, std::string_view name) {
  out.push_back('"');
  out.append(name);
  out.append("\":");
}

void append_string_or_null(std::string& out, const std::string& s) {
  if (s.empty()) {
    out.append("null");
  } else {
    json::append_quoted(out, s);
  }
}

void append_usage(std::string& out, const Usage& u) {
  out.append("{\"prompt_tokens\":");
  append_int(out, u.input_tokens);
  out.append(",\"completion_tokens\":");
  append_int(out, u.output_tokens);
  out.append(",\"total_tokens\":");
  append_int(out, u.input_tokens + u.output_tokens);
  if (u.cache_read_tokens) {
    out.append(",\"prompt_tokens_details\":{\"cached_tokens\":");
    append_int(out, *u.cache_read_tokens);
    out.push_back('}');
  }
  if (u.reasoning_tokens) {
    out.append(",\"completion_tokens_details\":{\"reasoning_tokens\":");
    append_int(out, *u.reasoning_tokens);
    out.push_back('}');
  }
  out.push_back('}');
}

// The inner object of an error body: {"message","type","param","code"}.
void append_error_object(std::string& out, const Error& e) {
  out.append("{\"message\":");
  json::append_quoted(out, e.message);
  out.append(",\"type\":");
  json::append_quoted(out, e.type);
  out.append(",\"param\":");
  append_string_or_null(out, e.param);
  out.append(",\"code\":");
  append_string_or_null(out, e.code);
  out.push_back('}');
}

void append_tool_call(std::string& out, const ToolCall& call) {
  out.append("{\"id\":");
  json::append_quoted(out, call.id);
  out.append(",\"type\":\"function\",\"function\":{\"name\":");
  json::append_quoted(out, call.name);
  out.append(",\"arguments\":");
  json::append_quoted(out, call.arguments);
  out.append("}}");
}

void append_tool_calls(std::string& out, const std::vector<ToolCall>& calls) {
  out.push_back('[');
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (i != 0) out.push_back(',');
    append_tool_call(out, calls[i]);
  }
  out.push_back(']');
}

FinishReason finish_reason_of(std::string_view s, bool has_tool_calls) {
  if (s == "length") return FinishReason::Length;
  if (s == "tool_calls" || s == "function_call") return FinishReason::ToolCalls;
  if (s == "content_filter") return FinishReason::ContentFilter;
  if (s == "stop") return FinishReason::Stop;
  // Unknown spellings (some compatible servers invent their own).
  return has_tool_calls ? FinishReason::ToolCalls : FinishReason::Stop;
}

// An upstream `usage` object. prompt_tokens includes cached tokens (OpenAI's
// meaning), so input_tokens does too.
Usage usage_of(const Value& usage) {
  Usage u;
  u.input_tokens = int_member(usage, "prompt_tokens").value_or(0);
  u.output_tokens = int_member(usage, "completion_tokens").value_or(0);
  if (const Value* d = find_set(usage, "prompt_tokens_details"); d != nullptr && d->IsObject()) {
    u.cache_read_tokens = int_member(*d, "cached_tokens");
  }
  if (const Value* d = find_set(usage, "completion_tokens_details"); d != nullptr && d->IsObject()) {
    u.reasoning_tokens = int_member(*d, "reasoning_tokens");
  }
  return u;
}

// The name and arguments of an upstream tool call's `function` member;
// arguments sent as an object (some compatible servers) become JSON text.
void function_of(const Value& call, std::string& name, std::string& arguments) {
  const Value* fn = find_set(call, "function");
  if (fn == nullptr || !fn->IsObject()) return;
  name = string_member(*fn, "name");
  if (const Value* args = find_set(*fn, "arguments")) {
    arguments = args->IsString() ? string_of(*args) : json::to_string(*args);
  }
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// An error object sent by an upstream in a body or a stream: a string, or
// {"message","type","code","param"}. With `status_from_code`, a numeric
// `code` in 400..599 (as some aggregators send mid-stream) is taken as the status.
Error error_from_value(int status, const Value& v, bool status_from_code) {
  if (v.IsString()) return Error::upstream(status, string_of(v));
  if (!v.IsObject()) return Error::upstream(status, "upstream error: " + json::to_string(v));
  const Value* code = find_set(v, "code");
  if (status_from_code && code != nullptr && code->IsInt() && code->GetInt() >= 400 && code->GetInt() <= 599) {
    status = code->GetInt();
    code = nullptr;
  }
  std::string message = string_member(v, "message");
  if (message.empty()) message = "upstream error";
  Error e = Error::upstream(status, std::move(message));
  if (std::string type = string_member(v, "type"); !type.empty()) e.type = std::move(type);
  if (code != nullptr) e.code = code->IsString() ? string_of(*code) : json::to_string(*code);
  e.param = string_member(v, "param");
  return e;
}

// ---------------------------------------------------------------- request parsing

class RequestParser {
 public:
  std::optional<Error> error;

  bool parse(const Value& root, ChatRequest& r) {
    bool have_model = false;
    bool have_messages = false;
    for (const auto& m : root.GetObject()) {
      const std::string_view name = view_of(m.name);
      const Value& v = m.value;
      bool ok = true;
      if (name == "model") {
        if (!v.IsString()) return type_error("model", "a string", v);
        if (v.GetStringLength() == 0) return value_error("model", "Invalid 'model': must not be empty.");
        r.model = string_of(v);
        have_model = true;
      } else if (name == "messages") {
        ok = parse_messages(v, r.messages);
        have_messages = true;
      } else if (name == "tools") {
        ok = parse_tools(v, r.tools);
      } else if (name == "tool_choice") {
        ok = parse_tool_choice(v, r.tool_choice);
      } else if (name == "parallel_tool_calls") {
        ok = optional_bool(v, "parallel_tool_calls", r.parallel_tool_calls);
      } else if (name == "temperature") {
        ok = optional_number(v, "temperature", r.sampling.temperature);
      } else if (name == "top_p") {
        ok = optional_number(v, "top_p", r.sampling.top_p);
      } else if (name == "frequency_penalty") {
        ok = optional_number(v, "frequency_penalty", r.sampling.frequency_penalty);
      } else if (name == "presence_penalty") {
        ok = optional_number(v, "presence_penalty", r.sampling.presence_penalty);
      } else if (name == "max_tokens") {
        // max_completion_tokens (the newer name) wins when both are given.
        std::optional<std::int64_t> n;
        ok = optional_int(v, "max_tokens", n);
        if (n && !seen_max_completion_tokens_) r.sampling.max_tokens = n;
      } else if (name == "max_completion_tokens") {
        std::optional<std::int64_t> n;
        ok = optional_int(v, "max_completion_tokens", n);
        if (n) {
          r.sampling.max_tokens = n;
          seen_max_completion_tokens_ = true;
        }
      } else if (name == "seed") {
        ok = optional_int(v, "seed", r.sampling.seed);
      } else if (name == "stop") {
        ok = parse_stop(v, r.sampling.stop);
      } else if (name == "stream") {
        std::optional<bool> b;
        ok = optional_bool(v, "stream", b);
        r.stream = b.value_or(false);
      } else if (name == "stream_options") {
        ok = parse_stream_options(v, r.include_usage);
      } else {
        std::string text = json::to_string(v);
        bool replaced = false;
        for (auto& [key, value] : r.extra) {
          if (key == name) {
            value = std::move(text);
            replaced = true;
            break;
          }
        }
        if (!replaced) r.extra.emplace_back(std::string(name), std::move(text));
      }
      if (!ok) return false;
    }
    if (!have_model) return missing("model");
    if (!have_messages) return missing("messages");
    return true;
  }

 private:
  bool seen_max_completion_tokens_ = false;

  bool fail(Error e) {
    error = std::move(e);
    return false;
  }
  bool type_error(const std::string& path, const char* expected, const Value& got) {
    return fail(Error::invalid_request("Invalid type for '" + path + "': expected " + expected + ", got " +
                                           type_name(got) + ".",
                                       path, "invalid_type"));
  }
  bool value_error(const std::string& path, std::string message) {
    return fail(Error::invalid_request(std::move(message), path, "invalid_value"));
  }
  bool missing(const std::string& path) {
    return fail(Error::invalid_request("Missing required parameter: '" + path + "'.", path,
                                       "missing_required_parameter"));
  }

  bool optional_bool(const Value& v, const char* path, std::optional<bool>& out) {
    if (v.IsNull()) return true;
    if (!v.IsBool()) return type_error(path, "a boolean", v);
    out = v.GetBool();
    return true;
  }
  bool optional_number(const Value& v, const char* path, std::optional<double>& out) {
    if (v.IsNull()) return true;
    if (!v.IsNumber()) return type_error(path, "a number", v);
    out = v.GetDouble();
    return true;
  }
  bool optional_int(const Value& v, const char* path, std::optional<std::int64_t>& out) {
    if (v.IsNull()) return true;
    if (v.IsInt64()) {
      out = v.GetInt64();
      return true;
    }
    if (v.IsNumber()) {  // 100.0 is an integer too; 1.5 or 1e30 are not
      const double d = v.GetDouble();
      if (d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) {
        out = static_cast<std::int64_t>(d);
        return true;
      }
    }
    return type_error(path, "an integer", v);
  }
  // A required string member of `object` (at `path`).
  bool required_string(const Value& object, const std::string& path, const char* name, std::string& out) {
    const Value* v = find(object, name);
    if (v == nullptr) return missing(path + "." + name);
    if (!v->IsString()) return type_error(path + "." + name, "a string", *v);
    out = string_of(*v);
    return true;
  }
  bool optional_string(const Value& object, const std::string& path, const char* name, std::string& out) {
    const Value* v = find_set(object, name);
    if (v == nullptr) return true;
    if (!v->IsString()) return type_error(path + "." + name, "a string", *v);
    out = string_of(*v);
    return true;
  }

  bool parse_messages(const Value& v, std::vector<Message>& out) {
    if (!v.IsArray()) return type_error("messages", "an array", v);
    out.clear();  // a repeated member replaces the earlier one
    if (v.Empty()) {
      return fail(Error::invalid_request(
          "Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages",
          "empty_array"));
    }
    out.reserve(v.Size());
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (!parse_message(v[i], "messages[" + std::to_string(i) + "]", out.emplace_back())) return false;
    }
    return true;
  }

  bool parse_message(const Value& v, const std::string& path, Message& m) {
    if (!v.IsObject()) return type_error(path, "an object", v);
    const Value* role = find(v, "role");
    if (role == nullptr) return missing(path + ".role");
    if (!role->IsString()) return type_error(path + ".role", "a string", *role);
    const std::string_view r = view_of(*role);
    if (r == "system") {
      m.role = Role::System;
    } else if (r == "developer") {
      m.role = Role::Developer;
    } else if (r == "user") {
      m.role = Role::User;
    } else if (r == "assistant") {
      m.role = Role::Assistant;
    } else if (r == "tool") {
      m.role = Role::Tool;
    } else {
      std::string message = "Invalid value for '" + path + ".role': ";
      json::append_quoted(message, r);
      message += " is not one of 'system', 'developer', 'user', 'assistant', 'tool'.";
      return value_error(path + ".role", std::move(message));
    }

    if (!optional_string(v, path, "name", m.name)) return false;

    if (const Value* calls = find_set(v, "tool_calls")) {
      if (m.role != Role::Assistant) {
        return value_error(path + ".tool_calls",
                           "Invalid parameter '" + path + ".tool_calls': only assistant messages have tool calls.");
      }
      if (!calls->IsArray()) return type_error(path + ".tool_calls", "an array", *calls);
      m.tool_calls.reserve(calls->Size());
      for (rapidjson::SizeType k = 0; k < calls->Size(); ++k) {
        if (!parse_tool_call((*calls)[k], path + ".tool_calls[" + std::to_string(k) + "]",
                             m.tool_calls.emplace_back())) {
          return false;
        }
      }
    }
    if (m.role == Role::Assistant && !optional_string(v, path, "reasoning_content", m.reasoning)) return false;
    if (m.role == Role::Tool && !required_string(v, path, "tool_call_id", m.tool_call_id)) return false;

    const Value* content = find(v, "content");
    const std::string content_path = path + ".content";
    if (content == nullptr || content->IsNull()) {
      if (m.role == Role::Assistant && !m.tool_calls.empty()) {
        m.content_was_string = false;
        m.content_was_null = true;
        return true;
      }
      if (content == nullptr) return missing(content_path);
      return type_error(content_path, "a string or an array of content parts", *content);
    }
    if (content->IsString()) {
      m.content_was_string = true;
      m.content.push_back(ContentPart::make_text(string_of(*content)));
      return true;
    }
    if (!content->IsArray()) return type_error(content_path, "a string or an array of content parts", *content);
    m.content_was_string = false;
    m.content.reserve(content->Size());
    for (rapidjson::SizeType j = 0; j < content->Size(); ++j) {
      if (!parse_part((*content)[j], content_path + "[" + std::to_string(j) + "]", m.content.emplace_back())) {
        return false;
      }
    }
    return true;
  }

  bool parse_part(const Value& v, const std::string& path, ContentPart& part) {
    if (!v.IsObject()) return type_error(path, "an object", v);
    std::string type;
    if (!required_string(v, path, "type", type)) return false;
    if (type == "text") {
      part.kind = ContentPart::Kind::Text;
      return required_string(v, path, "text", part.text);
    }
    if (type == "image_url") {
      part.kind = ContentPart::Kind::Image;
      const Value* image = find(v, "image_url");
      if (image == nullptr) return missing(path + ".image_url");
      if (image->IsString()) {  // a shorthand some clients use
        part.image_url = string_of(*image);
        return true;
      }
      if (!image->IsObject()) return type_error(path + ".image_url", "an object", *image);
      return required_string(*image, path + ".image_url", "url", part.image_url) &&
             optional_string(*image, path + ".image_url", "detail", part.detail);
    }
    std::string message = "Invalid value for '" + path + ".type': ";
    json::append_quoted(message, type);
    message += " is not a supported content part type (supported: 'text', 'image_url').";
    return value_error(path + ".type", std::move(message));
  }

  bool parse_tool_call(const Value& v, const std::string& path, ToolCall& call) {
    if (!v.IsObject()) return type_error(path, "an object", v);
    if (!required_string(v, path, "id", call.id)) return false;
    if (!function_type(v, path)) return false;
    const Value* fn = find(v, "function");
    const std::string fn_path = path + ".function";
    if (fn == nullptr) return missing(fn_path);
    if (!fn->IsObject()) return type_error(fn_path, "an object", *fn);
    if (!required_string(*fn, fn_path, "name", call.name)) return false;
    const Value* args = find(*fn, "arguments");
    if (args == nullptr) return missing(fn_path + ".arguments");
    if (args->IsString()) {
      call.arguments = string_of(*args);
    } else if (args->IsObject()) {  // tolerated: arguments sent as an object
      call.arguments = json::to_string(*args);
    } else {
      return type_error(fn_path + ".arguments", "a string", *args);
    }
    return true;
  }

  // `type`, when given, must be "function".
  bool function_type(const Value& v, const std::string& path) {
    const Value* type = find(v, "type");
    if (type == nullptr) return true;
    if (!type->IsString()) return type_error(path + ".type", "a string", *type);
    if (view_of(*type) != "function") {
      std::string message = "Invalid value for '" + path + ".type': ";
      json::append_quoted(message, view_of(*type));
      message += " is not supported (supported: 'function').";
      return value_error(path + ".type", std::move(message));
    }
    return true;
  }

  bool parse_tools(const Value& v, std::vector<Tool>& out) {
    if (v.IsNull()) return true;
    if (!v.IsArray()) return type_error("tools", "an array", v);
    out.clear();
    out.reserve(v.Size());
    for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
      const std::string path = "tools[" + std::to_string(k) + "]";
      const Value& t = v[k];
      Tool& tool = out.emplace_back();
      if (!t.IsObject()) return type_error(path, "an object", t);
      if (!function_type(t, path)) return false;
      const Value* fn = find(t, "function");
      const std::string fn_path = path + ".function";
      if (fn == nullptr) return missing(fn_path);
      if (!fn->IsObject()) return type_error(fn_path, "an object", *fn);
      if (!required_string(*fn, fn_path, "name", tool.name)) return false;
      if (!optional_string(*fn, fn_path, "description", tool.description)) return false;
      if (const Value* params = find_set(*fn, "parameters")) {
        if (!params->IsObject()) return type_error(fn_path + ".parameters", "an object", *params);
        tool.parameters_json = json::to_string(*params);
      }
      if (const Value* strict = find(*fn, "strict")) {
        if (!optional_bool(*strict, (fn_path + ".strict").c_str(), tool.strict)) return false;
      }
    }
    return true;
  }

  bool parse_tool_choice(const Value& v, ToolChoice& out) {
    if (v.IsNull()) return true;
    if (v.IsString()) {
      const std::string_view s = view_of(v);
      if (s == "auto") {
        out.mode = ToolChoice::Mode::Auto;
      } else if (s == "none") {
        out.mode = ToolChoice::Mode::None;
      } else if (s == "required") {
        out.mode = ToolChoice::Mode::Required;
      } else {
        std::string message = "Invalid value for 'tool_choice': ";
        json::append_quoted(message, s);
        message += " is not one of 'auto', 'none', 'required'.";
        return value_error("tool_choice", std::move(message));
      }
      return true;
    }
    if (!v.IsObject()) return type_error("tool_choice", "a string or an object", v);
    const Value* type = find(v, "type");
    if (type == nullptr) return missing("tool_choice.type");
    if (!function_type(v, "tool_choice")) return false;
    const Value* fn = find(v, "function");
    if (fn == nullptr) return missing("tool_choice.function");
    if (!fn->IsObject()) return type_error("tool_choice.function", "an object", *fn);
    if (!required_string(*fn, "tool_choice.function", "name", out.function_name)) return false;
    out.mode = ToolChoice::Mode::Function;
    return true;
  }

  bool parse_stop(const Value& v, std::vector<std::string>& out) {
    out.clear();
    if (v.IsNull()) return true;
    if (v.IsString()) {
      out.push_back(string_of(v));
      return true;
    }
    if (!v.IsArray()) return type_error("stop", "a string or an array of strings", v);
    for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
      if (!v[k].IsString()) return type_error("stop[" + std::to_string(k) + "]", "a string", v[k]);
      out.push_back(string_of(v[k]));
    }
    return true;
  }

  bool parse_stream_options(const Value& v, bool& include_usage) {
    if (v.IsNull()) return true;
    if (!v.IsObject()) return type_error("stream_options", "an object", v);
    if (const Value* iu = find(v, "include_usage")) {
      std::optional<bool> b;
      if (!optional_bool(*iu, "stream_options.include_usage", b)) return false;
      include_usage = b.value_or(false);
    }
    return true;
  }
};

// The request members render_chat_request writes itself; an `extra` entry
// with one of these names is skipped rather than written twice.
bool is_modeled_member(std::string_view name) {
  for (const char* known : {"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "temperature",
                            "top_p", "frequency_penalty", "presence_penalty", "max_tokens",
                            "max_completion_tokens", "seed", "stop", "stream", "stream_options"}) {
    if (name == known) return true;
  }
  return false;
}

void append_content(std::string& out, const Message& m) {
  const bool empty = m.content.empty();
  if (empty && (m.content_was_null || (m.role == Role::Assistant && !m.tool_calls.empty()))) {
    out.append("null");
    return;
  }
  if (empty) {
    out.append("\"\"");
    return;
  }
  if (m.content_was_string && m.content.size() == 1 && m.content.front().kind == ContentPart::Kind::Text) {
    json::append_quoted(out, m.content.front().text);
    return;
  }
  out.push_back('[');
  bool first = true;
  for (const ContentPart& part : m.content) {
    if (!first) out.push_back(',');
    first = false;
    if (part.kind == ContentPart::Kind::Text) {
      out.append("{\"type\":\"text\",\"text\":");
      json::append_quoted(out, part.text);
      out.push_back('}');
    } else {
      out.append("{\"type\":\"image_url\",\"image_url\":{\"url\":");
      json::append_quoted(out, part.image_url);
      if (!part.detail.empty()) {
        out.append(",\"detail\":");
        json::append_quoted(out, part.detail);
      }
      out.append("}}");
    }
  }
  out.push_back(']');
}

void append_message(std::string& out, const Message& m) {
  out.append("{\"role\":\"");
  out.append(to_string(m.role));
  out.append("\",\"content\":");
  append_content(out, m);
  if (!m.name.empty()) {
    out.append(",\"name\":");
    json::append_quoted(out, m.name);
  }
  if (!m.tool_calls.empty()) {
    out.append(",\"tool_calls\":");
    append_tool_calls(out, m.tool_calls);
  }
  if (m.role == Role::Tool) {
    out.append(",\"tool_call_id\":");
    json::append_quoted(out, m.tool_call_id);
  }
  if (!m.reasoning.empty()) {
    out.append(",\"reasoning_content\":");
    json::append_quoted(out, m.reasoning);
  }
  out.push_back('}');
}

}  // namespace

// ---------------------------------------------------------------- requests

std::optional<Error> parse_chat_request(std::string_view body, ChatRequest& out) {
  rapidjson::Document doc;
  std::string what;
  if (!parse_json<rapidjson::kParseValidateEncodingFlag>(body, doc, what)) {
    return Error::invalid_request("Invalid JSON in request body " + what);
  }
  if (!doc.IsObject()) {
    return Error::invalid_request(std::string("Invalid request body: expected a JSON object, got ") +
                                  type_name(doc) + ".");
  }
  ChatRequest request;
  request.source_api = Api::OpenAIChat;
  RequestParser parser;
  if (!parser.parse(doc, request)) return std::move(parser.error);
  request.original_body = std::move(out.original_body);  // the host's, if it set it already
  out = std::move(request);
  return std::nullopt;
}

// Member order: model, messages, tools, tool_choice, parallel_tool_calls,
// temperature, top_p, frequency_penalty, presence_penalty, max_tokens, seed,
// stop, stream, stream_options, then `extra` in its order.
std::string render_chat_request(const ChatRequest& request, const RenderOptions& options) {
  std::string out;
  std::size_t estimate = 256;
  for (const Message& m : request.messages) {
    for (const ContentPart& p : m.content) estimate += p.text.size() + p.image_url.size() + 48;
    for (const ToolCall& c : m.tool_calls) estimate += c.arguments.size() + 96;
    estimate += m.reasoning.size() + 48;
  }
  for (const Tool& t : request.tools) estimate += t.parameters_json.size() + t.description.size() + 96;
  for (const auto& [key, value] : request.extra) estimate += key.size() + value.size() + 4;
  out.reserve(estimate);

  out.append("{\"model\":");
  json::append_quoted(out, request.model);
  out.append(",\"messages\":[");
  for (std::size_t i = 0; i < request.messages.size(); ++i) {
    if (i != 0) out.push_back(',');
    append_message(out, request.messages[i]);
  }
  out.push_back(']');

  if (!request.tools.empty()) {
    out.append(",\"tools\":[");
    for (std::size_t i = 0; i < request.tools.size(); ++i) {
      const Tool& t = request.tools[i];
      if (i != 0) out.push_back(',');
      out.append("{\"type\":\"function\",\"function\":{\"name\":");
      json::append_quoted(out, t.name);
      if (!t.description.empty()) {
        out.append(",\"description\":");
        json::append_quoted(out, t.description);
      }
      out.append(",\"parameters\":");
      out.append(t.parameters_json.empty() ? std::string_view("{}") : std::string_view(t.parameters_json));
      if (t.strict) out.append(*t.strict ? ",\"strict\":true" : ",\"strict\":false");
      out.append("}}");
    }
    out.push_back(']');
  }
  switch (request.tool_choice.mode) {
    case ToolChoice::Mode::Unset: break;
    case ToolChoice::Mode::Auto: out.append(",\"tool_choice\":\"auto\""); break;
    case ToolChoice::Mode::None: out.append(",\"tool_choice\":\"none\""); break;
    case ToolChoice::Mode::Required: out.append(",\"tool_choice\":\"required\""); break;
    case ToolChoice::Mode::Function:
      out.append(",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":");
      json::append_quoted(out, request.tool_choice.function_name);
      out.append("}}");
      break;
  }
  if (request.parallel_tool_calls) {
    out.append(*request.parallel_tool_calls ? ",\"parallel_tool_calls\":true" : ",\"parallel_tool_calls\":false");
  }
  const Sampling& s = request.sampling;
  const auto number = [&](const char* key, const std::optional<double>& v) {
    if (!v) return;
    out.push_back(',');
    append_key(out, key);
    append_double(out, *v);
  };
  number("temperature", s.temperature);
  number("top_p", s.top_p);
  number("frequency_penalty", s.frequency_penalty);
  number("presence_penalty", s.presence_penalty);
  if (s.max_tokens) {
    out.append(",\"max_tokens\":");
    append_int(out, *s.max_tokens);
  }
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
  if (request.stream) {
    out.append(",\"stream\":true");
    if (request.include_usage || options.force_usage) out.append(",\"stream_options\":{\"include_usage\":true}");
  }
  for (const auto& [key, value] : request.extra) {
    if (is_modeled_member(key)) continue;
    out.push_back(',');
    json::append_quoted(out, key);
    out.push_back(':');
    out.append(value);
  }
  out.push_back('}');
  return out;
}

// ---------------------------------------------------------------- answers to the client

std::string render_chat_completion(const ChatResponse& response, const ResponseMeta& meta) {
  if (!response.raw.empty()) return response.raw;
  std::string out;
  out.reserve(320 + response.text.size() + response.reasoning.size() + response.tool_calls.size() * 128);
  out.append("{\"id\":");
  json::append_quoted(out, meta.id);
  out.append(",\"object\":\"chat.completion\",\"created\":");
  append_int(out, meta.created);
  out.append(",\"model\":");
  json::append_quoted(out, meta.model);
  out.append(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
  if (response.text.empty() && !response.tool_calls.empty()) {
    out.append("null");
  } else {
    json::append_quoted(out, response.text);
  }
  if (!response.reasoning.empty()) {
    out.append(",\"reasoning_content\":");
    json::append_quoted(out, response.reasoning);
  }
  if (!response.tool_calls.empty()) {
    out.append(",\"tool_calls\":");
    append_tool_calls(out, response.tool_calls);
  }
  out.append("},\"logprobs\":null,\"finish_reason\":\"");
  out.append(to_string(response.finish.value_or(FinishReason::Stop)));
  out.append("\"}],\"usage\":");
  append_usage(out, response.usage.value_or(Usage{}));
  out.push_back('}');
  return out;
}

std::string render_error(const Error& error) {
  std::string out = "{\"error\":";
  append_error_object(out, error);
  out.push_back('}');
  return out;
}

ChunkRenderer::ChunkRenderer(ResponseMeta meta, bool include_usage)
    : meta_(std::move(meta)), include_usage_(include_usage) {
  chunk_prefix_ = "data: {\"id\":";
  json::append_quoted(chunk_prefix_, meta_.id);
  chunk_prefix_.append(",\"object\":\"chat.completion.chunk\",\"created\":");
  append_int(chunk_prefix_, meta_.created);
  chunk_prefix_.append(",\"model\":");
  json::append_quoted(chunk_prefix_, meta_.model);
}

// `data: {...,"choices":[{"index":0,"delta":` -- the delta object follows.
void ChunkRenderer::open_chunk(std::string& out) {
  out.append(chunk_prefix_);
  out.append(",\"choices\":[{\"index\":0,\"delta\":");
}

void ChunkRenderer::close_chunk(std::string& out) {
  out.append(",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

void ChunkRenderer::ensure_role(std::string& out) {
  if (role_sent_) return;
  role_sent_ = true;
  open_chunk(out);
  out.append("{\"role\":\"assistant\",\"content\":\"\"}");
  close_chunk(out);
}

void ChunkRenderer::render(const Event& event, std::string& out) {
  if (done_) return;
  switch (event.kind) {
    case Event::Kind::Role:
      ensure_role(out);
      return;
    case Event::Kind::TextDelta:
    case Event::Kind::ReasoningDelta:
      if (event.text.empty()) return;
      ensure_role(out);
      open_chunk(out);
      out.append(event.kind == Event::Kind::TextDelta ? "{\"content\":" : "{\"reasoning_content\":");
      json::append_quoted(out, event.text);
      out.push_back('}');
      close_chunk(out);
      return;
    case Event::Kind::ToolCallDelta:
      if (event.id.empty() && event.name.empty() && event.text.empty()) return;
      ensure_role(out);
      open_chunk(out);
      out.append("{\"tool_calls\":[{\"index\":");
      append_int(out, event.index);
      if (!event.id.empty()) {
        out.append(",\"id\":");
        json::append_quoted(out, event.id);
        out.append(",\"type\":\"function\"");
      }
      out.append(",\"function\":{");
      if (!event.name.empty()) {
        out.append("\"name\":");
        json::append_quoted(out, event.name);
        out.push_back(',');
      }
      out.append("\"arguments\":");
      json::append_quoted(out, event.text);
      out.append("}}]}");
      close_chunk(out);
      return;
    case Event::Kind::ReasoningSignature:  // Anthropic-only; OpenAI has no place for them
    case Event::Kind::RedactedReasoning:
      return;
    case Event::Kind::Raw:  // already OpenAI wire bytes
      out.append(event.text);
      role_sent_ = true;
      raw_ = true;
      return;
    case Event::Kind::Usage:
      usage_ = event.usage;
      return;
    case Event::Kind::Finish:
      if (raw_) { done_ = true; return; }
      ensure_role(out);
      open_chunk(out);
      out.append("{},\"logprobs\":null,\"finish_reason\":\"");
      out.append(to_string(event.finish));
      out.append("\"}]}\n\n");
      if (include_usage_) {
        out.append(chunk_prefix_);
        out.append(",\"choices\":[],\"usage\":");
        append_usage(out, usage_.value_or(Usage{}));
        out.append("}\n\n");
      }
      out.append("data: [DONE]\n\n");
      done_ = true;
      return;
    case Event::Kind::Error:
      out.append("data: {\"error\":");
      append_error_object(out, event.error);
      out.append("}\n\ndata: [DONE]\n\n");
      done_ = true;
      return;
  }
}

// ---------------------------------------------------------------- upstream answers

std::optional<Error> parse_chat_completion(std::string_view body, std::vector<Event>& out) {
  rapidjson::Document doc;
  std::string what;
  if (!parse_json<rapidjson::kParseDefaultFlags>(body, doc, what)) {
    return Error::upstream(502, "upstream sent invalid JSON " + what);
  }
  if (!doc.IsObject()) return Error::upstream(502, "upstream sent an invalid chat.completion: not an object");
  if (const Value* err = find_set(doc, "error")) return error_from_value(502, *err, true);
  const Value* choices = find(doc, "choices");
  if (choices == nullptr || !choices->IsArray() || choices->Empty() || !(*choices)[0].IsObject()) {
    return Error::upstream(502, "upstream sent a chat.completion without choices");
  }
  const Value& choice = (*choices)[0];
  out.push_back(Event::role());
  bool has_tool_calls = false;
  if (const Value* message = find_set(choice, "message"); message != nullptr && message->IsObject()) {
    std::string reasoning = string_member(*message, "reasoning_content");
    if (reasoning.empty()) reasoning = string_member(*message, "reasoning");
    if (!reasoning.empty()) out.push_back(Event::reasoning_delta(std::move(reasoning)));
    if (const Value* content = find_set(*message, "content")) {
      std::string text;
      if (content->IsString()) {
        text = string_of(*content);
      } else if (content->IsArray()) {  // some compatible servers answer in parts
        for (const auto& part : content->GetArray()) {
          if (part.IsObject() && string_member(part, "type") == "text") text += string_member(part, "text");
        }
      }
      if (!text.empty()) out.push_back(Event::text_delta(std::move(text)));
    }
    if (const Value* calls = find_set(*message, "tool_calls"); calls != nullptr && calls->IsArray()) {
      int index = 0;
      for (const auto& call : calls->GetArray()) {
        if (!call.IsObject()) continue;
        std::string name, arguments;
        function_of(call, name, arguments);
        out.push_back(Event::tool_call_delta(index++, string_member(call, "id"), std::move(name),
                                             std::move(arguments)));
        has_tool_calls = true;
      }
    }
  }
  if (const Value* usage = find_set(doc, "usage"); usage != nullptr && usage->IsObject()) {
    out.push_back(Event::usage_report(usage_of(*usage)));
  }
  const Value* reason = find_set(choice, "finish_reason");
  out.push_back(Event::finished(finish_reason_of(reason != nullptr && reason->IsString() ? view_of(*reason) : "",
                                                 has_tool_calls)));
  return std::nullopt;
}

std::optional<Error> ChunkParser::feed(std::string_view data, const Emit& emit) {
  if (saw_done_ || finish_emitted_) return std::nullopt;
  while (!data.empty() && is_space(data.back())) data.remove_suffix(1);
  while (!data.empty() && is_space(data.front())) data.remove_prefix(1);
  if (data.empty()) return std::nullopt;  // keep-alive
  if (data == "[DONE]") {
    saw_done_ = true;
    if (finish_) {
      finish_emitted_ = true;
      emit(Event::finished(*finish_));
    }
    return std::nullopt;
  }
  rapidjson::Document doc;
  std::string what;
  if (!parse_json<rapidjson::kParseDefaultFlags>(data, doc, what)) {
    return Error::upstream(502, "upstream sent invalid JSON in stream: " + what);
  }
  if (!doc.IsObject()) return Error::upstream(502, "upstream sent an invalid stream chunk: not an object");
  if (const Value* err = find_set(doc, "error")) return error_from_value(502, *err, true);

  if (const Value* choices = find_set(doc, "choices"); choices != nullptr && choices->IsArray()) {
    for (const auto& choice : choices->GetArray()) {
      if (!choice.IsObject()) continue;
      if (int_member(choice, "index").value_or(0) != 0) continue;  // only choice 0 is relayed (no n > 1)
      const Value* delta = find_set(choice, "delta");
      if (delta != nullptr && delta->IsObject()) {
        if (!role_emitted_) {
          role_emitted_ = true;
          emit(Event::role());
        }
        const Value* reasoning = find_set(*delta, "reasoning_content");
        if (reasoning == nullptr || !reasoning->IsString()) reasoning = find_set(*delta, "reasoning");
        if (reasoning != nullptr && reasoning->IsString() && reasoning->GetStringLength() != 0) {
          emit(Event::reasoning_delta(string_of(*reasoning)));
        }
        if (const Value* content = find_set(*delta, "content");
            content != nullptr && content->IsString() && content->GetStringLength() != 0) {
          emit(Event::text_delta(string_of(*content)));
        }
        if (const Value* calls = find_set(*delta, "tool_calls"); calls != nullptr && calls->IsArray()) {
          int position = 0;
          for (const auto& call : calls->GetArray()) {
            const int fallback = position++;
            if (!call.IsObject()) continue;
            const std::optional<std::int64_t> index = int_member(call, "index");
            std::string name, arguments;
            function_of(call, name, arguments);
            std::string id = string_member(call, "id");
            if (id.empty() && name.empty() && arguments.empty()) continue;
            emit(Event::tool_call_delta(index ? static_cast<int>(*index) : fallback, std::move(id), std::move(name),
                                        std::move(arguments)));
          }
        }
      }
      if (const Value* reason = find_set(choice, "finish_reason"); reason != nullptr && reason->IsString()) {
        finish_ = finish_reason_of(view_of(*reason), false);
      }
    }
  }
  if (const Value* usage = find_set(doc, "usage"); usage != nullptr && usage->IsObject()) {
    emit(Event::usage_report(usage_of(*usage)));
  }
  return std::nullopt;
}

std::optional<Error> ChunkParser::finish(const Emit& emit) {
  if (finish_emitted_) return std::nullopt;
  if (finish_) {
    finish_emitted_ = true;
    emit(Event::finished(*finish_));
    return std::nullopt;
  }
  return Error::upstream(502, "upstream stream ended before finish_reason");
}

Error parse_error_response(int status, std::string_view body) {
  rapidjson::Document doc;
  std::string what;
  if (parse_json<rapidjson::kParseDefaultFlags>(body, doc, what) && doc.IsObject()) {
    if (const Value* err = find_set(doc, "error");
        err != nullptr && (err->IsString() || (err->IsObject() && find_set(*err, "message") != nullptr))) {
      return error_from_value(status, *err, false);
    }
  }
  std::string message = "upstream returned HTTP " + std::to_string(status);
  std::string_view excerpt = body;
  while (!excerpt.empty() && is_space(excerpt.front())) excerpt.remove_prefix(1);
  while (!excerpt.empty() && is_space(excerpt.back())) excerpt.remove_suffix(1);
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
  return Error::upstream(status, std::move(message));
}

}  // namespace llmux::openai
