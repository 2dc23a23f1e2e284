// The OpenAI Responses codec (see llmux/codec/responses.h).
//
// Requests are parsed with the RapidJSON DOM (through codec_common); the
// head, the input swap and upstream terminal events are read with the
// DOM-free scanner. Answers are rendered by string appends.
#include "llmux/codec/responses.h"

#include <charconv>
#include <chrono>
#include <random>
#include <unordered_map>

#include "codec_common.h"
#include "llmux/codec/openai.h"
#include "llmux/json_scan.h"
#include "llmux/sse.h"

namespace llmux::responses {

namespace {

using namespace codec;

// What a freeform (`custom`) tool is offered as: one string parameter.
constexpr std::string_view kFreeformParameters =
    R"({"type":"object","properties":{"input":{"type":"string"}},"required":["input"]})";

// encrypted_content llmux makes from Anthropic thinking: this prefix, then
// base64 of {"thinking","signature"} or {"redacted"}.
constexpr std::string_view kThinkingPrefix = "llmux.1:";

// A sequence number for a response.failed appended after pass-through frames
// whose own numbers could not be read: above any a real stream reaches.
constexpr std::int64_t kUnknownSequence = std::int64_t{1} << 40;

// ---------------------------------------------------------------- small helpers

// `json` without blank space outside strings: echoed request members go into
// single-line SSE data.
std::string compact(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (!is_space(c)) {
      out.push_back(c);
      in_string = c == '"';
    }
  }
  return out;
}

// The text of a JSON string token (quotes included); false when it is not one.
bool decode_string(std::string_view token, std::string& out) {
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') return false;
  const std::string_view inner = token.substr(1, token.size() - 2);
  if (inner.find('\\') == std::string_view::npos) {
    out.assign(inner);
    return true;
  }
  rapidjson::Document doc;
  doc.Parse(token.data(), token.size());
  if (doc.HasParseError() || !doc.IsString()) return false;
  out = string_of(doc);
  return true;
}

// "a string", "an object", ... of a raw JSON value token.
const char* token_type_name(std::string_view token) {
  if (token.empty()) return "nothing";
  switch (token.front()) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
  }
}

Error token_type_error(const std::string& path, const char* expected, std::string_view token) {
  std::string message =
      "Invalid type for '" + path + "': expected " + expected + ", got " + token_type_name(token) + '.';
  return Error::invalid_request(std::move(message), path, "invalid_type");
}

// Random letters and digits (ids are names, not secrets).
std::string random_alphanumerics(std::size_t count) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kAlphabet - 2);
  std::string out(count, '0');
  for (char& c : out) c = kAlphabet[pick(generator)];
  return out;
}

std::string new_response_id() { return "resp_" + random_alphanumerics(32); }

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------- thinking in encrypted_content

std::string encode_thinking(const ThinkingBlock& block) {
  std::string json;
  if (block.redacted()) {
    json = "{\"redacted\":";
    json::append_quoted(json, block.redacted_data);
  } else {
    json = "{\"thinking\":";
    json::append_quoted(json, block.text);
    json += ",\"signature\":";
    json::append_quoted(json, block.signature);
  }
  json += '}';
  return std::string(kThinkingPrefix) + base64_encode(json);
}

// The thinking block an encrypted_content made by encode_thinking holds;
// nullopt for anything else (another model's reasoning).
std::optional<ThinkingBlock> decode_thinking(std::string_view encrypted) {
  if (encrypted.substr(0, kThinkingPrefix.size()) != kThinkingPrefix) return std::nullopt;
  std::string json;
  if (!base64_decode(encrypted.substr(kThinkingPrefix.size()), json)) return std::nullopt;
  rapidjson::Document doc;
  std::string what;
  if (!parse_json(json, doc, what) || !doc.IsObject()) return std::nullopt;
  ThinkingBlock block;
  if (const Value* data = find_set(doc, "redacted"); data != nullptr && data->IsString()) {
    block.redacted_data = string_of(*data);
    return block.redacted() ? std::optional<ThinkingBlock>(block) : std::nullopt;
  }
  const Value* text = find_set(doc, "thinking");
  const Value* signature = find_set(doc, "signature");
  if (text == nullptr || !text->IsString() || signature == nullptr || !signature->IsString()) return std::nullopt;
  block.text = string_of(*text);
  block.signature = string_of(*signature);
  return block;
}

// ---------------------------------------------------------------- request parsing

class RequestParser : public FieldChecker {
 public:
  // OpenAI's ranges: a value outside is a 400 naming the field, as OpenAI answers.
  template <class Number>
  bool in_range(const char* field, const std::optional<Number>& value, double low, double high) {
    if (!value || (static_cast<double>(*value) >= low && static_cast<double>(*value) <= high)) return true;
    std::string text = std::to_string(*value);
    return fail(Error::invalid_request("Invalid '" + std::string(field) + "': " + text + " is outside [" +
                                           compact_number(low) + ", " + compact_number(high) + "].",
                                       field, "invalid_value"));
  }
  static std::string compact_number(double x) {
    std::string text = std::to_string(x);
    while (text.find('.') != std::string::npos && (text.back() == '0' || text.back() == '.')) {
      const bool dot = text.back() == '.';
      text.pop_back();
      if (dot) break;
    }
    return text;
  }

  bool parse(const Value& root, ChatRequest& r) {
    bool have_model = false;
    bool have_input = false;
    std::string instructions;
    std::vector<Message> input;
    for (const auto& m : root.GetObject()) {
      const std::string_view name = view_of(m.name);
      const Value& v = m.value;
      bool ok = true;
      if (name == "model") {
        ok = parse_model(v, r.model);
        have_model = true;
      } else if (name == "input") {
        have_input = !v.IsNull();
        input.clear();
        pending_thinking_.clear();
        ok = parse_input(v, input);
      } else if (name == "instructions") {
        instructions.clear();
        if (!v.IsNull() && !v.IsString()) return type_error("instructions", "a string", v);
        if (v.IsString()) instructions = string_of(v);
      } else if (name == "tools") {
        ok = parse_tools(v, r);
      } else if (name == "tool_choice") {
        ok = parse_tool_choice(v, r);
      } else if (name == "parallel_tool_calls") {
        ok = optional_bool(v, "parallel_tool_calls", r.parallel_tool_calls);
      } else if (name == "max_output_tokens") {
        ok = optional_int(v, "max_output_tokens", r.sampling.max_tokens) &&
             in_range("max_output_tokens", r.sampling.max_tokens, 1, 1e9);
      } else if (name == "temperature") {
        ok = optional_number(v, "temperature", r.sampling.temperature) &&
             in_range("temperature", r.sampling.temperature, 0, 2);
      } else if (name == "top_p") {
        ok = optional_number(v, "top_p", r.sampling.top_p) && in_range("top_p", r.sampling.top_p, 0, 1);
      } else if (name == "stream") {
        ok = parse_stream(v, r.stream);
      } else if (name == "reasoning") {
        ok = parse_reasoning(v, r.reasoning);
      } else if (name == "text") {
        ok = parse_text(v, r.response_format);
      } else {
        // Not modeled: kept for a native upstream (checked first when the
        // Responses API gives it a type).
        ok = check_unmodeled(name, v);
        if (ok) keep_extra(r.extra, name, v);
      }
      if (!ok) return false;
    }
    if (!have_model) return missing("model");
    if (!have_input) return missing("input");
    if (!instructions.empty()) r.messages.push_back(text_message(Role::System, std::move(instructions), true));
    for (Message& m : input) r.messages.push_back(std::move(m));
    r.warnings = std::move(warnings_);
    // The stream always ends with usage, so the upstream is asked for it.
    r.include_usage = true;
    return true;
  }

