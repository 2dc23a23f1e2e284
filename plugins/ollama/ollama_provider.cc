#include "ollama_provider.h"

#include <charconv>
#include <exception>
#include <mutex>
#include <utility>

#include "llmux/json.h"
#include "llmux/ndjson.h"
#include "llmux/upstream_link.h"
#include "llmux/upstream_settings.h"

namespace llmux::ollama {

namespace {

using rapidjson::Value;
using Allocator = rapidjson::Document::AllocatorType;

// ---------------------------------------------------------------------------
// Options

bool is_integer(std::string_view s) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

// A finite decimal number (no "nan", "inf" or hex).
bool is_number(std::string_view s) {
  if (s.empty() || s.front() == '+') return false;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() && s.find_first_of("nNiIxXpP") == std::string_view::npos;
}

// A YAML value as JSON: scalars that read as booleans or numbers become
// those, everything else a string; sequences and maps recurse.
void config_to_json(const ConfigNode& node, std::string& out) {
  switch (node.type()) {
    case ConfigNode::Type::Null:
      out += "null";
      return;
    case ConfigNode::Type::Scalar: {
      const std::string& v = node.value();
      if (v == "true" || v == "True" || v == "TRUE") {
        out += "true";
      } else if (v == "false" || v == "False" || v == "FALSE") {
        out += "false";
      } else if (is_integer(v)) {
        std::int64_t n = 0;
        std::from_chars(v.data(), v.data() + v.size(), n);
        out += std::to_string(n);  // "007" is no JSON number; 7 is
      } else if (is_number(v)) {
        double d = 0;
        std::from_chars(v.data(), v.data() + v.size(), d);
        out += json::to_string(rapidjson::Value(d));  // ".5" -> 0.5
      } else {
        json::append_quoted(out, v);
      }
      return;
    }
    case ConfigNode::Type::Sequence: {
      out += '[';
      bool first = true;
      for (const auto& item : node.items()) {
        if (!first) out += ',';
        first = false;
        config_to_json(item, out);
      }
      out += ']';
      return;
    }
    case ConfigNode::Type::Map: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : node.entries()) {
        if (!first) out += ',';
        first = false;
        json::append_quoted(out, key);
        out += ':';
        config_to_json(value, out);
      }
      out += '}';
      return;
    }
  }
}

std::chrono::milliseconds nonnegative_duration(const ConfigNode& options, std::string_view key,
                                               std::chrono::milliseconds fallback) {
  auto value = options.get_duration(key, fallback);
  if (value.count() < 0) throw ConfigError(*options.find(key), "must not be negative");
  return value;
}

// ---------------------------------------------------------------------------
// Request

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool ends_with_nocase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && starts_with_nocase(s.substr(s.size() - suffix.size()), suffix);
}

// The base64 payload of a "data:<type>;base64,<payload>" URI, or nullopt.
std::optional<std::string_view> data_uri_payload(std::string_view uri, bool& is_data_uri) {
  uri = trim(uri);
  is_data_uri = starts_with_nocase(uri, "data:");
  if (!is_data_uri) return std::nullopt;
  const std::size_t comma = uri.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view header = uri.substr(5, comma - 5);
  if (!ends_with_nocase(header, ";base64")) return std::nullopt;
  std::string_view payload = uri.substr(comma + 1);
  if (payload.empty()) return std::nullopt;
  return payload;
}

Value string_value(std::string_view s, Allocator& a) {
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

// Parses JSON text into a value owned by `a`; nullopt when unparsable.
std::optional<Value> parse_value(std::string_view text, Allocator& a) {
  rapidjson::Document doc(&a);
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) return std::nullopt;
  Value v;
  v.CopyFrom(doc, a);
  return v;
}

const char* role_name(Role role) {
  switch (role) {
    case Role::System:
    case Role::Developer: return "system";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
    case Role::Tool: return "tool";
  }
  return "user";
}

// The name of the tool call `id` in the nearest assistant message before
// `before` (ids like "call_0" repeat across turns when they came from Ollama).
std::string tool_name_for(const std::vector<Message>& messages, std::size_t before, const std::string& id) {
  if (id.empty()) return {};
  for (std::size_t i = before; i-- > 0;) {
    if (messages[i].role != Role::Assistant) continue;
    for (const auto& call : messages[i].tool_calls) {
      if (call.id == id) return call.name;
    }
  }
  return {};
}

