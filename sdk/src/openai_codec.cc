// The OpenAI Chat Completions codec (see llmux/codec/openai.h).
//
// Rendering is done by string appends (no DOM): it is on the per-chunk hot
// path. Parsing uses the RapidJSON DOM through llmux/json.h.
#include "llmux/codec/openai.h"

#include "codec_common.h"

namespace llmux::openai {

namespace {

using namespace codec;

void append_string_or_null(std::string& out, const std::string& s) {
  if (s.empty()) {
    out.append("null");
  } else {
    json::append_quoted(out, s);
  }
}

// Chat's usage: the counts with their details.
void append_usage(std::string& out, const Usage& u) { append_openai_usage(out, u, true); }

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

// An upstream `usage` object with its details.
Usage usage_of(const Value& usage) { return openai_usage_of(usage, true); }

// The name and arguments of an upstream tool call's `function` member;
// arguments sent as an object (some compatible servers) become JSON text.
void function_of(const Value& call, std::string& name, std::string& arguments) {
  const Value* fn = find_object(call, "function");
  if (fn == nullptr) return;
  name = string_member(*fn, "name");
  if (const Value* args = find_set(*fn, "arguments")) {
    arguments = args->IsString() ? string_of(*args) : json::to_string(*args);
  }
}

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

class RequestParser : public FieldChecker {
 public:
  bool parse(const Value& root, ChatRequest& r) {
    return parse_members(root, r, [&](std::string_view name, const Value& v) -> std::optional<bool> {
      if (name == "messages") return parse_messages(v, r.messages);
      if (name == "tools") return parse_tools(v, r.tools);
      if (name == "tool_choice") return parse_tool_choice(v, r.tool_choice);
      if (name == "parallel_tool_calls") return optional_bool(v, "parallel_tool_calls", r.parallel_tool_calls);
      if (name == "frequency_penalty") return optional_number(v, "frequency_penalty", r.sampling.frequency_penalty);
      if (name == "presence_penalty") return optional_number(v, "presence_penalty", r.sampling.presence_penalty);
      if (name == "max_tokens") {
        // max_completion_tokens (the newer name) wins when both are given.
        std::optional<std::int64_t> n;
        const bool ok = optional_int(v, "max_tokens", n);
        if (n && !seen_max_completion_tokens_) r.sampling.max_tokens = n;
        return ok;
      }
      if (name == "max_completion_tokens") {
        std::optional<std::int64_t> n;
        const bool ok = optional_int(v, "max_completion_tokens", n);
        if (n) {
          r.sampling.max_tokens = n;
          seen_max_completion_tokens_ = true;
        }
        return ok;
      }
      if (name == "seed") return optional_int(v, "seed", r.sampling.seed);
      if (name == "stop") return parse_stop(v, r.sampling.stop);
      if (name == "stream_options") return parse_stream_options(v, r.include_usage);
      if (name == "reasoning_effort") return parse_reasoning_effort(v, r.reasoning);
      if (name == "response_format") return parse_response_format(v, r.response_format);
      return std::nullopt;
    });
  }

 private:
  bool seen_max_completion_tokens_ = false;

  bool parse_messages(const Value& v, std::vector<Message>& out) {
    if (!messages_array(v, out)) return false;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (!parse_message(v[i], "messages[" + std::to_string(i) + "]", out.emplace_back())) return false;
    }
    return true;
  }

  bool parse_message(const Value& v, const std::string& path, Message& m) {
    if (!v.IsObject()) return type_error(path, "an object", v);
    std::string r;
    if (!required_string(v, path, "role", r)) return false;
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
      return unsupported(path + ".role", r, "is not one of 'system', 'developer', 'user', 'assistant', 'tool'.");
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
    std::string type;
    if (!typed_object(v, path, type)) return false;
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
    return unsupported(path + ".type", type, "is not a supported content part type (supported: 'text', 'image_url').");
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
      return unsupported(path + ".type", view_of(*type), "is not supported (supported: 'function').");
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
        if (!optional_bool(*strict, fn_path + ".strict", tool.strict)) return false;
      }
    }
    return true;
  }

  bool parse_tool_choice(const Value& v, ToolChoice& out) {
    if (v.IsNull()) return true;
    if (v.IsString()) return tool_choice_string(v, out);
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

  bool parse_reasoning_effort(const Value& v, std::optional<ReasoningOptions>& out) {
    if (v.IsNull()) return true;
    if (!v.IsString()) return type_error("reasoning_effort", "a string", v);
    out.emplace().effort = string_of(v);
    return true;
  }

  // Kept as JSON text; {"type":"text"} is the default and leaves it empty.
  bool parse_response_format(const Value& v, std::string& out) {
    out.clear();
    if (v.IsNull()) return true;
    if (!v.IsObject()) return type_error("response_format", "an object", v);
    if (const Value* type = find(v, "type"); type != nullptr && type->IsString() && view_of(*type) == "text") {
      return true;
    }
    out = json::to_string(v);
    return true;
  }
};