 private:
  std::vector<ThinkingBlock> pending_thinking_;  // from reasoning items, for the next assistant message
  std::vector<std::string> warnings_;

  static Message text_message(Role role, std::string text, bool was_string) {
    Message m;
    m.role = role;
    m.content_was_string = was_string;
    m.content.push_back(ContentPart::make_text(std::move(text)));
    return m;
  }

  bool check_unmodeled(std::string_view name, const Value& v) {
    if (v.IsNull()) return true;
    if (name == "store" && !v.IsBool()) return type_error("store", "a boolean", v);
    if (name == "previous_response_id" && !v.IsString()) return type_error("previous_response_id", "a string", v);
    if (name == "metadata" && !v.IsObject()) return type_error("metadata", "an object", v);
    if (name == "include") {
      if (!v.IsArray()) return type_error("include", "an array of strings", v);
      std::vector<std::string> ignored;
      return string_elements(v, "include", ignored);
    }
    return true;
  }

  // ---- input

  bool parse_input(const Value& v, std::vector<Message>& out) {
    if (v.IsNull()) return true;
    if (v.IsString()) {
      if (v.GetStringLength() != 0) out.push_back(text_message(Role::User, string_of(v), true));
      return true;
    }
    if (!v.IsArray()) return type_error("input", "a string or an array of input items", v);
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (!parse_item(v[i], "input[" + std::to_string(i) + "]", out)) return false;
    }
    return true;
  }

  bool parse_item(const Value& item, const std::string& path, std::vector<Message>& out) {
    if (!item.IsObject()) return type_error(path, "an object", item);
    std::string type;
    if (const Value* t = find_set(item, "type")) {
      if (!t->IsString()) return type_error(path + ".type", "a string", *t);
      type = string_of(*t);
    } else if (find(item, "role") != nullptr) {
      type = "message";  // the short form {role, content}
    } else {
      return missing(path + ".type");
    }
    if (type == "message") return parse_message_item(item, path, out);
    if (type == "function_call") return parse_function_call(item, path, out);
    if (type == "custom_tool_call") return parse_custom_tool_call(item, path, out);
    if (type == "function_call_output" || type == "custom_tool_call_output") return parse_call_output(item, path, out);
    if (type == "reasoning") return parse_reasoning_item(item, path);
    // Built-in tool calls, item references, ...: only a native upstream can use them.
    warnings_.push_back(path + ": input item of type '" + type + "' dropped");
    return true;
  }

  // The assistant message new assistant content joins: the last message when
  // it is one (a turn's text, calls and thinking make one chat message), else
  // a new one. Pending thinking goes to it.
  Message& assistant_message(std::vector<Message>& out) {
    if (out.empty() || out.back().role != Role::Assistant) {
      Message& m = out.emplace_back();
      m.role = Role::Assistant;
      m.content_was_string = false;
      m.content_was_null = true;
    }
    Message& m = out.back();
    for (ThinkingBlock& block : pending_thinking_) m.thinking.push_back(std::move(block));
    pending_thinking_.clear();
    return m;
  }

  bool parse_message_item(const Value& item, const std::string& path, std::vector<Message>& out) {
    std::string role_name;
    if (!required_string(item, path, "role", role_name)) return false;
    Role role;
    if (role_name == "user") {
      role = Role::User;
    } else if (role_name == "assistant") {
      role = Role::Assistant;
    } else if (role_name == "system") {
      role = Role::System;
    } else if (role_name == "developer") {
      role = Role::Developer;
    } else {
      return unsupported(path + ".role", role_name, "is not one of 'user', 'assistant', 'system', 'developer'.");
    }
    Message parsed;
    parsed.role = role;
    const Value* content = find(item, "content");
    if (content == nullptr) return missing(path + ".content");
    if (!parse_content(*content, path + ".content", parsed, false)) return false;
    if (role != Role::Assistant) {
      pending_thinking_.clear();  // thinking belongs to the assistant turn right after it
      if (!parsed.content.empty()) out.push_back(std::move(parsed));  // an empty message is no message
      return true;
    }
    if (parsed.content.empty()) return true;
    const bool joins = !out.empty() && out.back().role == Role::Assistant;
    Message& m = assistant_message(out);
    if (!joins) {
      m.content_was_string = parsed.content_was_string;
      m.content_was_null = false;
      m.content = std::move(parsed.content);
      return true;
    }
    m.content_was_string = false;
    m.content_was_null = false;
    for (ContentPart& part : parsed.content) m.content.push_back(std::move(part));
    return true;
  }

  // A message's content or a call output: a string, or an array of parts.
  // Empty texts are left out of messages (a tool output keeps its one text).
  bool parse_content(const Value& content, const std::string& path, Message& m, bool tool_output) {
    if (content.IsString()) {
      m.content_was_string = true;
      if (tool_output || content.GetStringLength() != 0) {
        m.content.push_back(ContentPart::make_text(string_of(content)));
      }
      return true;
    }
    if (!content.IsArray()) return type_error(path, "a string or an array of content parts", content);
    m.content_was_string = false;
    for (rapidjson::SizeType j = 0; j < content.Size(); ++j) {
      const std::string part_path = path + "[" + std::to_string(j) + "]";
      const Value& part = content[j];
      std::string type;
      if (!typed_object(part, part_path, type)) return false;
      if (type == "input_text" || type == "output_text" || type == "text" || type == "summary_text") {
        std::string text;
        if (!required_string(part, part_path, "text", text)) return false;
        if (!text.empty()) m.content.push_back(ContentPart::make_text(std::move(text)));
      } else if (type == "refusal") {
        std::string text;
        if (!required_string(part, part_path, "refusal", text)) return false;
        if (!text.empty()) m.content.push_back(ContentPart::make_text(std::move(text)));
      } else if (type == "input_image") {
        ContentPart image = ContentPart::make_image({});
        if (!optional_string(part, part_path, "image_url", image.image_url)) return false;
        if (!optional_string(part, part_path, "detail", image.detail)) return false;
        if (image.image_url.empty()) {
          if (find_set(part, "file_id") != nullptr) {
            return value_error(part_path + ".file_id", "Invalid value for '" + part_path +
                                                           ".file_id': uploaded files are not supported; send "
                                                           "the image as image_url (a URL or a data: URI).");
          }
          return missing(part_path + ".image_url");
        }
        m.content.push_back(std::move(image));
      } else {
        return unsupported(part_path + ".type", type,
                           "is not a supported content part type (supported: 'input_text', 'output_text', "
                           "'refusal', 'input_image').");
      }
    }
    if (tool_output && m.content.empty()) m.content.push_back(ContentPart::make_text({}));
    return true;
  }

  // `namespace`, when the item has one: the call's name as providers know it.
  bool namespaced_name(const Value& item, const std::string& path, std::string& name) {
    std::string ns;
    if (!optional_string(item, path, "namespace", ns)) return false;
    if (!ns.empty()) name = namespace_tool_name(ns, name);
    return true;
  }

  bool parse_function_call(const Value& item, const std::string& path, std::vector<Message>& out) {
    ToolCall call;
    if (!required_string(item, path, "call_id", call.id)) return false;
    if (!required_string(item, path, "name", call.name)) return false;
    if (!namespaced_name(item, path, call.name)) return false;
    const Value* args = find(item, "arguments");
    if (args == nullptr) return missing(path + ".arguments");
    if (args->IsString()) {
      call.arguments = string_of(*args);
    } else if (args->IsObject()) {  // tolerated: arguments sent as an object
      call.arguments = json::to_string(*args);
    } else {
      return type_error(path + ".arguments", "a string", *args);
    }
    assistant_message(out).tool_calls.push_back(std::move(call));
    return true;
  }

  bool parse_custom_tool_call(const Value& item, const std::string& path, std::vector<Message>& out) {
    ToolCall call;
    std::string input;
    if (!required_string(item, path, "call_id", call.id)) return false;
    if (!required_string(item, path, "name", call.name)) return false;
    if (!namespaced_name(item, path, call.name)) return false;
    if (!required_string(item, path, "input", input)) return false;
    call.arguments = "{\"input\":";
    json::append_quoted(call.arguments, input);
    call.arguments += '}';
    assistant_message(out).tool_calls.push_back(std::move(call));
    return true;
  }

  bool parse_call_output(const Value& item, const std::string& path, std::vector<Message>& out) {
    Message m;
    m.role = Role::Tool;
    if (!required_string(item, path, "call_id", m.tool_call_id)) return false;
    const Value* output = find(item, "output");
    if (output == nullptr) return missing(path + ".output");
    if (output->IsNull()) {
      m.content.push_back(ContentPart::make_text({}));
    } else if (!parse_content(*output, path + ".output", m, true)) {
      return false;
    }
    pending_thinking_.clear();
    out.push_back(std::move(m));
    return true;
  }

  bool parse_reasoning_item(const Value& item, const std::string& path) {
    std::string encrypted;
    if (!optional_string(item, path, "encrypted_content", encrypted)) return false;
    // Only thinking llmux wrapped can be replayed; other reasoning is the
    // upstream model's own and is skipped.
    if (std::optional<ThinkingBlock> block = decode_thinking(encrypted)) pending_thinking_.push_back(std::move(*block));
    return true;
  }

  // ---- tools

  bool parse_tools(const Value& v, ChatRequest& r) {
    r.tools.clear();
    if (v.IsNull()) return true;
    if (!v.IsArray()) return type_error("tools", "an array", v);
    for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
      const std::string path = "tools[" + std::to_string(k) + "]";
      const Value& t = v[k];
      std::string type;
      if (!typed_object(t, path, type)) return false;
      if (type == "function" || type == "custom") {
        if (!parse_tool(t, path, type, {}, r.tools)) return false;
      } else if (type == "namespace") {
        if (!parse_namespace(t, path, r.tools)) return false;
      } else {
        warnings_.push_back(path + ": built-in tool '" + type + "' dropped (only a native Responses upstream runs it)");
      }
    }
    return true;
  }

  bool parse_namespace(const Value& t, const std::string& path, std::vector<Tool>& out) {
    std::string ns;
    if (!required_string(t, path, "name", ns)) return false;
    const Value* nested = find(t, "tools");
    if (nested == nullptr) return missing(path + ".tools");
    if (!nested->IsArray()) return type_error(path + ".tools", "an array", *nested);
    for (rapidjson::SizeType k = 0; k < nested->Size(); ++k) {
      const std::string nested_path = path + ".tools[" + std::to_string(k) + "]";
      std::string type;
      if (!typed_object((*nested)[k], nested_path, type)) return false;
      if (type == "function" || type == "custom") {
        if (!parse_tool((*nested)[k], nested_path, type, ns, out)) return false;
      } else {
        warnings_.push_back(nested_path + ": tool of type '" + type + "' dropped");
      }
    }
    return true;
  }

  // A function or custom tool, offered under its namespace when it has one.
  bool parse_tool(const Value& t, const std::string& path, const std::string& type, const std::string& ns,
                  std::vector<Tool>& out) {
    Tool tool;
    if (!required_string(t, path, "name", tool.name)) return false;
    if (!optional_string(t, path, "description", tool.description)) return false;
    if (!ns.empty()) tool.name = namespace_tool_name(ns, tool.name);
    if (type == "custom") {
      tool.freeform = true;
      tool.parameters_json = kFreeformParameters;
      if (!describe_format(t, path, tool.description)) return false;
    } else {
      if (const Value* params = find_set(t, "parameters")) {
        if (!params->IsObject()) return type_error(path + ".parameters", "an object", *params);
        tool.parameters_json = json::to_string(*params);
      }
      if (const Value* strict = find(t, "strict")) {
        if (!optional_bool(*strict, path + ".strict", tool.strict)) return false;
      }
    }
    out.push_back(std::move(tool));
    return true;
  }

  // A custom tool's grammar goes into its description: the model writes the
  // input as a string parameter and must still know its syntax.
  bool describe_format(const Value& t, const std::string& path, std::string& description) {
    const Value* format = find_set(t, "format");
    if (format == nullptr) return true;
    if (!format->IsObject()) return type_error(path + ".format", "an object", *format);
    if (string_member(*format, "type") != "grammar") return true;
    const std::string definition = string_member(*format, "definition");
    if (definition.empty()) return true;
    std::string syntax = string_member(*format, "syntax");
    if (!description.empty()) description += "\n\n";
    description += "The `input` string must match this " + (syntax.empty() ? std::string() : syntax + " ") +
                   "grammar:\n" + definition;
    return true;
  }

  bool parse_tool_choice(const Value& v, ChatRequest& r) {
    ToolChoice& out = r.tool_choice;
    out = {};
    if (v.IsNull()) return true;
    if (v.IsString()) return tool_choice_string(v, out);
    std::string type;
    if (!v.IsObject()) return type_error("tool_choice", "a string or an object", v);
    if (!required_string(v, "tool_choice", "type", type)) return false;
    if (type == "function" || type == "custom") {
      if (!required_string(v, "tool_choice", "name", out.function_name)) return false;
      if (!namespaced_name(v, "tool_choice", out.function_name)) return false;
      out.mode = ToolChoice::Mode::Function;
      return true;
    }
    if (type == "allowed_tools") {
      out.mode = string_member(v, "mode") == "required" ? ToolChoice::Mode::Required : ToolChoice::Mode::Auto;
      warnings_.push_back("tool_choice: allowed_tools offers every tool (mode kept)");
      return true;
    }
    out.mode = ToolChoice::Mode::Auto;
    warnings_.push_back("tool_choice: built-in tool '" + type + "' is not offered; 'auto' instead");
    return true;
  }

  // ---- options

  bool parse_reasoning(const Value& v, std::optional<ReasoningOptions>& out) {
    out.reset();
    if (v.IsNull()) return true;
    if (!v.IsObject()) return type_error("reasoning", "an object", v);
    ReasoningOptions options;
    if (!optional_string(v, "reasoning", "effort", options.effort)) return false;
    if (!optional_string(v, "reasoning", "generate_summary", options.summary)) return false;  // the old name
    if (!optional_string(v, "reasoning", "summary", options.summary)) return false;
    out = std::move(options);
    return true;
  }

  // text.format in Chat Completions' response_format shape.
  bool parse_text(const Value& v, std::string& response_format) {
    response_format.clear();
    if (v.IsNull()) return true;
    if (!v.IsObject()) return type_error("text", "an object", v);
    const Value* format = find_set(v, "format");
    if (format == nullptr) return true;
    std::string type;
    if (!typed_object(*format, "text.format", type)) return false;
    if (type == "text") return true;
    if (type == "json_object") {
      response_format = R"({"type":"json_object"})";
      return true;
    }
    if (type != "json_schema") {
      return unsupported("text.format.type", type, "is not one of 'text', 'json_object', 'json_schema'.");
    }
    std::string name, description;
    if (!required_string(*format, "text.format", "name", name)) return false;
    if (!optional_string(*format, "text.format", "description", description)) return false;
    const Value* schema = find(*format, "schema");
    if (schema == nullptr) return missing("text.format.schema");
    if (!schema->IsObject()) return type_error("text.format.schema", "an object", *schema);
    std::optional<bool> strict;
    if (const Value* s = find(*format, "strict")) {
      if (!optional_bool(*s, "text.format.strict", strict)) return false;
    }
    response_format = R"({"type":"json_schema","json_schema":{"name":)";
    json::append_quoted(response_format, name);
    if (!description.empty()) {
      response_format += ",\"description\":";
      json::append_quoted(response_format, description);
    }
    response_format += ",\"schema\":";
    response_format += json::to_string(*schema);
    if (strict) response_format += *strict ? ",\"strict\":true" : ",\"strict\":false";
    response_format += "}}";
    return true;
  }
};