// OpenAI's response_format as Ollama's `format`: "json" or a JSON schema. A
// route step's `response_format` (in `extra`) wins over the client's.
std::optional<Value> format_from_request(const ChatRequest& request, Allocator& a) {
  std::string_view text = request.response_format;
  for (const auto& [name, value] : request.extra) {
    if (name == "response_format") text = value;
  }
  if (text.empty()) return std::nullopt;
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto type = doc.FindMember("type");
  if (type == doc.MemberEnd() || !type->value.IsString()) return std::nullopt;
  std::string_view t(type->value.GetString(), type->value.GetStringLength());
  if (t == "json_object") return Value("json", a);
  if (t != "json_schema") return std::nullopt;
  auto js = doc.FindMember("json_schema");
  if (js == doc.MemberEnd() || !js->value.IsObject()) return Value("json", a);
  auto schema = js->value.FindMember("schema");
  if (schema == js->value.MemberEnd() || !schema->value.IsObject()) return Value("json", a);
  Value v;
  v.CopyFrom(schema->value, a);
  return v;
}

// keep_alive: a number of seconds as a number, a duration ("5m") as a string
// (Ollama reads a bare numeric string as a malformed duration).
Value keep_alive_value(const std::string& keep_alive, Allocator& a) {
  if (is_integer(keep_alive)) {
    std::int64_t v = 0;
    std::from_chars(keep_alive.data(), keep_alive.data() + keep_alive.size(), v);
    return Value(static_cast<int64_t>(v));
  }
  if (is_number(keep_alive)) return Value(std::stod(keep_alive));
  return string_value(keep_alive, a);
}

// ---------------------------------------------------------------------------
// Response

std::string member_string(const Value& object, const char* name) {
  if (!object.IsObject()) return {};
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<std::int64_t> member_int(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) return std::nullopt;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsUint64()) return static_cast<std::int64_t>(it->value.GetUint64());
  if (it->value.IsDouble()) return static_cast<std::int64_t>(it->value.GetDouble());
  return std::nullopt;
}

// A short, printable excerpt of an upstream body for an error message.
std::string excerpt(std::string_view body, std::size_t limit = 200) {
  body = trim(body);
  std::string out;
  for (std::size_t i = 0; i < body.size() && out.size() < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(body[i]);
    out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  }
  if (body.size() > limit) out += "...";
  return out;
}