// The request members render_chat_request writes itself; an `extra` entry
// with one of these names is skipped rather than written twice.
constexpr std::string_view kModeledMembers[] = {
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "frequency_penalty",
    "presence_penalty", "max_tokens", "max_completion_tokens", "seed", "stop", "stream", "stream_options"};

// A Responses request's own members (kept in `extra` by its codec) that a
// chat upstream would refuse or read differently; the rest of its `extra`
// (members both APIs share, a route step's parameters) is forwarded.
constexpr std::string_view kNotForChat[] = {
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "frequency_penalty",
    "presence_penalty", "max_tokens", "max_completion_tokens", "seed", "stop", "stream", "stream_options",
    "input", "instructions", "text", "reasoning", "store", "include", "metadata", "previous_response_id",
    "truncation", "background", "conversation", "prompt", "max_output_tokens", "max_tool_calls", "top_logprobs",
    "client_metadata", "prompt_cache_retention", "context_management"};

bool has_extra(const ChatRequest& request, std::string_view name) {
  for (const auto& member : request.extra) {
    if (member.first == name) return true;
  }
  return false;
}
// The request members of a legacy completion (/v1/completions) kept in
// `extra` that its chat form does not send: `n` (one answer is relayed),
// `echo`, `logprobs` (an integer there, a boolean in chat), `best_of`; and
// every member render_chat_request writes itself.
constexpr std::string_view kCompletionOnlyMembers[] = {
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "frequency_penalty",
    "presence_penalty", "max_tokens", "max_completion_tokens", "seed", "stop", "stream", "stream_options",
    "prompt", "suffix", "n", "echo", "logprobs", "best_of"};

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
  if (plain_text(m)) {
    json::append_quoted(out, m.content.front().text);
    return;
  }
  out.push_back('[');
  bool first = true;
  for (const ContentPart& part : m.content) {
    if (!first) out.push_back(',');
    first = false;
    if (part.kind == ContentPart::Kind::Text) {
      append_text_block(out, part.text);
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
  return parse_client_request<RequestParser>(body, Api::OpenAIChat, out);
}

// Member order: model, messages, tools, tool_choice, parallel_tool_calls,
// temperature, top_p, frequency_penalty, presence_penalty, max_tokens, seed,
// stop, reasoning_effort, response_format, stream, stream_options, then
// `extra` in its order (of a Responses request, only what chat understands).
// Freeform tools are plain functions (their parameters say so).
std::string render_chat_request(const ChatRequest& request, const RenderOptions& options) {
  std::string out = open_request_body(request);
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
      out.append("{\"type\":\"function\",\"function\":{");
      append_tool_name(out, t);
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
  append_sampling_numbers(out, s);
  if (s.max_tokens) {
    out.append(",\"max_tokens\":");
    append_int(out, *s.max_tokens);
  }
  append_seed_and_stop(out, s);
  // A route step's parameters arrive in `extra` and win over the parsed values.
  if (request.reasoning && !request.reasoning->effort.empty() && !has_extra(request, "reasoning_effort")) {
    out.append(",\"reasoning_effort\":");
    json::append_quoted(out, request.reasoning->effort);
  }
  if (!request.response_format.empty() && !has_extra(request, "response_format")) {
    out.append(",\"response_format\":");
    out.append(request.response_format);
  }
  append_stream(out, request, options.force_usage);
  if (request.source_api == Api::OpenAICompletions) {
    // The chat form of a legacy completion: its own members mean nothing
    // (or something else) to Chat Completions.
    append_extra(out, request.extra, kCompletionOnlyMembers);
  } else {
    append_extra(out, request.extra,
                 request.source_api == Api::OpenAIResponses ? std::span<const std::string_view>(kNotForChat)
                                                            : std::span<const std::string_view>(kModeledMembers));
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
  chunk_prefix_ = openai_chunk_prefix(meta_.id, "chat.completion.chunk", meta_.created, meta_.model);
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
    case Event::Kind::Embedding:
      return;  // not a chat answer
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
      append_openai_stream_end(out, chunk_prefix_, include_usage_, usage_, true);
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
  if (std::optional<Error> e = parse_upstream_object(body, doc, "chat.completion", false)) return e;
  if (const Value* err = find_set(doc, "error")) return error_from_value(502, *err, true);
  const Value* choices = find(doc, "choices");
  if (choices == nullptr || !choices->IsArray() || choices->Empty() || !(*choices)[0].IsObject()) {
    return Error::upstream(502, "upstream sent a chat.completion without choices");
  }
  const Value& choice = (*choices)[0];
  out.push_back(Event::role());
  bool has_tool_calls = false;
  if (const Value* message = find_object(choice, "message")) {
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
  if (const Value* usage = find_object(doc, "usage")) {
    out.push_back(Event::usage_report(usage_of(*usage)));
  }
  const Value* reason = find_set(choice, "finish_reason");
  out.push_back(Event::finished(finish_reason_of(reason != nullptr && reason->IsString() ? view_of(*reason) : "",
                                                 has_tool_calls)));
  return std::nullopt;
}

namespace {

// The common chunk, read without a DOM: a root object whose `choices` holds
// one object with index 0 (or none), a `delta` of strings, a string
// `finish_reason`. Everything else -- an `error`, `usage`, `tool_calls`, more
// choices, a repeated member, a non-integer index, invalid JSON, deep nesting
// -- stops the scan (`bail`), and the chunk is parsed with the DOM as before,
// which stays the one definition of what a chunk means.
class FastChunk : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, FastChunk> {
 public:
  enum class Str : std::uint8_t { Absent, String, Other };
  struct Field {
    Str state = Str::Absent;
    std::string* value = nullptr;
  };

  explicit FastChunk(std::string& content, std::string& reasoning_content, std::string& reasoning,
                     std::string& finish)
      : content_{Str::Absent, &content}, reasoning_content_{Str::Absent, &reasoning_content},
        reasoning_{Str::Absent, &reasoning}, finish_{Str::Absent, &finish} {}

  bool bail = false;
  bool have_choice = false;
  bool have_delta = false;  // the choice's delta is an object

  const Field& content() const { return content_; }
  const Field& reasoning_content() const { return reasoning_content_; }
  const Field& reasoning() const { return reasoning_; }
  const Field& finish() const { return finish_; }

  // Handler: every value event goes through one of these.
  bool Null() { return scalar(Kind::Null, {}); }
  bool Bool(bool) { return scalar(Kind::Other, {}); }
  bool Int(int i) { return scalar(i == 0 ? Kind::Zero : Kind::Other, {}); }
  bool Uint(unsigned u) { return scalar(u == 0 ? Kind::Zero : Kind::Other, {}); }
  bool Int64(std::int64_t) { return scalar(Kind::Other, {}); }
  bool Uint64(std::uint64_t) { return scalar(Kind::Other, {}); }
  bool Double(double) { return scalar(Kind::Double, {}); }
  bool String(const char* s, rapidjson::SizeType n, bool) { return scalar(Kind::String, {s, n}); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ > kFastDepth) return true;
    const Ctx ctx = ctx_[depth_];
    key_ = KeyId::None;
    const std::string_view k(s, n);
    if (ctx == Ctx::Root) {
      if (k == "choices") key_ = KeyId::Choices;
      else if (k == "error") key_ = KeyId::Error;
      else if (k == "usage") key_ = KeyId::Usage;
    } else if (ctx == Ctx::Choice) {
      if (k == "index") key_ = KeyId::Index;
      else if (k == "delta") key_ = KeyId::Delta;
      else if (k == "finish_reason") key_ = KeyId::FinishReason;
    } else if (ctx == Ctx::Delta) {
      if (k == "content") key_ = KeyId::Content;
      else if (k == "reasoning_content") key_ = KeyId::ReasoningContent;
      else if (k == "reasoning") key_ = KeyId::Reasoning;
      else if (k == "tool_calls") key_ = KeyId::ToolCalls;
    }
    if (key_ != KeyId::None) {
      const auto bit = static_cast<std::uint32_t>(1u << static_cast<unsigned>(key_));
      if ((seen_ & bit) != 0) return stop();  // a repeated member: the first one counts
      seen_ |= bit;
    }
    return true;
  }
  bool StartObject() { return open(true); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) { return close(); }

 private:
  enum class Ctx : std::uint8_t { Other, Root, Choices, Choice, Delta };
  enum class KeyId : std::uint8_t {
    None, Choices, Error, Usage, Index, Delta, FinishReason, Content, ReasoningContent, Reasoning, ToolCalls
  };
  enum class Kind : std::uint8_t { Null, Zero, Double, String, Other, Object, Array };
  static constexpr int kFastDepth = 4;   // root, choices, choice, delta
  static constexpr int kMaxFastDepth = 64;  // deeper: the DOM path checks its limit

  bool stop() {
    bail = true;
    return false;
  }

  // A value for the current key (or an array element) in the current context.
  bool scalar(Kind kind, std::string_view s) {
    if (depth_ == 0) return stop();  // the root is not an object
    if (depth_ > kFastDepth) return true;
    const Ctx ctx = ctx_[depth_];
    if (ctx == Ctx::Choices) return stop();  // a choice that is not an object
    if (ctx == Ctx::Other) return true;
    const KeyId key = key_;
    key_ = KeyId::None;
    switch (key) {
      case KeyId::Error:
      case KeyId::Usage:
      case KeyId::ToolCalls:
        if (kind == Kind::Null || key == KeyId::Usage) return true;  // a usage that is not an object is ignored
        return stop();
      case KeyId::Index:
        return kind == Kind::Null || kind == Kind::Zero ? true : stop();
      case KeyId::FinishReason: return take(finish_, kind, s);
      case KeyId::Content: return take(content_, kind, s);
      case KeyId::ReasoningContent: return take(reasoning_content_, kind, s);
      case KeyId::Reasoning: return take(reasoning_, kind, s);
      default: return true;
    }
  }

  static bool take(Field& f, Kind kind, std::string_view s) {
    if (kind == Kind::Null) return true;  // null is absent
    if (kind == Kind::String) {
      f.state = Str::String;
      f.value->assign(s);
    } else {
      f.state = Str::Other;
    }
    return true;
  }

  bool open(bool object) {
    if (depth_ == 0) {
      if (!object) return stop();
      ctx_[++depth_] = Ctx::Root;
      return true;
    }
    if (depth_ >= kMaxFastDepth) return stop();
    Ctx next = Ctx::Other;
    if (depth_ <= kFastDepth) {
      const Ctx ctx = ctx_[depth_];
      const KeyId key = key_;
      key_ = KeyId::None;
      if (ctx == Ctx::Choices) {
        if (!object || have_choice) return stop();  // one choice object only
        have_choice = true;
        seen_ &= ~kChoiceKeys;
        next = Ctx::Choice;
      } else if (key == KeyId::Error || key == KeyId::Usage || key == KeyId::ToolCalls || key == KeyId::Index) {
        if (key != KeyId::Usage || object) return stop();  // a usage that is not an object is ignored
      } else if (key == KeyId::Choices) {
        next = object ? Ctx::Other : Ctx::Choices;  // choices that are not an array are ignored
      } else if (key == KeyId::Delta) {
        if (object) {
          have_delta = true;
          next = Ctx::Delta;
        }
      } else if (key == KeyId::FinishReason || key == KeyId::Content || key == KeyId::ReasoningContent ||
                 key == KeyId::Reasoning) {
        Field& f = key == KeyId::FinishReason ? finish_
                   : key == KeyId::Content    ? content_
                   : key == KeyId::ReasoningContent ? reasoning_content_
                                                    : reasoning_;
        f.state = Str::Other;
      }
    }
    ++depth_;
    if (depth_ <= kFastDepth) ctx_[depth_] = next;
    return true;
  }

  bool close() {
    --depth_;
    return true;
  }

  static constexpr std::uint32_t kChoiceKeys = (1u << static_cast<unsigned>(KeyId::Index)) |
                                               (1u << static_cast<unsigned>(KeyId::Delta)) |
                                               (1u << static_cast<unsigned>(KeyId::FinishReason));
  Field content_, reasoning_content_, reasoning_, finish_;
  Ctx ctx_[kFastDepth + 1] = {};
  int depth_ = 0;
  KeyId key_ = KeyId::None;
  std::uint32_t seen_ = 0;
};

}  // namespace

bool ChunkParser::feed_fast(std::string_view data, const Emit& emit) {
  // The reader's stack lives in a kept per-thread buffer: no allocation for a
  // common chunk.
  alignas(16) static thread_local char buffer[4096];
  FastChunk chunk(scratch_content_, scratch_reasoning_content_, scratch_reasoning_, scratch_finish_);
  {
    rapidjson::MemoryPoolAllocator<> pool(buffer, sizeof buffer);
    rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>> reader(&pool,
                                                                                                            256);
    rapidjson::MemoryStream ms(data.data(), data.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    reader.Parse<rapidjson::kParseDefaultFlags | rapidjson::kParseIterativeFlag>(is, chunk);
    if (reader.HasParseError()) return false;  // a bail, or bad JSON: the DOM path says what is wrong
  }
  if (chunk.bail) return false;
  if (!chunk.have_choice) return true;
  if (chunk.have_delta) {
    if (!role_emitted_) {
      role_emitted_ = true;
      emit(Event::role());
    }
    const FastChunk::Field& rc = chunk.reasoning_content();
    const FastChunk::Field& reasoning = rc.state == FastChunk::Str::String ? rc : chunk.reasoning();
    if (reasoning.state == FastChunk::Str::String && !reasoning.value->empty()) {
      emit(Event::reasoning_delta(std::move(*reasoning.value)));
    }
    const FastChunk::Field& content = chunk.content();
    if (content.state == FastChunk::Str::String && !content.value->empty()) {
      emit(Event::text_delta(std::move(*content.value)));
    }
  }
  if (chunk.finish().state == FastChunk::Str::String) finish_ = finish_reason_of(*chunk.finish().value, false);
  return true;
}

std::optional<Error> ChunkParser::feed(std::string_view data, const Emit& emit) {
  if (openai_stream_control(data, saw_done_, finish_emitted_, finish_, emit)) return std::nullopt;
  if (feed_fast(data, emit)) return std::nullopt;
  rapidjson::Document doc;
  if (std::optional<Error> e = parse_upstream_object(data, doc, "stream chunk", true)) return e;
  if (const Value* err = find_set(doc, "error")) return error_from_value(502, *err, true);

  if (const Value* choices = find_set(doc, "choices"); choices != nullptr && choices->IsArray()) {
    for (const auto& choice : choices->GetArray()) {
      if (!choice.IsObject()) continue;
      if (int_member(choice, "index").value_or(0) != 0) continue;  // only choice 0 is relayed (no n > 1)
      if (const Value* delta = find_object(choice, "delta")) {
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
  if (const Value* usage = find_object(doc, "usage")) {
    emit(Event::usage_report(usage_of(*usage)));
  }
  return std::nullopt;
}

std::optional<Error> ChunkParser::finish(const Emit& emit) {
  return openai_stream_finish(finish_emitted_, finish_, emit);
}

std::optional<Usage> parse_usage(std::string_view usage_object) {
  rapidjson::Document doc;
  std::string what;
  if (!parse_json(usage_object, doc, what) || !doc.IsObject()) return std::nullopt;
  return usage_of(doc);
}

Error parse_error_response(int status, std::string_view body) {
  rapidjson::Document doc;
  if (const Value* err = error_member(body, doc)) return error_from_value(status, *err, false);
  return Error::upstream(status, http_error_message(status, body));
}

}  // namespace llmux::openai