// ---------------------------------------------------------------- answers: shared context

// How a tool a provider calls is known to the client.
struct ClientTool {
  std::string ns;    // empty outside a namespace
  std::string name;  // the name within the namespace
  bool freeform = false;
};

// What every answer to one request shares: its identity, the request members
// a response object echoes, and the client's names of the offered tools.
struct ResponseContext {
  ResponseMeta meta;
  std::string item_suffix;  // item ids: "msg_" + item_suffix + "_" + output index
  std::unordered_map<std::string, ClientTool> tools;  // by the name providers know
  // Echoed members as compact JSON text, by name.
  std::vector<std::pair<std::string, std::string>> echoed;

  std::string_view echo(std::string_view name, std::string_view fallback) const {
    for (const auto& [key, value] : echoed) {
      if (key == name) return value;
    }
    return fallback;
  }
  const ClientTool* tool(const std::string& name) const {
    const auto it = tools.find(name);
    return it == tools.end() ? nullptr : &it->second;
  }
};

constexpr std::string_view kEchoedMembers[] = {
    "instructions", "max_output_tokens", "parallel_tool_calls", "reasoning", "store", "temperature", "text",
    "tool_choice", "tools", "top_p", "truncation", "metadata", "user", "service_tier", "prompt_cache_key",
    "safety_identifier", "max_tool_calls", "top_logprobs", "background"};