Error stream_error(std::string message) {
  Error e = Error::upstream(502, std::move(message));
  e.code = "upstream_error";
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------
// OllamaOptions

OllamaOptions OllamaOptions::parse(const ConfigNode& options) {
  OllamaOptions o;
  if (options.is_null()) return o;
  if (!options.is_map()) throw ConfigError(options, "must be a map");
  options.check_keys({"base_url", "headers", "connect_timeout", "first_byte_timeout", "idle_timeout",
                      "total_timeout", "keep_alive", "models_ttl", "options", "completions"});

  if (const ConfigNode* node = options.find("base_url")) {
    std::string url = options.get_string("base_url");
    if (!starts_with_nocase(url, "http://") && !starts_with_nocase(url, "https://")) {
      throw ConfigError(*node, "must be an http:// or https:// URL, not '" + url + "'");
    }
    const std::size_t scheme = url.find("://") + 3;
    if (url.size() <= scheme || url[scheme] == '/') throw ConfigError(*node, "has no host: '" + url + "'");
    while (!url.empty() && url.back() == '/') url.pop_back();
    o.base_url = std::move(url);
  }
  if (const ConfigNode* node = options.find("headers")) {
    if (!node->is_map()) throw ConfigError(*node, "must be a map of header names to values");
    for (const auto& [key, value] : node->entries()) {
      if (key.empty() || key.find_first_of(" :\r\n\t") != std::string::npos) {
        throw ConfigError(value, "'" + key + "' is not a valid header name");
      }
      std::string text = value.as_string();
      if (text.find_first_of("\r\n") != std::string::npos) {
        throw ConfigError(value, "a header value must not contain a line break");
      }
      o.headers.emplace_back(key, std::move(text));
    }
  }
  o.timeouts = read_http_timeouts(options, o.timeouts);  // as_duration refuses negative values
  if (const ConfigNode* node = options.find("keep_alive")) {
    if (!node->is_scalar()) throw ConfigError(*node, "must be a duration like 5m, or a number of seconds");
    o.keep_alive = node->value();
  }
  o.models_ttl = nonnegative_duration(options, "models_ttl", o.models_ttl);
  if (const ConfigNode* node = options.find("completions")) {
    std::string mode = options.get_string("completions");
    if (mode != "native" && mode != "chat") {
      throw ConfigError(*node, "must be 'native' or 'chat', not '" + mode + "'");
    }
    o.native_completions = mode == "native";
  }
  if (const ConfigNode* node = options.find("options")) {
    if (!node->is_map()) throw ConfigError(*node, "must be a map of Ollama options (like num_ctx: 8192)");
    for (const auto& [key, value] : node->entries()) {
      std::string text;
      config_to_json(value, text);
      o.model_options.emplace_back(key, std::move(text));
    }
  }
  return o;
}

// ---------------------------------------------------------------------------
// Request body

namespace {

// `options`: the configured ones, then the request's sampling over them;
// then keep_alive.
void add_options(rapidjson::Document& doc, const ChatRequest& request, const OllamaOptions& options) {
  Allocator& a = doc.GetAllocator();
  Value opts(rapidjson::kObjectType);
  const Sampling& s = request.sampling;
  auto set = [&](const char* key, Value value) {
    auto it = opts.FindMember(key);
    if (it != opts.MemberEnd()) {
      it->value = std::move(value);
    } else {
      opts.AddMember(Value(key, a), std::move(value), a);
    }
  };
  for (const auto& [key, text] : options.model_options) {
    if (auto v = parse_value(text, a)) set(key.c_str(), std::move(*v));
  }
  if (s.temperature) set("temperature", Value(*s.temperature));
  if (s.top_p) set("top_p", Value(*s.top_p));
  if (s.frequency_penalty) set("frequency_penalty", Value(*s.frequency_penalty));
  if (s.presence_penalty) set("presence_penalty", Value(*s.presence_penalty));
  if (s.seed) set("seed", Value(static_cast<int64_t>(*s.seed)));
  if (s.max_tokens) set("num_predict", Value(static_cast<int64_t>(*s.max_tokens)));
  if (!s.stop.empty()) {
    Value stop(rapidjson::kArrayType);
    for (const auto& st : s.stop) stop.PushBack(string_value(st, a), a);
    set("stop", std::move(stop));
  }
  if (!opts.ObjectEmpty()) doc.AddMember("options", opts, a);
  if (!options.keep_alive.empty()) doc.AddMember("keep_alive", keep_alive_value(options.keep_alive, a), a);
}

}  // namespace

ChatBody build_chat_body(const ChatRequest& request, const OllamaOptions& options) {
  ChatBody out;
  rapidjson::Document doc;
  doc.SetObject();
  Allocator& a = doc.GetAllocator();

  doc.AddMember("model", string_value(request.model, a), a);

  Value messages(rapidjson::kArrayType);
  for (std::size_t i = 0; i < request.messages.size(); ++i) {
    const Message& m = request.messages[i];
    Value msg(rapidjson::kObjectType);
    msg.AddMember("role", Value(rapidjson::StringRef(role_name(m.role))), a);
    msg.AddMember("content", string_value(m.text(), a), a);

    Value images(rapidjson::kArrayType);
    for (const auto& part : m.content) {
      if (part.kind != ContentPart::Kind::Image) continue;
      bool is_data_uri = false;
      auto payload = data_uri_payload(part.image_url, is_data_uri);
      if (!payload) {
        std::string message = is_data_uri
                                  ? "ollama provider needs images as base64 data: URIs (data:<type>;base64,...)"
                                  : "ollama provider cannot fetch image URLs; send images as data: URIs";
        out.error = Error::invalid_request(std::move(message), "messages[" + std::to_string(i) + "].content");
        return out;
      }
      images.PushBack(string_value(*payload, a), a);
    }
    if (!images.Empty()) msg.AddMember("images", images, a);

    if (m.role == Role::Assistant) {
      if (!m.reasoning.empty()) msg.AddMember("thinking", string_value(m.reasoning, a), a);
      if (!m.tool_calls.empty()) {
        Value calls(rapidjson::kArrayType);
        for (const auto& call : m.tool_calls) {
          Value function(rapidjson::kObjectType);
          function.AddMember("name", string_value(call.name, a), a);
          std::optional<Value> args;
          if (!trim(call.arguments).empty()) args = parse_value(call.arguments, a);
          if (!args || !args->IsObject()) {
            if (!trim(call.arguments).empty()) {
              out.notes.push_back("tool call '" + call.name + "' (" + call.id +
                                  ") has arguments that are not a JSON object; sending {}");
            }
            args = Value(rapidjson::kObjectType);
          }
          function.AddMember("arguments", *args, a);
          Value entry(rapidjson::kObjectType);
          entry.AddMember("function", function, a);
          calls.PushBack(entry, a);
        }
        msg.AddMember("tool_calls", calls, a);
      }
    } else if (m.role == Role::Tool) {
      std::string name = tool_name_for(request.messages, i, m.tool_call_id);
      if (!name.empty()) msg.AddMember("tool_name", string_value(name, a), a);
    }
    messages.PushBack(msg, a);
  }
  doc.AddMember("messages", messages, a);

  if (!request.tools.empty() && request.tool_choice.mode != ToolChoice::Mode::None) {
    Value tools(rapidjson::kArrayType);
    for (const auto& tool : request.tools) {
      Value function(rapidjson::kObjectType);
      function.AddMember("name", string_value(tool.name, a), a);
      if (!tool.description.empty()) function.AddMember("description", string_value(tool.description, a), a);
      std::optional<Value> params = parse_value(tool.parameters_json, a);
      if (!params || !params->IsObject()) {
        params = Value(rapidjson::kObjectType);
        params->AddMember("type", "object", a);
        params->AddMember("properties", Value(rapidjson::kObjectType), a);
      }
      function.AddMember("parameters", *params, a);
      Value entry(rapidjson::kObjectType);
      entry.AddMember("type", "function", a);
      entry.AddMember("function", function, a);
      tools.PushBack(entry, a);
    }
    doc.AddMember("tools", tools, a);
  }

  doc.AddMember("stream", true, a);
  if (auto format = format_from_request(request, a)) doc.AddMember("format", *format, a);
  // Ollama's own `think` (thinking models), when a client sends it along.
  for (const auto& [name, text] : request.extra) {
    if (name != "think") continue;
    if (auto think = parse_value(text, a); think && (think->IsBool() || think->IsString())) {
      doc.AddMember("think", *think, a);
    }
    break;
  }

  add_options(doc, request, options);
  out.json = json::to_string(doc);
  return out;
}

ChatBody build_generate_body(const ChatRequest& request, const OllamaOptions& options) {
  ChatBody out;
  rapidjson::Document doc;
  doc.SetObject();
  Allocator& a = doc.GetAllocator();
  doc.AddMember("model", string_value(request.model, a), a);
  if (request.completion) {
    doc.AddMember("prompt", string_value(request.completion->prompt, a), a);
    // Ollama fills the middle with the model's own FIM template.
    if (!request.completion->suffix.empty()) doc.AddMember("suffix", string_value(request.completion->suffix, a), a);
  } else {
    doc.AddMember("prompt", string_value(request.last_user_text(), a), a);
  }
  doc.AddMember("stream", true, a);
  add_options(doc, request, options);
  out.json = json::to_string(doc);
  return out;
}

EmbedBody build_embed_body(const ChatRequest& request, const OllamaOptions& options) {
  EmbedBody out;
  if (!request.embedding || request.embedding->texts.empty()) {
    out.error = Error::invalid_request(
        "ollama provider embeds texts only: send `input` as a string or a list of strings, not token ids", "input",
        "unsupported_input");
    return out;
  }
  rapidjson::Document doc;
  doc.SetObject();
  Allocator& a = doc.GetAllocator();
  doc.AddMember("model", string_value(request.model, a), a);
  Value input(rapidjson::kArrayType);
  for (const auto& text : request.embedding->texts) input.PushBack(string_value(text, a), a);
  doc.AddMember("input", input, a);
  doc.AddMember("truncate", true, a);
  if (request.embedding->dimensions) {
    doc.AddMember("dimensions", Value(static_cast<int64_t>(*request.embedding->dimensions)), a);
  }
  Value opts(rapidjson::kObjectType);
  for (const auto& [key, text] : options.model_options) {
    if (auto v = parse_value(text, a)) opts.AddMember(Value(key.c_str(), a), std::move(*v), a);
  }
  if (!opts.ObjectEmpty()) doc.AddMember("options", opts, a);
  if (!options.keep_alive.empty()) doc.AddMember("keep_alive", keep_alive_value(options.keep_alive, a), a);
  out.json = json::to_string(doc);
  return out;
}

std::optional<Error> parse_embed_response(std::string_view body, std::size_t inputs, std::vector<Event>& out) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return stream_error("ollama sent an /api/embed answer that is not a JSON object: " + excerpt(body));
  }
  if (auto err = doc.FindMember("error"); err != doc.MemberEnd() && !err->value.IsNull()) {
    return stream_error("ollama: " + (err->value.IsString() ? std::string(err->value.GetString(), err->value.GetStringLength())
                                                            : json::to_string(err->value)));
  }
  auto embeddings = doc.FindMember("embeddings");
  if (embeddings == doc.MemberEnd() || !embeddings->value.IsArray()) {
    return stream_error("ollama sent an /api/embed answer without \"embeddings\": " + excerpt(body));
  }
  const Value& list = embeddings->value;
  if (list.Size() != inputs) {
    return stream_error("ollama sent " + std::to_string(list.Size()) + " embeddings for " + std::to_string(inputs) +
                        " inputs");
  }
  std::vector<Event> events;
  events.reserve(list.Size() + 2);
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    if (!list[i].IsArray()) return stream_error("ollama sent an embedding that is not an array");
    std::vector<float> vector;
    vector.reserve(list[i].Size());
    for (const Value& x : list[i].GetArray()) {
      if (!x.IsNumber()) return stream_error("ollama sent an embedding with an element that is not a number");
      vector.push_back(static_cast<float>(x.GetDouble()));
    }
    events.push_back(Event::embedding_of(static_cast<int>(i), std::move(vector)));
  }
  if (auto prompt = member_int(doc, "prompt_eval_count")) {
    Usage usage;
    usage.input_tokens = *prompt;
    events.push_back(Event::usage_report(usage));
  }
  events.push_back(Event::finished(FinishReason::Stop));
  for (Event& event : events) out.push_back(std::move(event));
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Stream decoding

