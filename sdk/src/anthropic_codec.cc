// The Anthropic Messages codec (see llmux/codec/anthropic.h).
//
// Rendering is done by string appends (no DOM): the stream renderer is on the
// per-event hot path. Parsing uses the RapidJSON DOM through llmux/json.h.
#include "llmux/codec/anthropic.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "codec_common.h"
#include "llmux/json_scan.h"

namespace llmux::anthropic {

namespace {

using namespace codec;

// `head` (`{"type":"<x>_delta","<field>":`) + the quoted `text` + `}`.
// One SSE message with its event line; `data` is one line of JSON.
void append_frame(std::string& out, std::string_view event, std::string_view data) {
  out.append("event: ");
  out.append(event);
  out.append("\ndata: ");
  out.append(data);
  out.append("\n\n");
}

// The Anthropic usage object. Canonical input_tokens include cached tokens;
// Anthropic's exclude them.
void append_usage(std::string& out, const Usage& u, std::int64_t output_tokens) {
  std::int64_t input = u.input_tokens - u.cache_read_tokens.value_or(0) - u.cache_creation_tokens.value_or(0);
  if (input < 0) input = 0;
  out.append("{\"input_tokens\":");
  append_int(out, input);
  if (u.cache_creation_tokens) {
    out.append(",\"cache_creation_input_tokens\":");
    append_int(out, *u.cache_creation_tokens);
  }
  if (u.cache_read_tokens) {
    out.append(",\"cache_read_input_tokens\":");
    append_int(out, *u.cache_read_tokens);
  }
  out.append(",\"output_tokens\":");
  append_int(out, output_tokens);
  out.push_back('}');
}

Usage usage_of(const Value& usage) {
  Usage u;
  u.cache_creation_tokens = int_member(usage, "cache_creation_input_tokens");
  u.cache_read_tokens = int_member(usage, "cache_read_input_tokens");
  u.input_tokens = int_member(usage, "input_tokens").value_or(0) + u.cache_creation_tokens.value_or(0) +
                   u.cache_read_tokens.value_or(0);
  u.output_tokens = int_member(usage, "output_tokens").value_or(0);
  return u;
}

// `data:<media type>[;base64],<data>` split; false when `url` is not a base64 data: URI.
bool split_data_uri(std::string_view url, std::string_view& media_type, std::string_view& data) {
  if (url.substr(0, 5) != "data:") return false;
  const std::size_t comma = url.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view head = url.substr(5, comma - 5);
  constexpr std::string_view kBase64 = ";base64";
  if (head.size() < kBase64.size() || head.substr(head.size() - kBase64.size()) != kBase64) return false;
  head.remove_suffix(kBase64.size());
  if (const std::size_t semi = head.find(';'); semi != std::string_view::npos) head = head.substr(0, semi);
  media_type = head;
  data = url.substr(comma + 1);
  return true;
}

// An image (or document) part as an Anthropic block.
void append_image_block(std::string& out, const ContentPart& part) {
  std::string_view media_type, data;
  if (split_data_uri(part.image_url, media_type, data)) {
    const bool image = media_type.substr(0, 6) == "image/";
    out.append(image ? "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
                     : "{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":");
    json::append_quoted(out, media_type);
    out.append(",\"data\":");
    json::append_quoted(out, data);
    out.append("}}");
    return;
  }
  out.append("{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":");
  json::append_quoted(out, part.image_url);
  out.append("}}");
}

void append_tool_use_block(std::string& out, const ToolCall& call) {
  out.append("{\"type\":\"tool_use\",\"id\":");
  json::append_quoted(out, call.id);
  out.append(",\"name\":");
  json::append_quoted(out, call.name);
  out.append(",\"input\":");
  out.append(ToolInputRepair::repair(call.arguments));
  out.push_back('}');
}

// Content parts as a block list, empty text parts skipped (Anthropic refuses
// empty text blocks). Returns whether anything was written.
bool append_part_blocks(std::string& out, const std::vector<ContentPart>& parts, bool first) {
  for (const ContentPart& part : parts) {
    if (part.kind == ContentPart::Kind::Text && part.text.empty()) continue;
    if (!first) out.push_back(',');
    first = false;
    if (part.kind == ContentPart::Kind::Text) {
      append_text_block(out, part.text);
    } else {
      append_image_block(out, part);
    }
  }
  return !first;
}

// ---------------------------------------------------------------- request parsing

class RequestParser : public FieldChecker {
 public:
  bool parse(const Value& root, ChatRequest& r) {
    std::vector<Message> system;
    const bool ok = parse_members(root, r, [&](std::string_view name, const Value& v) -> std::optional<bool> {
      if (name == "messages") return parse_messages(v, r.messages);
      if (name == "system") return parse_system(v, system);
      if (name == "tools") return parse_tools(v, r.tools);
      if (name == "tool_choice") return parse_tool_choice(v, r);
      if (name == "top_k") return optional_int(v, "top_k", r.sampling.top_k);
      if (name == "max_tokens") return optional_int(v, "max_tokens", r.sampling.max_tokens);
      if (name == "stop_sequences") return parse_stop_sequences(v, r.sampling.stop);
      return std::nullopt;
    });
    if (!ok) return false;
    if (!system.empty()) {
      system.reserve(system.size() + r.messages.size());
      for (Message& m : r.messages) system.push_back(std::move(m));
      r.messages = std::move(system);
    }
    return true;
  }

 private:
  // `system`: a string, or an array of text blocks (one System message each).
  bool parse_system(const Value& v, std::vector<Message>& out) {
    out.clear();
    if (v.IsNull()) return true;
    if (v.IsString()) {
      if (v.GetStringLength() != 0) out.push_back(system_message(string_of(v)));
      return true;
    }
    if (!v.IsArray()) return type_error("system", "a string or an array of text blocks", v);
    for (rapidjson::SizeType k = 0; k < v.Size(); ++k) {
      const std::string path = "system[" + std::to_string(k) + "]";
      std::string type;
      if (!typed_object(v[k], path, type)) return false;
      if (type != "text") return unsupported(path + ".type", type, "is not supported in 'system' (supported: 'text').");
      std::string text;
      if (!required_string(v[k], path, "text", text)) return false;
      out.push_back(system_message(std::move(text)));
    }
    return true;
  }
  static Message system_message(std::string text) {
    Message m;
    m.role = Role::System;
    m.content_was_string = true;
    m.content.push_back(ContentPart::make_text(std::move(text)));
    return m;
  }

  bool parse_messages(const Value& v, std::vector<Message>& out) {
    if (!messages_array(v, out)) return false;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (!parse_message(v[i], "messages[" + std::to_string(i) + "]", out)) return false;
    }
    return true;
  }

  bool parse_message(const Value& v, const std::string& path, std::vector<Message>& out) {
    if (!v.IsObject()) return type_error(path, "an object", v);
    std::string role;
    if (!required_string(v, path, "role", role)) return false;
    Role r;
    if (role == "user") {
      r = Role::User;
    } else if (role == "assistant") {
      r = Role::Assistant;
    } else if (role == "system") {
      r = Role::System;
    } else {
      return unsupported(path + ".role", role, "is not one of 'user', 'assistant', 'system'.");
    }
    const Value* content = find(v, "content");
    const std::string content_path = path + ".content";
    if (content == nullptr) return missing(content_path);
    if (content->IsString()) {
      Message& m = out.emplace_back();
      m.role = r;
      m.content_was_string = true;
      m.content.push_back(ContentPart::make_text(string_of(*content)));
      return true;
    }
    if (!content->IsArray()) return type_error(content_path, "a string or an array of content blocks", *content);

    // Tool results come first (one Tool message each), then the turn's other blocks.
    const std::size_t tool_results_before = out.size();
    Message m;
    m.role = r;
    m.content_was_string = false;
    for (rapidjson::SizeType j = 0; j < content->Size(); ++j) {
      const std::string block_path = content_path + "[" + std::to_string(j) + "]";
      const Value& b = (*content)[j];
      std::string type;
      if (!typed_object(b, block_path, type)) return false;
      if (type == "text") {
        std::string text;
        if (!required_string(b, block_path, "text", text)) return false;
        m.content.push_back(ContentPart::make_text(std::move(text)));
      } else if (type == "image" || type == "document") {
        if (r == Role::Assistant) return misplaced(block_path, type, "user");
        ContentPart part;
        if (!parse_source(b, block_path, type, part)) return false;
        m.content.push_back(std::move(part));
      } else if (type == "tool_use") {
        if (r != Role::Assistant) return misplaced(block_path, type, "assistant");
        if (!parse_tool_use(b, block_path, m.tool_calls.emplace_back())) return false;
      } else if (type == "tool_result") {
        if (r != Role::User) return misplaced(block_path, type, "user");
        if (!parse_tool_result(b, block_path, out.emplace_back())) return false;
      } else if (type == "thinking") {
        if (r != Role::Assistant) return misplaced(block_path, type, "assistant");
        ThinkingBlock& t = m.thinking.emplace_back();
        if (!required_string(b, block_path, "thinking", t.text)) return false;
        if (!optional_string(b, block_path, "signature", t.signature)) return false;
      } else if (type == "redacted_thinking") {
        if (r != Role::Assistant) return misplaced(block_path, type, "assistant");
        ThinkingBlock& t = m.thinking.emplace_back();
        if (!required_string(b, block_path, "data", t.redacted_data)) return false;
      }
      // Other block types (server tool blocks, search results, ...) are skipped.
    }
    // A turn of only tool results needs no user message after them.
    if (out.size() != tool_results_before && m.content.empty()) return true;
    if (r == Role::Assistant && m.content.empty() && !m.tool_calls.empty()) m.content_was_null = true;
    out.push_back(std::move(m));
    return true;
  }

  bool misplaced(const std::string& path, const std::string& type, const char* role) {
    return unsupported(path + ".type", type, std::string("blocks are only allowed in ") + role + " messages.");
  }

  // An image or document block's `source` -> an image part (data: URI or URL);
  // a document with a text source becomes a text part.
  bool parse_source(const Value& b, const std::string& path, const std::string& type, ContentPart& part) {
    const Value* source = find(b, "source");
    const std::string source_path = path + ".source";
    if (source == nullptr) return missing(source_path);
    std::string source_type;
    if (!typed_object(*source, source_path, source_type)) return false;
    if (source_type == "base64") {
      std::string media_type, data;
      if (!required_string(*source, source_path, "media_type", media_type) ||
          !required_string(*source, source_path, "data", data)) {
        return false;
      }
      part.kind = ContentPart::Kind::Image;
      part.image_url.reserve(media_type.size() + data.size() + 13);
      part.image_url = "data:";
      part.image_url += media_type;
      part.image_url += ";base64,";
      part.image_url += data;
      return true;
    }
    if (source_type == "url") {
      part.kind = ContentPart::Kind::Image;
      return required_string(*source, source_path, "url", part.image_url);
    }
    if (source_type == "text" && type == "document") {
      part.kind = ContentPart::Kind::Text;
      return required_string(*source, source_path, "data", part.text);
    }
    return unsupported(source_path + ".type", source_type,
                       type == "document" ? "is not a supported document source (supported: 'base64', 'url', 'text')."
                                          : "is not a supported image source (supported: 'base64', 'url').");
  }

  bool parse_tool_use(const Value& b, const std::string& path, ToolCall& call) {
    if (!required_string(b, path, "id", call.id) || !required_string(b, path, "name", call.name)) return false;
    const Value* input = find(b, "input");
    if (input == nullptr) return missing(path + ".input");
    if (!input->IsObject()) return type_error(path + ".input", "an object", *input);
    call.arguments = json::to_string(*input);
    return true;
  }

  bool parse_tool_result(const Value& b, const std::string& path, Message& m) {
    m.role = Role::Tool;
    m.content_was_string = true;
    if (!required_string(b, path, "tool_use_id", m.tool_call_id)) return false;
    if (const Value* is_error = find(b, "is_error")) {
      std::optional<bool> flag;
      if (!optional_bool(*is_error, path + ".is_error", flag)) return false;
      m.tool_error = flag.value_or(false);
    }
    const Value* content = find_set(b, "content");
    if (content == nullptr) return true;
    if (content->IsString()) {
      m.content.push_back(ContentPart::make_text(string_of(*content)));
      return true;
    }
    const std::string content_path = path + ".content";
    if (!content->IsArray()) return type_error(content_path, "a string or an array of content blocks", *content);
    bool only_text = true;
    for (rapidjson::SizeType k = 0; k < content->Size(); ++k) {
      const std::string block_path = content_path + "[" + std::to_string(k) + "]";
      std::string type;
      if (!typed_object((*content)[k], block_path, type)) return false;
      if (type == "text") {
        std::string text;
        if (!required_string((*content)[k], block_path, "text", text)) return false;
        m.content.push_back(ContentPart::make_text(std::move(text)));
      } else if (type == "image" || type == "document") {
        ContentPart part;
        if (!parse_source((*content)[k], block_path, type, part)) return false;
        only_text = only_text && part.kind == ContentPart::Kind::Text;
        m.content.push_back(std::move(part));
      }
      // Other block types (search results, ...) are skipped.
    }
    if (only_text) {
      // Text only: one plain string, the form every tool-message consumer takes.
      std::string joined;
      for (std::size_t k = 0; k < m.content.size(); ++k) {
        if (k != 0) joined.push_back('\n');
        joined += m.content[k].text;
      }
      m.content.clear();
      if (!content->Empty()) m.content.push_back(ContentPart::make_text(std::move(joined)));
    } else {
      m.content_was_string = false;
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
      if (!t.IsObject()) return type_error(path, "an object", t);
      if (const Value* type = find_set(t, "type")) {
        if (!type->IsString()) return type_error(path + ".type", "a string", *type);
        if (view_of(*type) != "custom") continue;  // a server tool: only Anthropic runs it
      }
      Tool& tool = out.emplace_back();
      if (!required_string(t, path, "name", tool.name)) return false;
      if (!optional_string(t, path, "description", tool.description)) return false;
      const Value* schema = find(t, "input_schema");
      if (schema == nullptr) return missing(path + ".input_schema");
      if (!schema->IsObject()) return type_error(path + ".input_schema", "an object", *schema);
      tool.parameters_json = json::to_string(*schema);
      if (const Value* strict = find(t, "strict")) {
        if (!optional_bool(*strict, path + ".strict", tool.strict)) return false;
      }
    }
    return true;
  }

  bool parse_tool_choice(const Value& v, ChatRequest& r) {
    if (v.IsNull()) return true;
    std::string type;
    if (!typed_object(v, "tool_choice", type)) return false;
    if (type == "auto") {
      r.tool_choice.mode = ToolChoice::Mode::Auto;
    } else if (type == "any") {
      r.tool_choice.mode = ToolChoice::Mode::Required;
    } else if (type == "none") {
      r.tool_choice.mode = ToolChoice::Mode::None;
    } else if (type == "tool") {
      if (!required_string(v, "tool_choice", "name", r.tool_choice.function_name)) return false;
      r.tool_choice.mode = ToolChoice::Mode::Function;
    } else {
      return unsupported("tool_choice.type", type, "is not one of 'auto', 'any', 'tool', 'none'.");
    }
    if (const Value* d = find(v, "disable_parallel_tool_use")) {
      std::optional<bool> disable;
      if (!optional_bool(*d, "tool_choice.disable_parallel_tool_use", disable)) return false;
      if (disable) r.parallel_tool_calls = !*disable;
    }
    return true;
  }

  bool parse_stop_sequences(const Value& v, std::vector<std::string>& out) {
    out.clear();
    if (v.IsNull()) return true;
    if (!v.IsArray()) return type_error("stop_sequences", "an array of strings", v);
    return string_elements(v, "stop_sequences", out);
  }
};

// The request members render_messages_request writes itself; an `extra` entry
// with one of these names is skipped rather than written twice.
constexpr std::string_view kModeledMembers[] = {"model", "max_tokens", "system", "messages", "tools", "tool_choice",
                                                "temperature", "top_p", "top_k", "stop_sequences", "stream"};

// One message's content as Anthropic blocks (or a string).
void append_user_content(std::string& out, const Message& m) {
  if (plain_text(m)) {
    json::append_quoted(out, m.content.front().text);
    return;
  }
  if (m.content.empty()) {
    out.append("\"\"");
    return;
  }
  out.push_back('[');
  if (!append_part_blocks(out, m.content, true)) append_text_block(out, " ");  // only empty texts
  out.push_back(']');
}

// Thinking blocks Anthropic can verify: redacted ones and signed ones (thinking
// that another family produced has no signature and would be refused).
bool replayable(const ThinkingBlock& t) { return t.redacted() || !t.signature.empty(); }

void append_assistant_content(std::string& out, const Message& m, bool replay_thinking) {
  const bool thinking = replay_thinking && std::any_of(m.thinking.begin(), m.thinking.end(), replayable);
  if (!thinking && m.tool_calls.empty() && plain_text(m)) {
    json::append_quoted(out, m.content.front().text);
    return;
  }
  out.push_back('[');
  bool first = true;
  if (thinking) {
    for (const ThinkingBlock& t : m.thinking) {
      if (!replayable(t)) continue;
      if (!first) out.push_back(',');
      first = false;
      if (t.redacted()) {
        out.append("{\"type\":\"redacted_thinking\",\"data\":");
        json::append_quoted(out, t.redacted_data);
      } else {
        out.append("{\"type\":\"thinking\",\"thinking\":");
        json::append_quoted(out, t.text);
        out.append(",\"signature\":");
        json::append_quoted(out, t.signature);
      }
      out.push_back('}');
    }
  }
  first = !append_part_blocks(out, m.content, first) && first;
  for (const ToolCall& call : m.tool_calls) {
    if (!first) out.push_back(',');
    first = false;
    append_tool_use_block(out, call);
  }
  out.push_back(']');
}

void append_tool_result(std::string& out, const Message& m) {
  out.append("{\"type\":\"tool_result\",\"tool_use_id\":");
  json::append_quoted(out, m.tool_call_id);
  out.append(",\"content\":");
  bool plain = m.content_was_string || m.content.empty();
  for (const ContentPart& p : m.content) plain = plain && p.kind == ContentPart::Kind::Text;
  if (plain) {
    json::append_quoted(out, m.text());
  } else {
    out.push_back('[');
    append_part_blocks(out, m.content, true);
    out.push_back(']');
  }
  if (m.tool_error) out.append(",\"is_error\":true");
  out.push_back('}');
}

// Code points in `s` (UTF-8 continuation bytes not counted).
std::int64_t code_points(std::string_view s) {
  std::int64_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

// ---------------------------------------------------------------- requests

std::optional<Error> parse_messages_request(std::string_view body, ChatRequest& out) {
  return parse_client_request<RequestParser>(body, Api::Anthropic, out);
}

std::string render_messages_request(const ChatRequest& request, const RequestRenderOptions& options) {
  std::string out = open_request_body(request);
  out.append(",\"max_tokens\":");
  append_int(out, request.sampling.max_tokens.value_or(options.default_max_tokens));

  // System and developer messages, wherever they are, make the top-level system.
  std::size_t system_count = 0;
  const Message* only_system = nullptr;
  for (const Message& m : request.messages) {
    if (m.role == Role::System || m.role == Role::Developer) {
      ++system_count;
      only_system = &m;
    }
  }
  if (system_count == 1 && only_system->content_was_string) {
    out.append(",\"system\":");
    json::append_quoted(out, only_system->text());
  } else if (system_count != 0) {
    out.append(",\"system\":[");
    bool first = true;
    for (const Message& m : request.messages) {
      if (m.role != Role::System && m.role != Role::Developer) continue;
      for (const ContentPart& p : m.content) {
        if (p.kind != ContentPart::Kind::Text || p.text.empty()) continue;
        if (!first) out.push_back(',');
        first = false;
        append_text_block(out, p.text);
      }
    }
    out.push_back(']');
  }

  // Thinking reaches a Responses request only from llmux's own reasoning
  // items (Anthropic thinking it rendered), so it is replayed too.
  const bool replay_thinking =
      request.source_api == Api::Anthropic || request.source_api == Api::OpenAIResponses;
  out.append(",\"messages\":[");
  bool first = true;
  bool in_tool_results = false;  // an open user turn of tool_result blocks
  for (const Message& m : request.messages) {
    if (m.role == Role::System || m.role == Role::Developer) continue;
    if (m.role == Role::Tool) {
      if (!in_tool_results) {
        if (!first) out.push_back(',');
        first = false;
        out.append("{\"role\":\"user\",\"content\":[");
        in_tool_results = true;
      } else {
        out.push_back(',');
      }
      append_tool_result(out, m);
      continue;
    }
    if (in_tool_results) {
      out.append("]}");
      in_tool_results = false;
    }
    if (!first) out.push_back(',');
    first = false;
    if (m.role == Role::Assistant) {
      out.append("{\"role\":\"assistant\",\"content\":");
      append_assistant_content(out, m, replay_thinking);
    } else {
      out.append("{\"role\":\"user\",\"content\":");
      append_user_content(out, m);
    }
    out.push_back('}');
  }
  if (in_tool_results) out.append("]}");
  out.push_back(']');

  if (!request.tools.empty()) {
    out.append(",\"tools\":[");
    for (std::size_t i = 0; i < request.tools.size(); ++i) {
      const Tool& t = request.tools[i];
      if (i != 0) out.push_back(',');
      out.push_back('{');
      append_tool_name(out, t);
      out.append(",\"input_schema\":");
      // Anthropic requires an object schema; OpenAI tools may have none.
      const std::string_view schema = trim(t.parameters_json);
      if (schema.empty() || schema == "{}") {
        out.append("{\"type\":\"object\",\"properties\":{}}");
      } else {
        out.append(schema);
      }
      out.push_back('}');
    }
    out.push_back(']');
    const bool no_parallel = request.parallel_tool_calls.has_value() && !*request.parallel_tool_calls;
    const char* type = nullptr;
    switch (request.tool_choice.mode) {
      case ToolChoice::Mode::Unset: type = no_parallel ? "auto" : nullptr; break;
      case ToolChoice::Mode::Auto: type = "auto"; break;
      case ToolChoice::Mode::None: type = "none"; break;
      case ToolChoice::Mode::Required: type = "any"; break;
      case ToolChoice::Mode::Function: type = "tool"; break;
    }
    if (type != nullptr) {
      out.append(",\"tool_choice\":{\"type\":\"");
      out.append(type);
      out.push_back('"');
      if (request.tool_choice.mode == ToolChoice::Mode::Function) {
        out.append(",\"name\":");
        json::append_quoted(out, request.tool_choice.function_name);
      }
      if (no_parallel && request.tool_choice.mode != ToolChoice::Mode::None) {
        out.append(",\"disable_parallel_tool_use\":true");
      }
      out.push_back('}');
    }
  }

  const Sampling& s = request.sampling;
  if (s.temperature) {
    out.append(",\"temperature\":");
    append_double(out, std::isfinite(*s.temperature) ? std::clamp(*s.temperature, 0.0, 1.0) : *s.temperature);
  }
  if (s.top_p) {
    out.append(",\"top_p\":");
    append_double(out, *s.top_p);
  }
  if (s.top_k) {
    out.append(",\"top_k\":");
    append_int(out, *s.top_k);
  }
  bool any_stop = false;
  for (const std::string& stop : s.stop) {
    if (trim(stop).empty()) continue;  // Anthropic refuses whitespace-only stop sequences
    out.append(any_stop ? "," : ",\"stop_sequences\":[");
    any_stop = true;
    json::append_quoted(out, stop);
  }
  if (any_stop) out.push_back(']');
  if (request.stream) out.append(",\"stream\":true");
  // request.response_format and request.reasoning are not rendered: Messages
  // has no structured-output member, and thinking is the provider's choice.
  if (request.source_api == Api::Anthropic) append_extra(out, request.extra, kModeledMembers);
  out.push_back('}');
  return out;
}

std::string replace_model(std::string_view body, std::string_view model) {
  std::string quoted;
  json::append_quoted(quoted, model);
  std::string out;
  out.reserve(body.size() + quoted.size() + 12);
  if (json::append_with_member(out, body, "model", quoted)) return out;
  // No "model" member, or not an object the scanner reads.
  std::vector<json::Member> members;
  if (!json::top_level_members(body, members)) return std::string(body);
  const std::size_t open = body.find('{');
  out.append(body.substr(0, open + 1));
  out.append("\"model\":");
  out.append(quoted);
  if (!members.empty()) out.push_back(',');
  out.append(body.substr(open + 1));
  return out;
}

// ---------------------------------------------------------------- tool input repair

void ToolInputRepair::after_value() {
  if (stack_.empty()) {
    expect_ = Expect::Done;
  } else {
    expect_ = stack_.back() == '{' ? Expect::ObjCommaOrEnd : Expect::ArrCommaOrEnd;
  }
}

bool ToolInputRepair::value_start(unsigned char c, std::string& out) {
  switch (c) {
    case '"': lex_ = Lex::String; key_ = false; break;
    case '{': stack_.push_back('{'); expect_ = Expect::ObjKeyOrEnd; break;
    case '[': stack_.push_back('['); expect_ = Expect::ArrValueOrEnd; break;
    case '-': lex_ = Lex::Number; num_ = Num::Minus; break;
    case '0': lex_ = Lex::Number; num_ = Num::Zero; break;
    case 't': lex_ = Lex::Literal; literal_ = "rue"; break;
    case 'f': lex_ = Lex::Literal; literal_ = "alse"; break;
    case 'n': lex_ = Lex::Literal; literal_ = "ull"; break;
    default:
      if (c < '1' || c > '9') return false;
      lex_ = Lex::Number;
      num_ = Num::Int;
  }
  out.push_back(static_cast<char>(c));
  return true;
}

bool ToolInputRepair::structural(unsigned char c, std::string& out) {
  if (is_space(static_cast<char>(c))) {
    // Leading and trailing whitespace is dropped; inner whitespace is kept.
    if (expect_ != Expect::TopValue && expect_ != Expect::Done) out.push_back(static_cast<char>(c));
    return true;
  }
  const auto push = [&](Expect next) {
    out.push_back(static_cast<char>(c));
    expect_ = next;
    return true;
  };
  const auto close = [&]() {
    out.push_back(static_cast<char>(c));
    stack_.pop_back();
    after_value();
    return true;
  };
  switch (expect_) {
    case Expect::TopValue:
      if (c != '{') return false;
      stack_.push_back('{');
      return push(Expect::ObjKeyOrEnd);
    case Expect::ObjKeyOrEnd:
      if (c == '}') return close();
      [[fallthrough]];
    case Expect::ObjKey:
      if (c != '"') return false;
      lex_ = Lex::String;
      key_ = true;
      out.push_back('"');
      return true;
    case Expect::ObjColon:
      if (c != ':') return false;
      return push(Expect::ObjValue);
    case Expect::ObjCommaOrEnd:
      if (c == ',') return push(Expect::ObjKey);
      if (c == '}') return close();
      return false;
    case Expect::ArrValueOrEnd:
      if (c == ']') return close();
      [[fallthrough]];
    case Expect::ObjValue:
    case Expect::ArrValue:
      return value_start(c, out);
    case Expect::ArrCommaOrEnd:
      if (c == ',') return push(Expect::ArrValue);
      if (c == ']') return close();
      return false;
    case Expect::Done:
      return false;
  }
  return false;
}

bool ToolInputRepair::step(unsigned char c, std::string& out) {
  switch (lex_) {
    case Lex::None:
      return structural(c, out);
    case Lex::String:
      if (utf8_need_ > 0) {
        // A continuation byte; the first one also rules out overlongs and surrogates.
        if ((c & 0xC0) != 0x80) return false;
        if (utf8_.size() == 1) {
          const unsigned char lead = static_cast<unsigned char>(utf8_[0]);
          if ((lead == 0xE0 && c < 0xA0) || (lead == 0xED && c >= 0xA0) || (lead == 0xF0 && c < 0x90) ||
              (lead == 0xF4 && c >= 0x90)) {
            return false;
          }
        }
        utf8_.push_back(static_cast<char>(c));
        if (--utf8_need_ == 0) {
          out += utf8_;
          utf8_.clear();
        }
        return true;
      }
      if (c >= 0x80) {
        if (c >= 0xC2 && c <= 0xDF) {
          utf8_need_ = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
          utf8_need_ = 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
          utf8_need_ = 3;
        } else {
          return false;
        }
        utf8_.assign(1, static_cast<char>(c));
        return true;
      }
      if (c < 0x20) return false;
      out.push_back(static_cast<char>(c));
      if (c == '\\') {
        lex_ = Lex::Escape;
      } else if (c == '"') {
        lex_ = Lex::None;
        if (key_) {
          expect_ = Expect::ObjColon;
        } else {
          after_value();
        }
      }
      return true;
    case Lex::Escape:
      if (c == 'u') {
        lex_ = Lex::Unicode;
        unicode_left_ = 4;
      } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
        lex_ = Lex::String;
      } else {
        return false;
      }
      out.push_back(static_cast<char>(c));
      return true;
    case Lex::Unicode:
      if (!std::isxdigit(c)) return false;
      out.push_back(static_cast<char>(c));
      if (--unicode_left_ == 0) lex_ = Lex::String;
      return true;
    case Lex::Literal:
      if (c != static_cast<unsigned char>(*literal_)) return false;
      out.push_back(static_cast<char>(c));
      if (*++literal_ == '\0') {
        lex_ = Lex::None;
        after_value();
      }
      return true;
    case Lex::Number: {
      const bool digit = c >= '0' && c <= '9';
      Num next = num_;
      bool ok = true;
      switch (num_) {
        case Num::Minus: ok = digit; next = c == '0' ? Num::Zero : Num::Int; break;
        case Num::Zero:
          if (c == '.') next = Num::Dot;
          else if (c == 'e' || c == 'E') next = Num::E;
          else ok = false;
          break;
        case Num::Int:
          if (digit) next = Num::Int;
          else if (c == '.') next = Num::Dot;
          else if (c == 'e' || c == 'E') next = Num::E;
          else ok = false;
          break;
        case Num::Dot: ok = digit; next = Num::Frac; break;
        case Num::Frac:
          if (digit) next = Num::Frac;
          else if (c == 'e' || c == 'E') next = Num::E;
          else ok = false;
          break;
        case Num::E:
          if (c == '+' || c == '-') next = Num::ESign;
          else if (digit) next = Num::Exp;
          else ok = false;
          break;
        case Num::ESign: ok = digit; next = Num::Exp; break;
        case Num::Exp: ok = digit; next = Num::Exp; break;
      }
      if (ok) {
        num_ = next;
        out.push_back(static_cast<char>(c));
        return true;
      }
      // Not part of the number: it ends here if it may, and `c` is structural.
      if (num_ == Num::Minus || num_ == Num::Dot || num_ == Num::E || num_ == Num::ESign) return false;
      lex_ = Lex::None;
      after_value();
      return structural(c, out);
    }
  }
  return false;
}

std::string ToolInputRepair::feed(std::string_view fragment) {
  std::string out;
  if (failed_) return out;
  for (const char ch : fragment) {
    if (!step(static_cast<unsigned char>(ch), out)) {
      failed_ = true;
      utf8_.clear();  // a sequence cut by the failure is never written
      utf8_need_ = 0;
      break;
    }
  }
  return out;
}

std::string ToolInputRepair::completion() const {
  std::string out;
  Expect expect = expect_;
  switch (lex_) {
    case Lex::None:
      break;
    case Lex::String:
    case Lex::Escape:
    case Lex::Unicode:
      if (lex_ == Lex::Escape) out.push_back('\\');  // "\" + "\" is an escaped backslash
      if (lex_ == Lex::Unicode) out.append(static_cast<std::size_t>(unicode_left_), '0');
      out.push_back('"');
      if (key_) {
        expect = Expect::ObjColon;
      } else {
        expect = stack_.back() == '{' ? Expect::ObjCommaOrEnd : Expect::ArrCommaOrEnd;
      }
      break;
    case Lex::Number:
      if (num_ == Num::Minus || num_ == Num::Dot || num_ == Num::E || num_ == Num::ESign) out.push_back('0');
      expect = stack_.back() == '{' ? Expect::ObjCommaOrEnd : Expect::ArrCommaOrEnd;
      break;
    case Lex::Literal:
      out.append(literal_);
      expect = stack_.back() == '{' ? Expect::ObjCommaOrEnd : Expect::ArrCommaOrEnd;
      break;
  }
  switch (expect) {
    case Expect::TopValue: return "{}";
    case Expect::Done: return out;
    case Expect::ObjKeyOrEnd:
    case Expect::ObjCommaOrEnd: out.push_back('}'); break;
    case Expect::ObjKey: out.append("\"\":null}"); break;
    case Expect::ObjColon: out.append(":null}"); break;
    case Expect::ObjValue: out.append("null}"); break;
    case Expect::ArrValueOrEnd:
    case Expect::ArrCommaOrEnd: out.push_back(']'); break;
    case Expect::ArrValue: out.append("null]"); break;
  }
  for (std::size_t k = stack_.size() - 1; k-- > 0;) out.push_back(stack_[k] == '{' ? '}' : ']');
  return out;
}

std::string ToolInputRepair::repair(std::string_view arguments) {
  ToolInputRepair r;
  std::string out = r.feed(arguments);
  out += r.completion();
  return out;
}

// ---------------------------------------------------------------- answers to the client

const char* stop_reason(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::Stop: return "end_turn";
    case FinishReason::Length: return "max_tokens";
    case FinishReason::ToolCalls: return "tool_use";
    case FinishReason::ContentFilter: return "refusal";
    case FinishReason::StopSequence: return "stop_sequence";
  }
  return "end_turn";
}

std::string render_message(const ChatResponse& response, const MessageMeta& meta) {
  if (!response.raw.empty()) return response.raw;
  std::string out;
  out.reserve(320 + response.text.size() + response.reasoning.size() + response.reasoning_signature.size() +
              response.tool_calls.size() * 128);
  out.append("{\"id\":");
  json::append_quoted(out, meta.id);
  out.append(",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
  json::append_quoted(out, meta.model);
  out.append(",\"content\":[");
  bool first = true;
  const auto sep = [&]() {
    if (!first) out.push_back(',');
    first = false;
  };
  for (const std::string& data : response.redacted_reasoning) {
    sep();
    out.append("{\"type\":\"redacted_thinking\",\"data\":");
    json::append_quoted(out, data);
    out.push_back('}');
  }
  if (!response.reasoning.empty() || !response.reasoning_signature.empty()) {
    sep();
    out.append("{\"type\":\"thinking\",\"thinking\":");
    json::append_quoted(out, response.reasoning);
    out.append(",\"signature\":");
    json::append_quoted(out, response.reasoning_signature);
    out.push_back('}');
  }
  if (!response.text.empty()) {
    sep();
    append_text_block(out, response.text);
  }
  for (const ToolCall& call : response.tool_calls) {
    sep();
    append_tool_use_block(out, call);
  }
  out.append("],\"stop_reason\":\"");
  out.append(stop_reason(response.finish.value_or(FinishReason::Stop)));
  out.append("\",\"stop_sequence\":null,\"usage\":");
  if (response.usage) {
    append_usage(out, *response.usage, response.usage->output_tokens);
  } else {
    Usage estimate;
    estimate.input_tokens = std::max<std::int64_t>(1, meta.estimated_input_tokens);
    append_usage(out, estimate, 0);
  }
  out.push_back('}');
  return out;
}

std::string_view error_type(const Error& error) {
  if (error.status == 413) return "request_too_large";
  if (error.status == 529) return "overloaded_error";
  static constexpr std::string_view kAnthropicTypes[] = {
      "invalid_request_error", "authentication_error", "permission_error", "not_found_error", "request_too_large",
      "rate_limit_error",      "api_error",            "overloaded_error", "billing_error",   "timeout_error"};
  for (const std::string_view t : kAnthropicTypes) {
    if (error.code == t) return t;
  }
  for (const std::string_view t : kAnthropicTypes) {
    if (error.type == t) return t;
  }
  if (error.type == "insufficient_quota" || error.code == "insufficient_quota") return "billing_error";
  switch (error.status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: break;
  }
  if (error.status >= 400 && error.status < 500) return "invalid_request_error";
  return "api_error";
}

std::string render_error(const Error& error) {
  std::string out = "{\"type\":\"error\",\"error\":{\"type\":\"";
  out.append(error_type(error));
  out.append("\",\"message\":");
  json::append_quoted(out, error.message);
  out.append("}}");
  return out;
}

namespace {

// True when the whole SSE events in `sse` include one named "error" (an
// `event:` field at a line start; JSON data cannot hold a raw line break).
bool names_error_event(std::string_view sse) {
  static constexpr std::string_view kField = "event:";
  static constexpr std::string_view kName = "error";
  for (std::size_t at = sse.find(kField); at != std::string_view::npos; at = sse.find(kField, at + 1)) {
    if (at != 0 && sse[at - 1] != '\n' && sse[at - 1] != '\r') continue;
    std::size_t value = at + kField.size();
    if (value < sse.size() && sse[value] == ' ') ++value;
    const std::size_t end = value + kName.size();
    if (sse.substr(value, kName.size()) == kName && (end == sse.size() || sse[end] == '\n' || sse[end] == '\r')) {
      return true;
    }
  }
  return false;
}

}  // namespace

StreamRenderer::StreamRenderer(MessageMeta meta) : meta_(std::move(meta)) {}

void StreamRenderer::ensure_started(std::string& out) {
  if (started_) return;
  started_ = true;
  std::string data = "{\"type\":\"message_start\",\"message\":{\"id\":";
  json::append_quoted(data, meta_.id);
  data.append(",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
  json::append_quoted(data, meta_.model);
  data.append(",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
  if (usage_) {
    append_usage(data, *usage_, 1);
  } else {
    Usage estimate;
    estimate.input_tokens = std::max<std::int64_t>(1, meta_.estimated_input_tokens);
    append_usage(data, estimate, 1);
  }
  data.append("}}");
  append_frame(out, "message_start", data);
  append_frame(out, "ping", "{\"type\":\"ping\"}");
}

void StreamRenderer::open_block(Block kind, std::string& out, std::string_view content_block_json) {
  close_block(out);
  block_ = kind;
  ++block_index_;
  out.append("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":");
  append_int(out, block_index_);
  out.append(",\"content_block\":");
  out.append(content_block_json);
  out.append("}\n\n");
}

void StreamRenderer::close_block(std::string& out) {
  if (block_ == Block::None) return;
  if (block_ == Block::Tool) {
    // The call's input always ends a whole JSON object.
    const std::string rest = tool_input_.completion();
    if (!rest.empty()) {
      delta(out, "{\"type\":\"input_json_delta\",\"partial_json\":", rest);
    }
  }
  out.append("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":");
  append_int(out, block_index_);
  out.append("}\n\n");
  block_ = Block::None;
}

// `{..."delta":<head><text quoted>}}`, straight into `out`.
void StreamRenderer::delta(std::string& out, std::string_view head, std::string_view text) {
  out.append("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":");
  append_int(out, block_index_);
  out.append(",\"delta\":");
  out.append(head);
  json::append_quoted(out, text);
  out.append("}}\n\n");
}

void StreamRenderer::tool_delta(const Event& event, std::string& out) {
  if (block_ != Block::Tool || event.index != tool_index_) {
    for (const int seen : tool_calls_seen_) {
      if (seen == event.index) return;  // its block is closed: a late fragment is dropped
    }
    tool_calls_seen_.push_back(event.index);
    std::string id = event.id;
    if (id.empty()) {  // clients answer tool calls by id: make one
      id = "toolu_";
      id += meta_.id.substr(0, 4) == "msg_" ? std::string_view(meta_.id).substr(4) : std::string_view(meta_.id);
      id += '_';
      id += std::to_string(event.index);
    }
    std::string start = "{\"type\":\"tool_use\",\"id\":";
    json::append_quoted(start, id);
    start.append(",\"name\":");
    json::append_quoted(start, event.name);
    start.append(",\"input\":{}}");
    open_block(Block::Tool, out, start);
    tool_index_ = event.index;
    tool_input_ = ToolInputRepair();
  }
  const std::string valid = tool_input_.feed(event.text);
  if (valid.empty()) return;
  delta(out, "{\"type\":\"input_json_delta\",\"partial_json\":", valid);
}

void StreamRenderer::render(const Event& event, std::string& out) {
  if (done_) return;
  if (raw_ && !event.terminal() && event.kind != Event::Kind::Raw) return;  // pass-through carries it all
  switch (event.kind) {
    case Event::Kind::Embedding:
      return;  // not a chat answer
    case Event::Kind::Role:
      return;  // message_start waits for something to show (and maybe usage)
    case Event::Kind::TextDelta: {
      if (event.text.empty()) return;
      ensure_started(out);
      if (block_ != Block::Text) open_block(Block::Text, out, "{\"type\":\"text\",\"text\":\"\"}");
      delta(out, "{\"type\":\"text_delta\",\"text\":", event.text);
      return;
    }
    case Event::Kind::ReasoningDelta:
    case Event::Kind::ReasoningSignature: {
      if (event.text.empty()) return;
      ensure_started(out);
      if (block_ != Block::Thinking) {
        open_block(Block::Thinking, out, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
      }
      const bool signature = event.kind == Event::Kind::ReasoningSignature;
      delta(out,
            signature ? "{\"type\":\"signature_delta\",\"signature\":" : "{\"type\":\"thinking_delta\",\"thinking\":",
            event.text);
      if (signature) close_block(out);  // the signature closes its thinking block
      return;
    }
    case Event::Kind::RedactedReasoning: {
      if (event.text.empty()) return;
      ensure_started(out);
      std::string block = "{\"type\":\"redacted_thinking\",\"data\":";
      json::append_quoted(block, event.text);
      block.push_back('}');
      open_block(Block::Thinking, out, block);
      close_block(out);
      return;
    }
    case Event::Kind::ToolCallDelta:
      if (event.id.empty() && event.name.empty() && event.text.empty()) return;
      ensure_started(out);
      tool_delta(event, out);
      return;
    case Event::Kind::Raw: {
      out.append(event.text);
      started_ = true;
      raw_ = true;
      // Did the upstream end its stream with its own error event? Then the
      // Error that ends the call must not add a second one.
      if (names_error_event(event.text)) raw_error_sent_ = true;
      return;
    }
    case Event::Kind::Usage:
      usage_ = event.usage;
      return;
    case Event::Kind::Finish: {
      done_ = true;
      if (raw_) return;
      ensure_started(out);
      close_block(out);
      std::string data = "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"";
      data.append(stop_reason(event.finish));
      data.append("\",\"stop_sequence\":null},\"usage\":");
      if (usage_) {
        append_usage(data, *usage_, usage_->output_tokens);
      } else {
        data.append("{\"output_tokens\":0}");
      }
      data.push_back('}');
      append_frame(out, "message_delta", data);
      append_frame(out, "message_stop", "{\"type\":\"message_stop\"}");
      return;
    }
    case Event::Kind::Error:
      done_ = true;
      if (raw_error_sent_) return;  // the upstream's own error frame already ended it
      append_frame(out, "error", render_error(event.error));
      return;
  }
}

// ---------------------------------------------------------------- upstream answers

FinishReason finish_reason(std::string_view stop_reason, bool has_tool_calls) {
  const std::string_view s = stop_reason;
  if (s == "end_turn" || s == "pause_turn") return FinishReason::Stop;
  if (s == "max_tokens" || s == "model_context_window_exceeded") return FinishReason::Length;
  if (s == "stop_sequence") return FinishReason::StopSequence;
  if (s == "tool_use") return FinishReason::ToolCalls;
  if (s == "refusal") return FinishReason::ContentFilter;
  return has_tool_calls ? FinishReason::ToolCalls : FinishReason::Stop;
}

int status_of_error_type(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 500;  // api_error, and types this list does not know
}

namespace {

// An Anthropic `error` object -> Error. `status` 0: from the type.
Error error_from_object(int status, const Value& error) {
  std::string type;
  std::string message;
  if (error.IsObject()) {
    type = string_member(error, "type");
    message = string_member(error, "message");
  } else if (error.IsString()) {
    message = string_of(error);
  }
  if (status < 400) status = status_of_error_type(type);
  if (type == "overloaded_error") status = 529;
  if (message.empty()) message = type.empty() ? "upstream error" : "upstream error: " + type;
  Error e = Error::upstream(status, std::move(message));
  if (status == 529) {
    e.type = "overloaded_error";
  } else if (type == "invalid_request_error" || type == "authentication_error" || type == "permission_error" ||
             type == "not_found_error" || type == "rate_limit_error") {
    e.type = type;
  } else if (type == "request_too_large" || type == "billing_error" || type == "timeout_error") {
    e.code = type;
  } else if (type == "api_error") {
    e.type = "server_error";
  }
  return e;
}

}  // namespace

std::optional<Error> parse_message(std::string_view body, std::vector<Event>& out) {
  rapidjson::Document doc;
  if (std::optional<Error> e = parse_upstream_object(body, doc, "message", false)) return e;
  if (const Value* err = find_set(doc, "error"); err != nullptr && string_member(doc, "type") != "message") {
    return error_from_object(502, *err);
  }
  const Value* content = find_set(doc, "content");
  if (content == nullptr || !content->IsArray()) return Error::upstream(502, "upstream sent a message without content");
  out.push_back(Event::role());
  int tools = 0;
  for (const auto& block : content->GetArray()) {
    if (!block.IsObject()) continue;
    const std::string type = string_member(block, "type");
    if (type == "text") {
      std::string text = string_member(block, "text");
      if (!text.empty()) out.push_back(Event::text_delta(std::move(text)));
    } else if (type == "thinking") {
      std::string thinking = string_member(block, "thinking");
      std::string signature = string_member(block, "signature");
      if (!thinking.empty()) out.push_back(Event::reasoning_delta(std::move(thinking)));
      if (!signature.empty()) out.push_back(Event::reasoning_signature(std::move(signature)));
    } else if (type == "redacted_thinking") {
      std::string data = string_member(block, "data");
      if (!data.empty()) out.push_back(Event::redacted_reasoning(std::move(data)));
    } else if (type == "tool_use") {
      const Value* input = find_set(block, "input");
      std::string arguments = input != nullptr && input->IsObject() ? json::to_string(*input) : std::string("{}");
      out.push_back(Event::tool_call_delta(tools++, string_member(block, "id"), string_member(block, "name"),
                                           std::move(arguments)));
    }
    // Server tool blocks and unknown types carry nothing the canonical answer holds.
  }
  if (const Value* usage = find_object(doc, "usage")) {
    out.push_back(Event::usage_report(usage_of(*usage)));
  }
  const Value* reason = find_set(doc, "stop_reason");
  out.push_back(Event::finished(
      finish_reason(reason != nullptr && reason->IsString() ? view_of(*reason) : "", tools > 0)));
  return std::nullopt;
}

void StreamParser::emit_usage_and_finish(const Emit& emit) {
  finished_ = true;
  if (have_usage_) emit(Event::usage_report(usage_));
  emit(Event::finished(finish_.value_or(tools_ > 0 ? FinishReason::ToolCalls : FinishReason::Stop)));
}

std::optional<Error> StreamParser::feed(std::string_view event, std::string_view data, const Emit& emit) {
  if (finished_) return std::nullopt;
  data = trim(data);
  if (data.empty()) return std::nullopt;  // keep-alive
  rapidjson::Document doc;
  if (std::optional<Error> e = parse_upstream_object(data, doc, "stream event", true)) return e;
  std::string type = string_member(doc, "type");
  if (type.empty()) type = std::string(event);

  if (type == "error") {
    const Value* err = find_set(doc, "error");
    return err != nullptr ? error_from_object(0, *err) : Error::upstream(502, "upstream sent an error event");
  }
  if (type == "message_start") {
    if (!started_) {
      started_ = true;
      emit(Event::role());
    }
    if (const Value* message = find_object(doc, "message")) {
      if (const Value* usage = find_object(*message, "usage")) {
        usage_ = usage_of(*usage);
        have_usage_ = true;
      }
    }
    return std::nullopt;
  }
  if (!started_) {
    started_ = true;  // a stream without message_start still gets its Role first
    emit(Event::role());
  }
  if (type == "content_block_start") {
    const std::optional<std::int64_t> index = int_member(doc, "index");
    const Value* block = find_set(doc, "content_block");
    if (!index || *index < 0 || *index > 100000 || block == nullptr || !block->IsObject()) {
      return Error::upstream(502, "upstream sent an invalid content_block_start");
    }
    if (blocks_.size() <= static_cast<std::size_t>(*index)) blocks_.resize(static_cast<std::size_t>(*index) + 1);
    BlockState& b = blocks_[static_cast<std::size_t>(*index)];
    b = BlockState{};
    const std::string block_type = string_member(*block, "type");
    if (block_type == "text") {
      b.kind = Block::Text;
      if (std::string text = string_member(*block, "text"); !text.empty()) emit(Event::text_delta(std::move(text)));
    } else if (block_type == "thinking") {
      b.kind = Block::Thinking;
      if (std::string t = string_member(*block, "thinking"); !t.empty()) emit(Event::reasoning_delta(std::move(t)));
      if (std::string s = string_member(*block, "signature"); !s.empty()) {
        emit(Event::reasoning_signature(std::move(s)));
      }
    } else if (block_type == "redacted_thinking") {
      if (std::string d = string_member(*block, "data"); !d.empty()) emit(Event::redacted_reasoning(std::move(d)));
    } else if (block_type == "tool_use") {
      b.kind = Block::Tool;
      b.tool = tools_++;
      b.id = string_member(*block, "id");
      b.name = string_member(*block, "name");
      const Value* input = find_set(*block, "input");
      b.start_input = input != nullptr && input->IsObject() ? json::to_string(*input) : std::string("{}");
    }
    return std::nullopt;
  }
  if (type == "content_block_delta") {
    const std::optional<std::int64_t> index = int_member(doc, "index");
    const Value* delta = find_set(doc, "delta");
    if (!index || *index < 0 || static_cast<std::size_t>(*index) >= blocks_.size() || delta == nullptr ||
        !delta->IsObject()) {
      return Error::upstream(502, "upstream sent a content_block_delta for no open content block");
    }
    BlockState& b = blocks_[static_cast<std::size_t>(*index)];
    const std::string delta_type = string_member(*delta, "type");
    if (delta_type == "text_delta" && b.kind == Block::Text) {
      if (std::string text = string_member(*delta, "text"); !text.empty()) emit(Event::text_delta(std::move(text)));
    } else if (delta_type == "thinking_delta" && b.kind == Block::Thinking) {
      if (std::string t = string_member(*delta, "thinking"); !t.empty()) emit(Event::reasoning_delta(std::move(t)));
    } else if (delta_type == "signature_delta" && b.kind == Block::Thinking) {
      if (std::string s = string_member(*delta, "signature"); !s.empty()) {
        emit(Event::reasoning_signature(std::move(s)));
      }
    } else if (delta_type == "input_json_delta" && b.kind == Block::Tool) {
      std::string fragment = string_member(*delta, "partial_json");
      if (!fragment.empty()) {
        emit(Event::tool_call_delta(b.tool, b.emitted ? std::string() : std::move(b.id),
                                    b.emitted ? std::string() : std::move(b.name), std::move(fragment)));
        b.emitted = true;
      }
    }
    return std::nullopt;  // citations and deltas of skipped blocks
  }
  if (type == "content_block_stop") {
    const std::optional<std::int64_t> index = int_member(doc, "index");
    if (index && *index >= 0 && static_cast<std::size_t>(*index) < blocks_.size()) {
      BlockState& b = blocks_[static_cast<std::size_t>(*index)];
      if (b.kind == Block::Tool && !b.emitted) {
        // No input deltas: the input is content_block_start's ({} for a call without arguments).
        emit(Event::tool_call_delta(b.tool, std::move(b.id), std::move(b.name), std::move(b.start_input)));
        b.emitted = true;
      }
    }
    return std::nullopt;
  }
  if (type == "message_delta") {
    if (const Value* delta = find_object(doc, "delta")) {
      if (const Value* reason = find_set(*delta, "stop_reason"); reason != nullptr && reason->IsString()) {
        finish_ = finish_reason(view_of(*reason), tools_ > 0);
      }
    }
    if (const Value* usage = find_object(doc, "usage")) {
      // Cumulative counts: output always, input and cache when the upstream repeats them.
      if (const auto output = int_member(*usage, "output_tokens")) usage_.output_tokens = *output;
      if (find_set(*usage, "input_tokens") != nullptr) {
        const Usage u = usage_of(*usage);
        usage_.input_tokens = u.input_tokens;
        if (u.cache_read_tokens) usage_.cache_read_tokens = u.cache_read_tokens;
        if (u.cache_creation_tokens) usage_.cache_creation_tokens = u.cache_creation_tokens;
      }
      have_usage_ = true;
    }
    return std::nullopt;
  }
  if (type == "message_stop") {
    emit_usage_and_finish(emit);
    return std::nullopt;
  }
  return std::nullopt;  // ping, and event types added later
}

std::optional<Error> StreamParser::finish(const Emit& emit) {
  if (finished_) return std::nullopt;
  if (finish_) {  // message_delta came, message_stop did not: the answer is whole
    emit_usage_and_finish(emit);
    return std::nullopt;
  }
  return Error::upstream(502, "upstream stream ended before message_stop");
}

Error parse_error_response(int status, std::string_view body) {
  rapidjson::Document doc;
  if (const Value* err = error_member(body, doc)) return error_from_object(status, *err);
  Error e = Error::upstream(status, http_error_message(status, body));
  if (status == 529) e.type = "overloaded_error";
  return e;
}

// ---------------------------------------------------------------- count_tokens estimate

std::int64_t estimate_input_tokens(const ChatRequest& request) {
  // Routing-only (not parsed): the whole body's code points, JSON syntax included, stand in.
  if (!request.parsed) {
    return std::max<std::int64_t>(1, request.original_body ? (code_points(*request.original_body) + 3) / 4 : 1);
  }
  std::int64_t chars = 0;
  std::int64_t fixed = 0;
  for (const Message& m : request.messages) {
    fixed += 4;
    for (const ContentPart& p : m.content) {
      if (p.kind == ContentPart::Kind::Text) {
        chars += code_points(p.text);
      } else {
        fixed += 1600;
      }
    }
    for (const ToolCall& c : m.tool_calls) chars += code_points(c.id) + code_points(c.name) + code_points(c.arguments);
    chars += code_points(m.tool_call_id) + code_points(m.reasoning);
    for (const ThinkingBlock& t : m.thinking) chars += code_points(t.text);
  }
  for (const Tool& t : request.tools) {
    chars += code_points(t.name) + code_points(t.description) + code_points(t.parameters_json);
  }
  if (!request.tools.empty()) fixed += 350;
  return std::max<std::int64_t>(1, (chars + 3) / 4 + fixed);
}

}  // namespace llmux::anthropic