void note_tool(ResponseContext& context, const Value& tool, const std::string& ns) {
  if (!tool.IsObject()) return;
  const std::string type = string_member(tool, "type");
  if (type != "function" && type != "custom") return;
  ClientTool known{ns, string_member(tool, "name"), type == "custom"};
  std::string provider_name = ns.empty() ? known.name : namespace_tool_name(ns, known.name);
  context.tools[std::move(provider_name)] = std::move(known);
}

std::shared_ptr<const ResponseContext> make_context(ResponseMeta meta, const ChatRequest& request) {
  auto context = std::make_shared<ResponseContext>();
  if (meta.id.empty()) meta.id = new_response_id();
  if (meta.created_at == 0) meta.created_at = unix_now();
  const std::string_view id = meta.id;
  context->item_suffix = std::string(id.substr(0, 5) == "resp_" ? id.substr(5) : id);
  context->meta = std::move(meta);

  std::string_view body = context->meta.request_body;
  if (body.empty() && request.original_body) body = *request.original_body;
  std::vector<json::Member> members;
  if (!body.empty() && json::top_level_members(body, members)) {
    for (const json::Member& member : members) {
      for (const std::string_view name : kEchoedMembers) {
        if (!member.is(name)) continue;
        std::string value = compact(member.value);
        bool replaced = false;
        for (auto& [key, old] : context->echoed) {
          if (key == name) {
            old = value;
            replaced = true;
          }
        }
        if (!replaced) context->echoed.emplace_back(std::string(name), std::move(value));
      }
      if (member.is("tools")) {
        // The client's tool names, namespaces included (the canonical tools
        // only know the names providers are offered).
        rapidjson::Document tools;
        std::string what;
        if (parse_json(member.value, tools, what) && tools.IsArray()) {
          for (const Value& tool : tools.GetArray()) {
            if (!tool.IsObject()) continue;
            if (string_member(tool, "type") != "namespace") {
              note_tool(*context, tool, {});
              continue;
            }
            const std::string ns = string_member(tool, "name");
            const Value* nested = find_set(tool, "tools");
            if (nested == nullptr || !nested->IsArray() || ns.empty()) continue;
            for (const Value& inner : nested->GetArray()) note_tool(*context, inner, ns);
          }
        }
      }
    }
  }
  for (const Tool& tool : request.tools) {
    if (tool.freeform && context->tools.find(tool.name) == context->tools.end()) {
      context->tools[tool.name] = ClientTool{{}, tool.name, true};
    }
  }
  return context;
}

// ---------------------------------------------------------------- answers: items

// One output item.
struct Item {
  enum class Kind { Message, Reasoning, FunctionCall, CustomToolCall };
  Kind kind = Kind::Message;
  std::string id;
  std::string text;  // message text, reasoning (summary) text, function arguments, custom input
  std::string arguments;  // calls: the arguments as the provider sent them ({"input": ...} for a custom call)
  std::string call_id;
  std::string name;  // the client's name of the tool
  std::string ns;
  ThinkingBlock thinking;  // reasoning: what encrypted_content carries (signature or redacted data)

  bool has_encrypted() const { return !thinking.signature.empty() || thinking.redacted(); }
};

const char* item_prefix(Item::Kind kind) {
  switch (kind) {
    case Item::Kind::Message: return "msg_";
    case Item::Kind::Reasoning: return "rs_";
    case Item::Kind::FunctionCall: return "fc_";
    case Item::Kind::CustomToolCall: return "ctc_";
  }
  return "item_";
}

std::string item_id(const ResponseContext& context, Item::Kind kind, std::size_t output_index) {
  std::string id = item_prefix(kind);
  id += context.item_suffix;
  id += '_';
  id += std::to_string(output_index);
  return id;
}

// The input of a freeform call from its {"input": text} arguments (the
// arguments themselves when a model wrote something else).
std::string unwrap_freeform(const std::string& arguments) {
  rapidjson::Document doc;
  std::string what;
  if (parse_json(arguments, doc, what) && doc.IsObject()) {
    if (const Value* input = find(doc, "input"); input != nullptr && input->IsString()) return string_of(*input);
  }
  return arguments;
}

// A call item for a tool call with the name providers know (`name`).
Item call_item(const ResponseContext& context, std::string call_id, const std::string& name, std::size_t index) {
  Item item;
  item.kind = Item::Kind::FunctionCall;
  item.call_id = std::move(call_id);
  item.name = name;
  if (const ClientTool* tool = context.tool(name)) {
    item.name = tool->name;
    item.ns = tool->ns;
    if (tool->freeform) item.kind = Item::Kind::CustomToolCall;
  }
  if (item.call_id.empty()) item.call_id = "call_" + context.item_suffix + "_" + std::to_string(index);
  item.id = item_id(context, item.kind, index);
  return item;
}