void StreamDecoder::role(std::vector<Event>& out) {
  if (role_sent_) return;
  role_sent_ = true;
  out.push_back(Event::role());
}

StreamDecoder::Status StreamDecoder::decode(std::string_view line, std::vector<Event>& out) {
  if (finished_) return Status::Done;
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    finished_ = true;
    std::string why = doc.HasParseError() ? rapidjson::GetParseError_En(doc.GetParseError()) : "not an object";
    out.push_back(Event::failed(stream_error("ollama sent an invalid stream line (" + why + "): " + excerpt(line))));
    return Status::Failed;
  }
  if (auto err = doc.FindMember("error"); err != doc.MemberEnd() && !err->value.IsNull()) {
    finished_ = true;
    std::string message = err->value.IsString() ? std::string(err->value.GetString(), err->value.GetStringLength())
                                                : json::to_string(err->value);
    out.push_back(Event::failed(stream_error("ollama: " + message)));
    return Status::Failed;
  }
  // /api/generate: the text is `response` (a model's `thinking` is left out:
  // a completion is the text alone).
  if (std::string response = member_string(doc, "response"); !response.empty()) {
    role(out);
    out.push_back(Event::text_delta(std::move(response)));
  }
  if (auto msg = doc.FindMember("message"); msg != doc.MemberEnd() && msg->value.IsObject()) {
    const Value& m = msg->value;
    std::string thinking = member_string(m, "thinking");
    if (!thinking.empty()) {
      role(out);
      out.push_back(Event::reasoning_delta(std::move(thinking)));
    }
    std::string content = member_string(m, "content");
    if (!content.empty()) {
      role(out);
      out.push_back(Event::text_delta(std::move(content)));
    }
    if (auto calls = m.FindMember("tool_calls"); calls != m.MemberEnd() && calls->value.IsArray()) {
      for (const Value& call : calls->value.GetArray()) {
        if (!call.IsObject()) continue;
        auto fn = call.FindMember("function");
        if (fn == call.MemberEnd() || !fn->value.IsObject()) continue;
        std::string name = member_string(fn->value, "name");
        std::string arguments = "{}";
        if (auto args = fn->value.FindMember("arguments"); args != fn->value.MemberEnd()) {
          if (args->value.IsString()) {
            arguments.assign(args->value.GetString(), args->value.GetStringLength());
          } else if (!args->value.IsNull()) {
            arguments = json::to_string(args->value);
          }
        }
        const int index = tool_calls_++;
        std::string id = member_string(call, "id");
        if (id.empty()) id = "call_" + std::to_string(index);
        role(out);
        out.push_back(Event::tool_call_delta(index, std::move(id), std::move(name), std::move(arguments)));
      }
    }
  }
  auto done = doc.FindMember("done");
  if (done == doc.MemberEnd() || !done->value.IsBool() || !done->value.GetBool()) return Status::Continue;

  finished_ = true;
  role(out);
  auto input = member_int(doc, "prompt_eval_count");
  auto output = member_int(doc, "eval_count");
  if (input || output) {
    Usage usage;
    usage.input_tokens = input.value_or(0);
    usage.output_tokens = output.value_or(0);
    out.push_back(Event::usage_report(usage));
  }
  FinishReason reason = FinishReason::Stop;
  if (tool_calls_ > 0) {
    reason = FinishReason::ToolCalls;
  } else if (member_string(doc, "done_reason") == "length") {
    reason = FinishReason::Length;
  }
  out.push_back(Event::finished(reason));
  return Status::Done;
}