// Arguments as sent to the client: never empty (an argument-less call is `{}`).
std::string_view client_arguments(const std::string& arguments) {
  return arguments.empty() ? std::string_view("{}") : std::string_view(arguments);
}

// An item object; `done` says whether it is complete (else as announced by
// output_item.added: no content yet, status in_progress).
// `status`, when given, overrides the one `done` implies (a message cut by a
// failure is shown with its text so far as "incomplete").
void append_item(std::string& out, const Item& item, bool done, bool include_encrypted,
                 const char* status_override = nullptr) {
  out.append("{\"id\":");
  json::append_quoted(out, item.id);
  const char* status = status_override != nullptr ? status_override : done ? "\"completed\"" : "\"in_progress\"";
  switch (item.kind) {
    case Item::Kind::Message:
      out.append(",\"type\":\"message\",\"status\":");
      out.append(status);
      out.append(",\"content\":[");
      if (done) {
        out.append("{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":");
        json::append_quoted(out, item.text);
        out.push_back('}');
      }
      out.append("],\"role\":\"assistant\"}");
      return;
    case Item::Kind::Reasoning:
      out.append(",\"type\":\"reasoning\",\"status\":");
      out.append(status);
      out.append(",\"summary\":[");
      if (done && !item.text.empty()) {
        out.append("{\"type\":\"summary_text\",\"text\":");
        json::append_quoted(out, item.text);
        out.push_back('}');
      }
      out.push_back(']');
      if (done && include_encrypted && item.has_encrypted()) {
        out.append(",\"encrypted_content\":");
        json::append_quoted(out, encode_thinking(item.thinking));
      }
      out.push_back('}');
      return;
    case Item::Kind::FunctionCall:
      out.append(",\"type\":\"function_call\",\"status\":");
      out.append(status);
      out.append(",\"arguments\":");
      json::append_quoted(out, done ? client_arguments(item.text) : std::string_view());
      break;
    case Item::Kind::CustomToolCall:
      out.append(",\"type\":\"custom_tool_call\",\"status\":");
      out.append(status);
      out.append(",\"input\":");
      json::append_quoted(out, done ? std::string_view(item.text) : std::string_view());
      break;
  }
  out.append(",\"call_id\":");
  json::append_quoted(out, item.call_id);
  out.append(",\"name\":");
  json::append_quoted(out, item.name);
  if (!item.ns.empty()) {
    out.append(",\"namespace\":");
    json::append_quoted(out, item.ns);
  }
  out.push_back('}');
}

void append_items(std::string& out, const std::vector<Item>& items, bool include_encrypted) {
  out.push_back('[');
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out.push_back(',');
    append_item(out, items[i], true, include_encrypted);
  }
  out.push_back(']');
}

// The items of a whole answer: reasoning, message, calls.
std::vector<Item> items_of(const ChatResponse& response, const ResponseContext& context) {
  std::vector<Item> items;
  const auto add = [&](Item item) {
    item.id = item_id(context, item.kind, items.size());
    items.push_back(std::move(item));
  };
  if (!response.reasoning.empty() || !response.reasoning_signature.empty()) {
    Item item;
    item.kind = Item::Kind::Reasoning;
    item.text = response.reasoning;
    item.thinking.text = response.reasoning;
    item.thinking.signature = response.reasoning_signature;
    add(std::move(item));
  }
  for (const std::string& data : response.redacted_reasoning) {
    Item item;
    item.kind = Item::Kind::Reasoning;
    item.thinking.redacted_data = data;
    add(std::move(item));
  }
  if (!response.text.empty()) {
    Item item;
    item.text = response.text;
    add(std::move(item));
  }
  for (const ToolCall& call : response.tool_calls) {
    Item item = call_item(context, call.id, call.name, items.size());
    item.text = item.kind == Item::Kind::CustomToolCall ? unwrap_freeform(call.arguments) : call.arguments;
    items.push_back(std::move(item));
  }
  return items;
}

void append_usage(std::string& out, const Usage& u) {
  out.append("{\"input_tokens\":");
  append_int(out, u.input_tokens);
  out.append(",\"input_tokens_details\":{\"cached_tokens\":");
  append_int(out, u.cache_read_tokens.value_or(0));
  out.append("},\"output_tokens\":");
  append_int(out, u.output_tokens);
  out.append(",\"output_tokens_details\":{\"reasoning_tokens\":");
  append_int(out, u.reasoning_tokens.value_or(0));
  out.append("},\"total_tokens\":");
  append_int(out, u.input_tokens + u.output_tokens);
  out.push_back('}');
}

// `error` of a failed response: {code, message}.
void append_response_error(std::string& out, const Error& e) {
  out.append("{\"code\":");
  json::append_quoted(out, e.code.empty() ? e.type : e.code);
  out.append(",\"message\":");
  json::append_quoted(out, e.message);
  out.push_back('}');
}

// Status and reason of an answer that ended with `finish`.
struct Ending {
  const char* status = "completed";
  const char* incomplete_reason = nullptr;  // max_output_tokens, content_filter
};

Ending ending_of(std::optional<FinishReason> finish) {
  if (finish == FinishReason::Length) return {"incomplete", "max_output_tokens"};
  if (finish == FinishReason::ContentFilter) return {"incomplete", "content_filter"};
  return {};
}

// A whole response object. `output` is the output array's JSON text.
void append_response(std::string& out, const ResponseContext& context, std::string_view id, std::string_view status,
                     const char* incomplete_reason, const Error* error, std::string_view output,
                     const std::optional<Usage>& usage) {
  const ResponseMeta& meta = context.meta;
  out.append("{\"id\":");
  json::append_quoted(out, id);
  out.append(",\"object\":\"response\",\"created_at\":");
  append_int(out, meta.created_at);
  out.append(",\"status\":");
  json::append_quoted(out, status);
  out.append(",\"background\":");
  out.append(context.echo("background", "false"));
  out.append(",\"error\":");
  if (error != nullptr) {
    append_response_error(out, *error);
  } else {
    out.append("null");
  }
  out.append(",\"incomplete_details\":");
  if (incomplete_reason != nullptr) {
    out.append("{\"reason\":\"");
    out.append(incomplete_reason);
    out.append("\"}");
  } else {
    out.append("null");
  }
  out.append(",\"instructions\":");
  out.append(context.echo("instructions", "null"));
  out.append(",\"max_output_tokens\":");
  out.append(context.echo("max_output_tokens", "null"));
  out.append(",\"max_tool_calls\":");
  out.append(context.echo("max_tool_calls", "null"));
  out.append(",\"model\":");
  json::append_quoted(out, meta.model);
  out.append(",\"output\":");
  out.append(output);
  out.append(",\"parallel_tool_calls\":");
  out.append(context.echo("parallel_tool_calls", "true"));
  out.append(",\"previous_response_id\":");
  if (meta.previous_response_id.empty()) {
    out.append("null");
  } else {
    json::append_quoted(out, meta.previous_response_id);
  }
  for (const std::string_view name : {"prompt_cache_key", "safety_identifier", "service_tier"}) {
    const std::string_view value = context.echo(name, {});
    if (value.empty()) continue;
    out.append(",\"");
    out.append(name);
    out.append("\":");
    out.append(value);
  }
  out.append(",\"reasoning\":");
  out.append(context.echo("reasoning", R"({"effort":null,"summary":null})"));
  out.append(",\"store\":");
  out.append(context.echo("store", "true"));
  out.append(",\"temperature\":");
  out.append(context.echo("temperature", "1"));
  out.append(",\"text\":");
  out.append(context.echo("text", R"({"format":{"type":"text"}})"));
  out.append(",\"tool_choice\":");
  out.append(context.echo("tool_choice", "\"auto\""));
  out.append(",\"tools\":");
  out.append(context.echo("tools", "[]"));
  out.append(",\"top_logprobs\":");
  out.append(context.echo("top_logprobs", "0"));
  out.append(",\"top_p\":");
  out.append(context.echo("top_p", "1"));
  out.append(",\"truncation\":");
  out.append(context.echo("truncation", "\"disabled\""));
  out.append(",\"usage\":");
  if (usage) {
    append_usage(out, *usage);
  } else {
    out.append("null");
  }
  out.append(",\"user\":");
  out.append(context.echo("user", "null"));
  out.append(",\"metadata\":");
  out.append(context.echo("metadata", "{}"));
  out.push_back('}');
}

// The `response` object of a Responses stream event (`data`), its type given.
struct EventResponse {
  std::string_view type;
  std::string_view response;  // the response object's text, empty when none
};

std::optional<EventResponse> event_response(std::string_view data) {
  std::vector<json::Member> members;
  if (!json::top_level_members(data, members)) return std::nullopt;
  EventResponse found;
  for (const json::Member& member : members) {
    if (member.is("type")) found.type = member.value;
    if (member.is("response")) found.response = member.value;
  }
  if (found.type.size() < 2) return std::nullopt;
  found.type = found.type.substr(1, found.type.size() - 2);
  return found;
}

bool is_terminal_type(std::string_view type) {
  return type == "response.completed" || type == "response.incomplete" || type == "response.failed";
}

}  // namespace

// ---------------------------------------------------------------- requests

std::optional<Error> read_head(std::string_view body, RequestHead& out) {
  std::string why;
  if (!json::well_formed(body, &why)) return Error::invalid_request("Invalid JSON in request body " + why);
  std::vector<json::Member> members;
  if (!json::top_level_members(body, members)) {
    return Error::invalid_request(std::string("Invalid request body: expected a JSON object, got ") +
                                  token_type_name(trim(body)) + '.');
  }
  RequestHead head;
  head.input_json = "[]";
  bool have_model = false;
  // A repeated member: the last one counts, as in parse_request.
  for (const json::Member& member : members) {
    const std::string_view v = member.value;
    if (member.is("model")) {
      if (!decode_string(v, head.model)) return token_type_error("model", "a string", v);
      if (head.model.empty()) {
        return Error::invalid_request("Invalid 'model': must not be empty.", "model", "invalid_value");
      }
      have_model = true;
    } else if (member.is("stream")) {
      if (v != "true" && v != "false" && v != "null") return token_type_error("stream", "a boolean", v);
      head.stream = v == "true";
    } else if (member.is("store")) {
      if (v != "true" && v != "false" && v != "null") return token_type_error("store", "a boolean", v);
      head.store = v != "false";
    } else if (member.is("previous_response_id")) {
      head.previous_response_id.clear();
      if (v != "null" && !decode_string(v, head.previous_response_id)) {
        return token_type_error("previous_response_id", "a string", v);
      }
    } else if (member.is("input")) {
      if (v.front() == '"') {
        head.input_json = R"([{"type":"message","role":"user","content":)";
        head.input_json += v;
        head.input_json += "}]";
      } else if (v.front() == '[') {
        head.input_json = v;
      } else if (v == "null") {
        head.input_json = "[]";
      } else {
        return token_type_error("input", "a string or an array of input items", v);
      }
    }
  }
  if (!have_model) {
    return Error::invalid_request("Missing required parameter: 'model'.", "model", "missing_required_parameter");
  }
  out = std::move(head);
  return std::nullopt;
}

std::string replace_input(std::string_view body, std::string_view input_array_json) {
  std::vector<json::Member> members;
  if (!json::top_level_members(body, members)) return std::string(body);
  std::string out;
  out.reserve(body.size() + input_array_json.size() + 16);
  out.push_back('{');
  bool first = true;
  bool have_input = false;
  const auto add = [&](std::string_view name, std::string_view value) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(name);  // raw name text, escapes as the client wrote them
    out.append("\":");
    out.append(value);
  };
  for (const json::Member& member : members) {
    if (member.is("previous_response_id")) continue;
    if (member.is("input")) {
      if (have_input) continue;  // one input, where the first was
      have_input = true;
      add("input", input_array_json);
      continue;
    }
    add(member.name, member.value);
  }
  if (!have_input) add("input", input_array_json);
  out.push_back('}');
  return out;
}

std::optional<Error> parse_request(std::string_view body, ChatRequest& out) {
  return parse_client_request<RequestParser>(body, Api::OpenAIResponses, out);
}

std::string namespace_tool_name(std::string_view ns, std::string_view name) {
  std::string out;
  out.reserve(ns.size() + 2 + name.size());
  out.append(ns);
  out.append("__");
  out.append(name);
  return out;
}

// ---------------------------------------------------------------- whole answers

std::string render_response(const ChatResponse& response, const ResponseMeta& meta, const ChatRequest& request) {
  if (!response.raw.empty()) return response.raw;
  const std::shared_ptr<const ResponseContext> context = make_context(meta, request);
  std::string out;
  if (response.error) {
    append_response(out, *context, context->meta.id, "failed", nullptr, &*response.error, "[]", response.usage);
    return out;
  }
  std::string output;
  append_items(output, items_of(response, *context), meta.include_encrypted_reasoning);
  const Ending ending = ending_of(response.finish);
  append_response(out, *context, context->meta.id, ending.status, ending.incomplete_reason, nullptr, output,
                  response.usage);
  return out;
}

std::string output_items(const ChatResponse& response, const ResponseMeta& meta, const ChatRequest& request) {
  if (!response.raw.empty()) {
    const std::optional<std::string_view> output = json::find_member(response.raw, "output");
    return output ? compact(*output) : std::string("[]");
  }
  if (response.error) return "[]";
  const std::shared_ptr<const ResponseContext> context = make_context(meta, request);
  std::string out;
  append_items(out, items_of(response, *context), true);
  return out;
}

std::string render_error(const Error& error) { return openai::render_error(error); }

// ---------------------------------------------------------------- streamed answers

struct StreamRenderer::State {
  std::shared_ptr<const ResponseContext> context;  // shared by copies: never changes
  std::int64_t sequence = 0;                       // the next event's sequence_number
  bool started = false;
  bool done = false;
  std::vector<Item> items;  // output items in order; the last one may be open
  bool item_open = false;
  std::vector<std::pair<int, std::size_t>> calls;  // tool call event index -> position in items
  int open_call = -1;                              // event index of the open call item
  std::optional<Usage> usage;
  std::string response_id;
  std::string output_json;
  // Pass-through (Raw events).
  bool raw = false;
  sse::Reader raw_reader;
  std::optional<std::int64_t> raw_last_sequence;
  bool raw_terminal = false;
  std::string raw_response_id;

  bool include_encrypted() const { return context->meta.include_encrypted_reasoning; }
  std::size_t open_index() const { return items.size() - 1; }
  Item* open_item() { return item_open ? &items.back() : nullptr; }