Error error_from_response(int status, const HttpHeaders& headers, std::string_view body) {
  std::string message;
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    if (auto err = doc.FindMember("error"); err != doc.MemberEnd()) {
      message = err->value.IsString() ? std::string(err->value.GetString(), err->value.GetStringLength())
                                      : json::to_string(err->value);
    }
  }
  if (message.empty()) {
    message = "HTTP " + std::to_string(status);
    std::string text = excerpt(body);
    if (!text.empty()) message += ": " + text;
  }
  Error e = Error::upstream(status, "ollama: " + message);
  if (status == 404) e.code = "model_not_found";
  e.retry_after = parse_retry_after(headers);
  return e;
}

std::optional<std::vector<std::string>> parse_tags(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto models = doc.FindMember("models");
  if (models == doc.MemberEnd()) return std::nullopt;
  std::vector<std::string> out;
  if (models->value.IsNull()) return out;  // an empty Ollama may send "models": null
  if (!models->value.IsArray()) return std::nullopt;
  for (const Value& m : models->value.GetArray()) {
    std::string name = member_string(m, "name");
    if (name.empty()) name = member_string(m, "model");
    if (name.empty()) continue;
    out.push_back(name);
    constexpr std::string_view kLatest = ":latest";
    if (name.size() > kLatest.size() && std::string_view(name).substr(name.size() - kLatest.size()) == kLatest) {
      out.push_back(name.substr(0, name.size() - kLatest.size()));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Provider state shared with timers and transfers

// Host services may be used only while the provider lives: everything that
// runs later (timer callbacks, transfer handlers) goes through `host` under
// the mutex, which the provider's destructor clears. Recursive: a host call
// made under the lock may call back synchronously.
struct OllamaProvider::Shared {
  std::recursive_mutex mutex;
  HostServices* host = nullptr;
  std::string name;
  OllamaOptions options;
  std::vector<ModelInfo> models;
  Timers::Id timer = 0;
  std::shared_ptr<HttpTransfer> tags_transfer;
  bool tags_done = false;  // the listing in flight has completed
  bool listed_once = false;
};

namespace {

using Shared = OllamaProvider::Shared;

void schedule_refresh(const std::shared_ptr<Shared>& shared);

// GET /api/tags answered (or failed): replaces the model cache, or keeps it.
void tags_listed(const std::shared_ptr<Shared>& shared, CollectedResponse&& answer) {
  std::lock_guard lock(shared->mutex);
  shared->tags_transfer.reset();
  shared->tags_done = true;
  if (shared->host == nullptr) return;  // the provider is gone
  Logger& log = shared->host->logger();
  std::string problem = answer.problem();
  if (problem.empty()) {
    if (auto names = parse_tags(answer.body)) {
      std::vector<ModelInfo> models;
      models.reserve(names->size());
      for (auto& n : *names) models.push_back({std::move(n), kOwnedBy});
      if (log.enabled(LogLevel::Debug)) {
        log.debug("provider '" + shared->name + "': " + std::to_string(models.size()) + " model ids from /api/tags");
      }
      shared->models = std::move(models);
      shared->listed_once = true;
    } else {
      problem = "not a model listing: " + excerpt(answer.body);
    }
  }
  if (!problem.empty() && log.enabled(LogLevel::Debug)) {
    log.debug("provider '" + shared->name + "': listing models failed (" + problem + "); keeping " +
              std::to_string(shared->models.size()) + " cached ids");
  }
  schedule_refresh(shared);
}

void refresh_models(const std::shared_ptr<Shared>& shared) {
  std::lock_guard lock(shared->mutex);
  shared->timer = 0;
  if (shared->host == nullptr || shared->tags_transfer) return;
  HttpRequest request;
  request.method = "GET";
  request.url = shared->options.base_url + "/api/tags";
  request.headers = shared->options.headers;
  request.headers.emplace_back("Accept", "application/json");
  request.timeouts.connect = shared->options.timeouts.connect;
  request.timeouts.first_byte = std::chrono::seconds(30);
  request.timeouts.idle = std::chrono::seconds(30);
  request.timeouts.total = std::chrono::seconds(60);
  shared->tags_done = false;
  auto handler = collect_response(kMaxTagsBody, [shared](CollectedResponse&& answer) {
    tags_listed(shared, std::move(answer));
  });
  try {
    auto transfer = shared->host->http().start(std::move(request), std::move(handler));
    if (!shared->tags_done) shared->tags_transfer = std::move(transfer);
  } catch (const std::exception& e) {
    shared->host->logger().debug("provider '" + shared->name + "': listing models failed: " + e.what());
    schedule_refresh(shared);
  }
}

// Under shared->mutex.
void schedule_refresh(const std::shared_ptr<Shared>& shared) {
  if (shared->host == nullptr || shared->timer != 0) return;
  if (shared->options.models_ttl.count() == 0 && shared->listed_once) return;
  // Until a first listing succeeded, retry at least every 60 s.
  auto delay = shared->options.models_ttl;
  if (!shared->listed_once && (delay.count() == 0 || delay > std::chrono::seconds(60))) delay = std::chrono::seconds(60);
  std::weak_ptr<Shared> weak = shared;
  shared->timer = shared->host->timers().schedule(delay, [weak] {
    if (auto s = weak.lock()) refresh_models(s);
  });
}

// ---------------------------------------------------------------------------
// One chat call: the /api/chat transfer's handler

class ChatStream final : public HttpHandler {
 public:
  ChatStream(ChatCallPtr call, std::string who)
      : call_(std::move(call)), who_(std::move(who)), link_(UpstreamLink::create(call_)) {}

  // Cancellation and backpressure between the call and its transfer.
  UpstreamLink& link() { return *link_; }

  void on_response(int status, const HttpHeaders& headers) override {
    status_ = status;
    if (!success()) headers_ = headers;
  }

  bool on_body(std::string_view bytes) override {
    if (terminal_) return !failed_;  // after done: let the connection finish cleanly
    if (call_->cancelled()) return false;
    if (!success()) {
      const std::size_t room = kMaxErrorBody - error_body_.size();
      error_body_.append(bytes.substr(0, room));
      return bytes.size() <= room;  // enough read for the message: stop
    }
    const bool ok = reader_.feed(bytes, [this](std::string_view line) {
      return decoder_.on_line(line, [this](Event e) { emit(std::move(e)); }) == StreamDecoder::Status::Continue;
    });
    if (!ok) {
      emit(Event::failed(stream_error("ollama: " + reader_.error())));
      failed_ = true;
    }
    if (terminal_) return !failed_;
    link_->pause_if_backlogged(*call_);
    return true;
  }

  void on_complete(const HttpOutcome& outcome) override {
    link_->detach();
    if (!terminal_ && !call_->cancelled()) {
      if (status_ != 0 && !success()) {
        emit(Event::failed(error_from_response(status_, headers_, error_body_)));
      } else if (!outcome.ok()) {
        emit(Event::failed(Error::from_transport(outcome, who_)));
      } else {
        reader_.finish([this](std::string_view line) {
          return decoder_.on_line(line, [this](Event e) { emit(std::move(e)); }) == StreamDecoder::Status::Continue;
        });
        if (!terminal_) {
          HttpOutcome cut{HttpFailure::Cut, "ollama stream ended before done"};
          if (reader_.failed()) cut.message = reader_.error();
          emit(Event::failed(Error::from_transport(cut, who_)));
        }
      }
    }
    call_.reset();  // the call is done with; nothing else holds it here
  }

 private:
  bool success() const { return status_ >= 200 && status_ <= 299; }

  void emit(Event event) {
    if (terminal_) return;
    if (event.terminal()) {
      terminal_ = true;
      if (event.kind == Event::Kind::Error) failed_ = true;
    }
    call_->emit(std::move(event));
  }

  // Touched on the transfer's loop thread only (one callback after another).
  ChatCallPtr call_;
  std::string who_;
  int status_ = 0;
  HttpHeaders headers_;
  std::string error_body_;
  ndjson::Reader reader_;
  StreamDecoder decoder_;
  bool terminal_ = false;
  bool failed_ = false;

  const std::shared_ptr<UpstreamLink> link_;
};

// One embeddings call: the /api/embed transfer's handler (one JSON answer).
class EmbedExchange final : public HttpHandler {
 public:
  EmbedExchange(ChatCallPtr call, std::string who)
      : call_(std::move(call)), who_(std::move(who)), link_(UpstreamLink::create(call_)) {}

  UpstreamLink& link() { return *link_; }

  void on_response(int status, const HttpHeaders& headers) override {
    status_ = status;
    if (!success()) headers_ = headers;
  }

  bool on_body(std::string_view bytes) override {
    if (call_->cancelled()) return false;
    const std::size_t limit = success() ? kMaxEmbedBody : kMaxErrorBody;
    if (body_.size() + bytes.size() > limit) {
      body_.append(bytes.substr(0, limit - body_.size()));
      too_large_ = success();
      return false;  // an error body: enough read for the message
    }
    body_.append(bytes);
    return true;
  }

  void on_complete(const HttpOutcome& outcome) override {
    link_->detach();
    if (!call_->cancelled()) {
      if (status_ != 0 && !success()) {
        call_->emit(Event::failed(error_from_response(status_, headers_, body_)));
      } else if (too_large_) {
        call_->emit(Event::failed(stream_error(who_ + ": the /api/embed answer is larger than " +
                                               std::to_string(kMaxEmbedBody >> 20) + " MiB")));
      } else if (!outcome.ok()) {
        call_->emit(Event::failed(Error::from_transport(outcome, who_)));
      } else {
        std::vector<Event> events;
        const std::size_t inputs = call_->request().embedding ? call_->request().embedding->size() : 0;
        if (auto error = parse_embed_response(body_, inputs, events)) {
          call_->emit(Event::failed(std::move(*error)));
        } else {
          for (Event& event : events) call_->emit(std::move(event));
        }
      }
    }
    call_.reset();
  }

 private:
  static constexpr std::size_t kMaxEmbedBody = 256u * 1024 * 1024;
  bool success() const { return status_ >= 200 && status_ <= 299; }

  ChatCallPtr call_;
  std::string who_;
  int status_ = 0;
  HttpHeaders headers_;
  std::string body_;
  bool too_large_ = false;
  const std::shared_ptr<UpstreamLink> link_;
};

}  // namespace

// ---------------------------------------------------------------------------
// OllamaProvider

OllamaProvider::OllamaProvider(std::string name, OllamaOptions options, HostServices& host)
    : name_(std::move(name)), options_(std::move(options)), host_(host), shared_(std::make_shared<Shared>()) {
  shared_->host = &host_;
  shared_->name = name_;
  shared_->options = options_;
}

OllamaProvider::~OllamaProvider() {
  std::shared_ptr<HttpTransfer> transfer;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->timer != 0) host_.timers().cancel(shared_->timer);
    shared_->timer = 0;
    shared_->host = nullptr;
    transfer = std::move(shared_->tags_transfer);
  }
  if (transfer) transfer->cancel();
}

std::shared_ptr<OllamaProvider> OllamaProvider::create(const ProviderSpec& spec) {
  auto provider = std::make_shared<OllamaProvider>(spec.name, OllamaOptions::parse(spec.options), spec.host);
  refresh_models(provider->shared_);
  return provider;
}

std::vector<ModelInfo> OllamaProvider::models() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->models;
}