  // ---- frames

  void begin_frame(std::string& out, std::string_view type) {
    out.append("event: ");
    out.append(type);
    out.append("\ndata: {\"type\":\"");
    out.append(type);
    out.append("\",\"sequence_number\":");
    append_int(out, sequence++);
  }
  static void end_frame(std::string& out) { out.append("}\n\n"); }

  // `,"item_id":..,"output_index":..` of the open item.
  void append_item_ref(std::string& out) {
    out.append(",\"item_id\":");
    json::append_quoted(out, items.back().id);
    out.append(",\"output_index\":");
    append_int(out, static_cast<std::int64_t>(open_index()));
  }

  void output_so_far(std::string& out, std::size_t count, bool include_encrypted) {
    out.push_back('[');
    for (std::size_t i = 0; i < count; ++i) {
      if (i != 0) out.push_back(',');
      append_item(out, items[i], true, include_encrypted);
    }
    out.push_back(']');
  }

  void response_frame(std::string& out, std::string_view type, std::string_view status, const char* incomplete_reason,
                      const Error* error, std::string_view output) {
    begin_frame(out, type);
    out.append(",\"response\":");
    append_response(out, *context, context->meta.id, status, incomplete_reason, error, output,
                    type == "response.created" || type == "response.in_progress" ? std::nullopt : usage);
    end_frame(out);
  }

  void ensure_started(std::string& out) {
    if (started) return;
    started = true;
    response_frame(out, "response.created", "in_progress", nullptr, nullptr, "[]");
    response_frame(out, "response.in_progress", "in_progress", nullptr, nullptr, "[]");
  }

  // ---- items

  void open(std::string& out, Item item) {
    items.push_back(std::move(item));
    item_open = true;
    begin_frame(out, "response.output_item.added");
    out.append(",\"output_index\":");
    append_int(out, static_cast<std::int64_t>(open_index()));
    out.append(",\"item\":");
    append_item(out, items.back(), false, include_encrypted());
    end_frame(out);
    // A message's one text part opens with it (a reasoning summary part
    // opens with its first text: there may be none).
    if (items.back().kind == Item::Kind::Message) {
      begin_frame(out, "response.content_part.added");
      append_item_ref(out);
      out.append(R"(,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""})");
      end_frame(out);
    }
  }

  void open_summary_part(std::string& out) {
    begin_frame(out, "response.reasoning_summary_part.added");
    append_item_ref(out);
    out.append(R"(,"summary_index":0,"part":{"type":"summary_text","text":""})");
    end_frame(out);
  }

  // Ends the open item with its done events.
  void close(std::string& out) {
    if (!item_open) return;
    item_open = false;
    open_call = -1;
    Item& item = items.back();
    switch (item.kind) {
      case Item::Kind::Message:
        begin_frame(out, "response.output_text.done");
        append_item_ref(out);
        out.append(",\"content_index\":0,\"text\":");
        json::append_quoted(out, item.text);
        out.append(",\"logprobs\":[]");
        end_frame(out);
        begin_frame(out, "response.content_part.done");
        append_item_ref(out);
        out.append(R"(,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":)");
        json::append_quoted(out, item.text);
        out.push_back('}');
        end_frame(out);
        break;
      case Item::Kind::Reasoning:
        if (!item.text.empty()) {
          begin_frame(out, "response.reasoning_summary_text.done");
          append_item_ref(out);
          out.append(",\"summary_index\":0,\"text\":");
          json::append_quoted(out, item.text);
          end_frame(out);
          begin_frame(out, "response.reasoning_summary_part.done");
          append_item_ref(out);
          out.append(R"(,"summary_index":0,"part":{"type":"summary_text","text":)");
          json::append_quoted(out, item.text);
          out.push_back('}');
          end_frame(out);
        }
        break;
      case Item::Kind::FunctionCall:
        begin_frame(out, "response.function_call_arguments.done");
        append_item_ref(out);
        out.append(",\"name\":");
        json::append_quoted(out, item.name);
        out.append(",\"arguments\":");
        json::append_quoted(out, client_arguments(item.text));
        end_frame(out);
        break;
      case Item::Kind::CustomToolCall:
        // The arguments were held whole: the input is unwrapped once, here.
        item.text = unwrap_freeform(item.arguments);
        if (!item.text.empty()) {
          begin_frame(out, "response.custom_tool_call_input.delta");
          append_item_ref(out);
          out.append(",\"delta\":");
          json::append_quoted(out, item.text);
          end_frame(out);
        }
        begin_frame(out, "response.custom_tool_call_input.done");
        append_item_ref(out);
        out.append(",\"input\":");
        json::append_quoted(out, item.text);
        end_frame(out);
        break;
    }
    begin_frame(out, "response.output_item.done");
    out.append(",\"output_index\":");
    append_int(out, static_cast<std::int64_t>(open_index()));
    out.append(",\"item\":");
    append_item(out, item, true, include_encrypted());
    end_frame(out);
  }

  // The open item when it is of `kind`, else a new one (the open one closed).
  Item& item_of_kind(std::string& out, Item::Kind kind) {
    if (item_open && items.back().kind == kind) return items.back();
    close(out);
    Item item;
    item.kind = kind;
    item.id = item_id(*context, kind, items.size());
    open(out, std::move(item));
    return items.back();
  }

  void text(std::string& out, const std::string& delta) {
    Item& item = item_of_kind(out, Item::Kind::Message);
    item.text += delta;
    begin_frame(out, "response.output_text.delta");
    append_item_ref(out);
    out.append(",\"content_index\":0,\"delta\":");
    json::append_quoted(out, delta);
    out.append(",\"logprobs\":[]");
    end_frame(out);
  }

  void reasoning(std::string& out, const std::string& delta) {
    Item& item = item_of_kind(out, Item::Kind::Reasoning);
    if (item.text.empty()) open_summary_part(out);
    item.text += delta;
    item.thinking.text += delta;
    begin_frame(out, "response.reasoning_summary_text.delta");
    append_item_ref(out);
    out.append(",\"summary_index\":0,\"delta\":");
    json::append_quoted(out, delta);
    end_frame(out);
  }

  // A signature closes the thinking block it signs.
  void signature(std::string& out, const std::string& signature) {
    Item& item = item_of_kind(out, Item::Kind::Reasoning);
    item.thinking.signature += signature;
    close(out);
  }

  void redacted(std::string& out, const std::string& data) {
    close(out);
    Item item;
    item.kind = Item::Kind::Reasoning;
    item.id = item_id(*context, item.kind, items.size());
    item.thinking.redacted_data = data;
    open(out, std::move(item));
    close(out);
  }

  void tool_call(std::string& out, const Event& event) {
    for (const auto& [index, position] : calls) {
      if (index != event.index) continue;
      Item& item = items[position];
      item.arguments += event.text;
      if (item.kind == Item::Kind::FunctionCall) {
        item.text = item.arguments;
      } else if (event.index != open_call) {
        item.text = unwrap_freeform(item.arguments);
      }
      // A late fragment of a closed call only completes the final output: its
      // done events are out (providers send a call's fragments together).
      if (event.index != open_call) return;
      if (item.kind == Item::Kind::FunctionCall && !event.text.empty()) {
        begin_frame(out, "response.function_call_arguments.delta");
        append_item_ref(out);
        out.append(",\"delta\":");
        json::append_quoted(out, event.text);
        end_frame(out);
      }
      return;
    }
    close(out);
    calls.emplace_back(event.index, items.size());
    Item item = call_item(*context, event.id, event.name, items.size());
    open(out, std::move(item));
    open_call = event.index;
    tool_call(out, event);  // its arguments, if this first fragment has some
  }

  void finish(std::string& out, FinishReason reason) {
    close(out);
    const Ending ending = ending_of(reason);
    output_json.clear();
    output_so_far(output_json, items.size(), true);
    std::string output;
    output_so_far(output, items.size(), include_encrypted());
    response_frame(out, ending.incomplete_reason ? "response.incomplete" : "response.completed", ending.status,
                   ending.incomplete_reason, nullptr, output);
    response_id = context->meta.id;
    done = true;
  }

  void fail(std::string& out, const Error& error) {
    ensure_started(out);
    // Items the client saw done stay in the output. An open message or
    // reasoning item stays too, as "incomplete" with the text the client
    // already has (what a final-response helper shows); an open call is
    // dropped: its arguments may not be whole, and nothing may run it.
    std::string output;
    output_so_far(output, item_open ? items.size() - 1 : items.size(), include_encrypted());
    if (item_open && (items.back().kind == Item::Kind::Message || items.back().kind == Item::Kind::Reasoning)) {
      output.pop_back();  // ']'
      if (output.size() > 1) output.push_back(',');
      append_item(output, items.back(), true, false, "\"incomplete\"");
      output.push_back(']');
    }
    response_frame(out, "response.failed", "failed", nullptr, &error, output);
    response_id = context->meta.id;
    output_json.clear();
    done = true;
  }

  // ---- pass-through

  void observe_raw_frame(std::string_view data) {
    if (const auto number = json::find_member(data, "sequence_number")) {
      std::int64_t n = 0;
      const char* number_end = number->data() + number->size();
      const auto [end, ec] = std::from_chars(number->data(), number_end, n);
      if (ec == std::errc() && end == number_end) raw_last_sequence = n;
    }
    const std::optional<EventResponse> event = event_response(data);
    if (!event) return;
    if (event->type == "response.created" && !event->response.empty()) {
      if (const auto id = json::find_member(event->response, "id")) decode_string(*id, raw_response_id);
    }
    if (!is_terminal_type(event->type)) return;
    raw_terminal = true;
    if (std::optional<CompletedResponse> completed = completed_response(data)) {
      if (!completed->id.empty()) raw_response_id = std::move(completed->id);
      output_json = event->type == "response.failed" ? std::string() : std::move(completed->output_json);
    }
  }

  void raw_bytes(std::string& out, const std::string& bytes) {
    out.append(bytes);
    raw = true;
    started = true;
    raw_reader.feed(bytes, [this](const sse::Message& message) { observe_raw_frame(message.data); });
  }

  void raw_error(std::string& out, const Error& error) {
    done = true;
    response_id = raw_response_id.empty() ? context->meta.id : raw_response_id;
    if (raw_terminal) return;  // the upstream's own terminal event is out
    output_json.clear();
    out.append("event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":");
    append_int(out, raw_last_sequence ? *raw_last_sequence + 1 : kUnknownSequence);
    out.append(",\"response\":");
    append_response(out, *context, response_id, "failed", nullptr, &error, "[]", usage);
    out.append("}\n\n");
  }
};

StreamRenderer::StreamRenderer(ResponseMeta meta, const ChatRequest& request) : state_(std::make_shared<State>()) {
  state_->context = make_context(std::move(meta), request);
  state_->response_id = state_->context->meta.id;
}

StreamRenderer::StreamRenderer(const StreamRenderer& other) : state_(std::make_shared<State>(*other.state_)) {}

StreamRenderer& StreamRenderer::operator=(const StreamRenderer& other) {
  if (this != &other) state_ = std::make_shared<State>(*other.state_);
  return *this;
}

void StreamRenderer::render(const Event& event, std::string& out) {
  State& s = *state_;
  if (s.done) return;
  switch (event.kind) {
    case Event::Kind::Role:
    case Event::Kind::Embedding:
      return;
    case Event::Kind::Usage:
      s.usage = event.usage;
      return;
    case Event::Kind::Raw:
      s.raw_bytes(out, event.text);
      return;
    case Event::Kind::TextDelta:
      if (event.text.empty() || s.raw) return;
      s.ensure_started(out);
      s.text(out, event.text);
      return;
    case Event::Kind::ReasoningDelta:
      if (event.text.empty() || s.raw) return;
      s.ensure_started(out);
      s.reasoning(out, event.text);
      return;
    case Event::Kind::ReasoningSignature:
      if (event.text.empty() || s.raw) return;
      s.ensure_started(out);
      s.signature(out, event.text);
      return;
    case Event::Kind::RedactedReasoning:
      if (event.text.empty() || s.raw) return;
      s.ensure_started(out);
      s.redacted(out, event.text);
      return;
    case Event::Kind::ToolCallDelta:
      if (s.raw) return;
      s.ensure_started(out);
      s.tool_call(out, event);
      return;
    case Event::Kind::Finish:
      if (s.raw) {
        s.done = true;
        s.response_id = s.raw_response_id.empty() ? s.context->meta.id : s.raw_response_id;
        return;
      }
      s.ensure_started(out);
      s.finish(out, event.finish);
      return;
    case Event::Kind::Error:
      if (s.raw) {
        s.raw_error(out, event.error);
      } else {
        s.fail(out, event.error);
      }
      return;
  }
}

bool StreamRenderer::done() const { return state_->done; }
const std::string& StreamRenderer::response_id() const { return state_->response_id; }
const std::string& StreamRenderer::output_json() const { return state_->output_json; }

// ---------------------------------------------------------------- upstream answers

std::optional<Usage> parse_usage(std::string_view usage_object) {
  rapidjson::Document doc;
  std::string what;
  if (!parse_json(usage_object, doc, what) || !doc.IsObject()) return std::nullopt;
  const std::optional<std::int64_t> input = int_member(doc, "input_tokens");
  const std::optional<std::int64_t> output = int_member(doc, "output_tokens");
  if (!input && !output) return std::nullopt;
  Usage u;
  u.input_tokens = input.value_or(0);
  u.output_tokens = output.value_or(0);
  if (const Value* details = find_object(doc, "input_tokens_details")) {
    u.cache_read_tokens = int_member(*details, "cached_tokens");
  }
  if (const Value* details = find_object(doc, "output_tokens_details")) {
    u.reasoning_tokens = int_member(*details, "reasoning_tokens");
  }
  return u;
}

std::optional<CompletedResponse> completed_response(std::string_view event_data) {
  const std::optional<EventResponse> event = event_response(trim(event_data));
  if (!event || !is_terminal_type(event->type) || event->response.empty() || event->response.front() != '{') {
    return std::nullopt;
  }
  std::vector<json::Member> members;
  if (!json::top_level_members(event->response, members)) return std::nullopt;
  CompletedResponse completed;
  completed.output_json = "[]";
  for (const json::Member& member : members) {
    if (member.is("id")) {
      decode_string(member.value, completed.id);
    } else if (member.is("output") && !member.value.empty() && member.value.front() == '[') {
      completed.output_json = compact(member.value);
    } else if (member.is("usage") && !member.value.empty() && member.value.front() == '{') {
      completed.usage = parse_usage(member.value);
    }
  }
  return completed;
}

}  // namespace llmux::responses