HttpRequest OllamaProvider::upstream_request(const ChatRequest& chat, std::string_view path, const char* accept) const {
  HttpRequest request;
  request.method = "POST";
  request.url = options_.base_url + std::string(path);
  request.headers = options_.headers;
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("Accept", accept);
  if (const std::string& trace = chat.traceparent; !trace.empty()) {
    // The call's trace context wins over a configured header of that name.
    std::erase_if(request.headers, [](const auto& h) {
      return h.first.size() == 11 && starts_with_nocase(h.first, "traceparent");
    });
    request.headers.emplace_back("traceparent", trace);
  }
  request.timeouts = options_.timeouts;
  return request;
}

void OllamaProvider::embed(const ChatCallPtr& call, const std::string& who) {
  EmbedBody body = build_embed_body(call->request(), options_);
  if (body.error) {
    call->emit(Event::failed(std::move(*body.error)));
    return;
  }
  HttpRequest request = upstream_request(call->request(), "/api/embed", "application/json");
  request.body = std::move(body.json);
  auto exchange = std::make_shared<EmbedExchange>(call, who);
  exchange->link().attach(host_.http().start(std::move(request), exchange));
}

void OllamaProvider::chat(ChatCallPtr call) {
  if (call->cancelled()) return;
  const std::string who = "ollama provider '" + name_ + "'";
  try {
    if (call->request().operation() == Operation::Embedding) return embed(call, who);
    // A legacy completion goes to /api/generate (prompt and suffix: the
    // model's own fill-in-the-middle) unless `completions: chat`.
    const bool generate = call->request().completion.has_value() && options_.native_completions;
    ChatBody body =
        generate ? build_generate_body(call->request(), options_) : build_chat_body(call->request(), options_);
    if (!body.notes.empty() && host_.logger().enabled(LogLevel::Debug)) {
      for (const auto& note : body.notes) host_.logger().debug(who + ": " + note);
    }
    if (body.error) {
      call->emit(Event::failed(std::move(*body.error)));
      return;
    }
    HttpRequest request = upstream_request(call->request(), generate ? "/api/generate" : "/api/chat",
                                           "application/x-ndjson");
    request.body = std::move(body.json);

    auto stream = std::make_shared<ChatStream>(call, who);
    stream->link().attach(host_.http().start(std::move(request), stream));
  } catch (const std::exception& e) {
    call->emit(Event::failed(Error::upstream(502, who + ": " + e.what())));
  }
}

}  // namespace llmux::ollama
