#include "mock_provider.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

#include <filesystem>

#include "completion.h"
#include "embeddings.h"
#include "llmux/json.h"
#include "mock_util.h"

namespace llmux::mock {

namespace {

constexpr std::size_t kEchoLimit = 200;        // characters of the user text echoed
constexpr std::int64_t kMaxMarkerDelayMs = 3'600'000;
constexpr int kMaxSchemaDepth = 8;

using util::lower;
using util::next_char;
using util::trim;

std::int64_t tokens_for(std::size_t chars) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>((chars + 3) / 4));
}

std::optional<std::int64_t> parse_nonnegative(std::string_view s) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

std::string injected_failure_message(int status) {
  return "mock: injected failure (HTTP " + std::to_string(status) + ")";
}

Error internal_error(std::string_view what) {
  Error e;
  e.status = 500;
  e.type = "server_error";
  e.message = "mock: internal error: " + std::string(what);
  return e;
}

// ---------------------------------------------------------------------------
// Arguments from a JSON Schema

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_value(const rapidjson::Value& schema, const std::string& name, Writer& w, int depth);

void write_string(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string string_for(const rapidjson::Value& schema, const std::string& name) {
  const std::string n = lower(name);
  std::string format;
  if (schema.IsObject()) {
    auto it = schema.FindMember("format");
    if (it != schema.MemberEnd() && it->value.IsString()) format = it->value.GetString();
  }
  if (n.find("path") != std::string::npos || n.find("file") != std::string::npos) return "mock.txt";
  if (format == "uri" || format == "url" || n.find("url") != std::string::npos ||
      n.find("uri") != std::string::npos) {
    return "https://example.com/mock";
  }
  return name.empty() ? "mock" : "mock " + name;
}

void write_object(const rapidjson::Value& schema, Writer& w, int depth) {
  w.StartObject();
  if (schema.IsObject() && depth < kMaxSchemaDepth) {
    const rapidjson::Value* props = nullptr;
    auto p = schema.FindMember("properties");
    if (p != schema.MemberEnd() && p->value.IsObject()) props = &p->value;
    auto r = schema.FindMember("required");
    std::vector<std::string> keys;
    if (r != schema.MemberEnd() && r->value.IsArray()) {
      for (const auto& k : r->value.GetArray()) {
        if (!k.IsString()) continue;
        std::string key(k.GetString(), k.GetStringLength());
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
      }
    } else if (props) {
      for (const auto& m : props->GetObject()) keys.emplace_back(m.name.GetString(), m.name.GetStringLength());
    }
    static const rapidjson::Value kNoSchema;
    for (const auto& key : keys) {
      const rapidjson::Value* sub = &kNoSchema;
      if (props) {
        auto it = props->FindMember(rapidjson::StringRef(key.data(), key.size()));
        if (it != props->MemberEnd()) sub = &it->value;
      }
      write_string(w, key);
      write_value(*sub, key, w, depth + 1);
    }
  }
  w.EndObject();
}

std::string type_of(const rapidjson::Value& schema) {
  auto t = schema.FindMember("type");
  if (t != schema.MemberEnd()) {
    if (t->value.IsString()) return t->value.GetString();
    if (t->value.IsArray()) {
      for (const auto& v : t->value.GetArray()) {
        if (v.IsString() && std::string_view(v.GetString()) != "null") return v.GetString();
      }
      return "null";
    }
  }
  if (schema.HasMember("properties")) return "object";
  if (schema.HasMember("items")) return "array";
  return {};
}

double number_for(const rapidjson::Value& schema, bool integer) {
  double v = 1;
  auto mn = schema.FindMember("minimum");
  if (mn != schema.MemberEnd() && mn->value.IsNumber() && v < mn->value.GetDouble()) v = mn->value.GetDouble();
  auto mx = schema.FindMember("maximum");
  if (mx != schema.MemberEnd() && mx->value.IsNumber() && v > mx->value.GetDouble()) v = mx->value.GetDouble();
  if (integer) v = static_cast<double>(static_cast<std::int64_t>(v));
  return v;
}

void write_value(const rapidjson::Value& schema, const std::string& name, Writer& w, int depth) {
  if (!schema.IsObject()) {
    write_string(w, string_for(schema, name));
    return;
  }
  for (const char* fixed : {"const", "default"}) {
    auto it = schema.FindMember(fixed);
    if (it != schema.MemberEnd()) {
      it->value.Accept(w);
      return;
    }
  }
  auto e = schema.FindMember("enum");
  if (e != schema.MemberEnd() && e->value.IsArray() && !e->value.Empty()) {
    e->value[0].Accept(w);
    return;
  }
  std::string type = type_of(schema);
  if (type.empty()) {
    // A combinator: follow its first alternative.
    for (const char* alt : {"anyOf", "oneOf", "allOf"}) {
      auto it = schema.FindMember(alt);
      if (it != schema.MemberEnd() && it->value.IsArray() && !it->value.Empty() && depth < kMaxSchemaDepth) {
        const rapidjson::Value* pick = &it->value[0];
        for (const auto& v : it->value.GetArray()) {
          if (v.IsObject() && type_of(v) != "null") { pick = &v; break; }
        }
        write_value(*pick, name, w, depth + 1);
        return;
      }
    }
    type = "string";
  }
  if (type == "object") {
    write_object(schema, w, depth);
  } else if (type == "array") {
    w.StartArray();
    auto items = schema.FindMember("items");
    auto min = schema.FindMember("minItems");
    if (items != schema.MemberEnd() && items->value.IsObject() && min != schema.MemberEnd() &&
        min->value.IsUint() && depth < kMaxSchemaDepth) {
      unsigned n = std::min(min->value.GetUint(), 3u);
      for (unsigned i = 0; i < n; ++i) write_value(items->value, name, w, depth + 1);
    }
    w.EndArray();
  } else if (type == "integer") {
    w.Int64(static_cast<std::int64_t>(number_for(schema, true)));
  } else if (type == "number") {
    double v = number_for(schema, false);
    if (v == static_cast<double>(static_cast<std::int64_t>(v))) {
      w.Int64(static_cast<std::int64_t>(v));
    } else {
      w.Double(v);
    }
  } else if (type == "boolean") {
    w.Bool(true);
  } else if (type == "null") {
    w.Null();
  } else {
    write_string(w, string_for(schema, name));
  }
}

// ---------------------------------------------------------------------------
// Running a plan

// Emits one step's events; false when the call was cancelled on the way.
bool emit_step(ChatCall& call, const Plan::Step& step) {
  for (const Event& event : step.events) {
    if (call.cancelled()) return false;
    call.emit(event);
  }
  return !call.cancelled();
}

// A stalled call stays alive until it is cancelled, then is let go.
void hold_until_cancelled(const ChatCallPtr& call) {
  auto holder = std::make_shared<ChatCallPtr>(call);
  call->on_cancel([holder] { holder->reset(); });
}

void emit_internal_error(ChatCall& call, std::string_view what) noexcept {
  try {
    if (!call.cancelled()) call.emit(Event::failed(internal_error(what)));
  } catch (...) {
  }
}

// A paced call: one timer per step, each scheduling the next. Timer callbacks
// and the cancel hook own the run through shared_ptr/weak_ptr, never the
// provider, so they are safe after the provider is gone.
class Run : public std::enable_shared_from_this<Run> {
 public:
  Run(ChatCallPtr call, Plan plan, Timers& timers)
      : call_(std::move(call)), plan_(std::move(plan)), timers_(timers) {}

  void start() {
    std::weak_ptr<Run> weak = shared_from_this();
    call_->on_cancel([weak] {
      if (auto self = weak.lock()) self->stop();
    });
    schedule(0);
  }

 private:
  void schedule(std::size_t step) {
    std::lock_guard lock(mu_);
    if (stopped_ || call_->cancelled()) return;
    auto self = shared_from_this();
    pending_ = timers_.schedule(plan_.steps[step].delay, [self, step] { self->fire(step); });
  }

  void fire(std::size_t step) noexcept {
    {
      std::lock_guard lock(mu_);
      pending_.reset();
      if (stopped_) return;
    }
    try {
      if (!emit_step(*call_, plan_.steps[step])) return;
      if (step + 1 < plan_.steps.size()) {
        schedule(step + 1);
      } else if (plan_.stall) {
        hold_until_cancelled(call_);
      }
    } catch (const std::exception& e) {
      emit_internal_error(*call_, e.what());
    } catch (...) {
      emit_internal_error(*call_, "unknown exception");
    }
  }

  void stop() {
    std::optional<Timers::Id> pending;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      pending.swap(pending_);
    }
    // Outside the lock: cancelling drops the timer's callback, which may hold
    // the last reference to this run (the caller holds another meanwhile).
    if (pending) timers_.cancel(*pending);
  }

  ChatCallPtr call_;
  const Plan plan_;
  Timers& timers_;
  std::mutex mu_;
  bool stopped_ = false;
  std::optional<Timers::Id> pending_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Public helpers

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); i = next_char(text, i)) ++n;
  return n;
}

std::vector<std::string> split_utf8(std::string_view text, std::size_t chars) {
  if (chars == 0) chars = 1;
  std::vector<std::string> out;
  std::size_t start = 0, count = 0;
  for (std::size_t i = 0; i < text.size(); i = next_char(text, i)) {
    if (count == chars) {
      out.emplace_back(text.substr(start, i - start));
      start = i;
      count = 0;
    }
    ++count;
  }
  if (start < text.size()) out.emplace_back(text.substr(start));
  return out;
}

Markers parse_markers(std::string_view text) {
  Markers m;
  constexpr std::string_view kOpen = "[[mock:";
  std::size_t pos = 0;
  while ((pos = text.find(kOpen, pos)) != std::string_view::npos) {
    std::size_t body = pos + kOpen.size();
    std::size_t end = text.find("]]", body);
    if (end == std::string_view::npos) break;
    std::string_view inside = text.substr(body, end - body);
    pos = end + 2;
    // "key=value", several separated by ',' or ';'.
    while (!inside.empty()) {
      std::size_t sep = inside.find_first_of(",;");
      std::string_view item = inside.substr(0, sep);
      inside = sep == std::string_view::npos ? std::string_view{} : inside.substr(sep + 1);
      std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      std::string key = lower(trim(item.substr(0, eq)));
      auto value = parse_nonnegative(trim(item.substr(eq + 1)));
      if (!value) continue;
      if (key == "fail") {
        if (*value >= 100 && *value <= 599) m.fail = static_cast<int>(*value);
      } else if (key == "cut") {
        m.cut = *value;
      } else if (key == "stall") {
        m.stall = *value;
      } else if (key == "delay" || key == "chunk_delay") {
        m.delay_ms = std::min(*value, kMaxMarkerDelayMs);
      } else if (key == "first_byte_delay") {
        m.first_byte_delay_ms = std::min(*value, kMaxMarkerDelayMs);
      }
    }
  }
  return m;
}

std::string arguments_for_schema(std::string_view parameters_json) {
  try {
    rapidjson::Document doc;
    doc.Parse(parameters_json.data(), parameters_json.size());
    if (doc.HasParseError() || !doc.IsObject()) return "{}";
    rapidjson::StringBuffer buf;
    Writer w(buf);
    write_object(doc, w, 0);
    return std::string(buf.GetString(), buf.GetSize());
  } catch (const std::exception&) {
    return "{}";
  }
}

// ---------------------------------------------------------------------------
// Options

MockOptions MockOptions::parse(const ConfigNode& options) {
  MockOptions o;
  if (options.is_null()) return o;
  if (!options.is_map()) throw ConfigError(options, "must be a map");
  options.check_keys({"models", "chunk_size", "chunk_delay", "first_byte_delay", "reply", "tool_calls",
                      "fail_status", "fail_message", "cut_after", "stall_after", "agent", "max_tool_turns",
                      "scenario"});

  if (const ConfigNode* node = options.find("models")) {
    o.models = options.get_string_list("models");
    if (o.models.empty()) throw ConfigError(*node, "must list at least one model");
    for (const auto& m : o.models) {
      if (m.empty()) throw ConfigError(*node, "model ids must not be empty");
    }
  }
  o.chunk_size = options.get_int("chunk_size", o.chunk_size);
  if (o.chunk_size < 1) throw ConfigError(*options.find("chunk_size"), "must be at least 1");
  o.chunk_delay = options.get_duration("chunk_delay", o.chunk_delay);
  if (o.chunk_delay.count() < 0) throw ConfigError(*options.find("chunk_delay"), "must not be negative");
  o.first_byte_delay = options.get_duration("first_byte_delay", o.first_byte_delay);
  if (o.first_byte_delay.count() < 0) {
    throw ConfigError(*options.find("first_byte_delay"), "must not be negative");
  }
  o.reply = options.get_string("reply", o.reply);
  std::string tool_calls = options.get_string("tool_calls", "auto");
  if (tool_calls == "auto") {
    o.tool_calls = true;
  } else if (tool_calls == "never") {
    o.tool_calls = false;
  } else {
    throw ConfigError(*options.find("tool_calls"), "must be 'auto' or 'never', not '" + tool_calls + "'");
  }
  std::int64_t fail = options.get_int("fail_status", 0);
  if (fail != 0 && (fail < 100 || fail > 599)) {
    throw ConfigError(*options.find("fail_status"), "must be 0 (off) or an HTTP status 100..599");
  }
  o.fail_status = static_cast<int>(fail);
  o.fail_message = options.get_string("fail_message", o.fail_message);
  o.cut_after = options.get_int("cut_after", o.cut_after);
  if (o.cut_after < -1) throw ConfigError(*options.find("cut_after"), "must be -1 (off) or at least 0");
  o.stall_after = options.get_int("stall_after", o.stall_after);
  if (o.stall_after < -1) throw ConfigError(*options.find("stall_after"), "must be -1 (off) or at least 0");
  std::string agent = options.get_string("agent", "auto");
  if (agent == "auto") {
    o.agent = true;
  } else if (agent == "off") {
    o.agent = false;
  } else {
    throw ConfigError(*options.find("agent"), "must be 'auto' or 'off', not '" + agent + "'");
  }
  std::int64_t turns = options.get_int("max_tool_turns", o.max_tool_turns);
  if (turns < 1 || turns > 1000) throw ConfigError(*options.find("max_tool_turns"), "must be 1..1000");
  o.max_tool_turns = static_cast<int>(turns);
  if (const ConfigNode* node = options.find("scenario")) {
    std::string path = options.get_string("scenario");
    if (path.empty()) throw ConfigError(*node, "must name a scenario file");
    std::filesystem::path resolved(path);
    if (resolved.is_relative() && !node->mark().file.empty()) {
      // Relative to the config file that names it.
      resolved = std::filesystem::path(node->mark().file).parent_path() / resolved;
    }
    o.scenario_path = resolved.lexically_normal().string();
    o.scenario = Scenario::load(o.scenario_path, *node);
  }
  return o;
}

// ---------------------------------------------------------------------------
// Planning

Answer builtin_answer(const MockOptions& options, const ChatRequest& request, const Conversation& conversation) {
  if (request.completion) {
    // A legacy completion: the text at the cursor (no agent, no tools).
    Answer answer;
    answer.text = options.reply.empty() ? completion_text(*request.completion) : options.reply;
    answer.origin = "completion";
    return answer;
  }
  if (options.agent) {
    AgentSettings settings{options.tool_calls, options.max_tool_turns, options.reply};
    if (auto answer = agent_answer(request, conversation, settings)) return std::move(*answer);
  }
  const std::string last_user = request.last_user_text();
  const bool offer_tool = !request.tools.empty() && options.tool_calls &&
                          request.tool_choice.mode != ToolChoice::Mode::None && !conversation.tool_result;
  Answer answer;
  if (offer_tool) {
    const Tool* tool = &request.tools.front();
    if (request.tool_choice.mode == ToolChoice::Mode::Function) {
      for (const Tool& t : request.tools) {
        if (t.name == request.tool_choice.function_name) {
          tool = &t;
          break;
        }
      }
    }
    answer.tool_calls.push_back(
        {tool_call_id(request, conversation, tool->name, 0), tool->name, arguments_for_schema(tool->parameters_json)});
    answer.origin = "schema tool call";
    return answer;
  }
  if (!options.reply.empty()) {
    answer.text = options.reply;
  } else if (!request.messages.empty() && request.messages.back().role == Role::Tool) {
    answer.text = "Mock answer: tool result received.";
  } else if (last_user.empty()) {
    answer.text = "Mock answer.";
  } else {
    answer.text = "Mock answer to: " + util::truncate_chars(last_user, kEchoLimit);
  }
  answer.origin = "text";
  return answer;
}

namespace {

// An embeddings call: one vector per input (embeddings.h), the token
// estimate, Finish; the faults of the options and markers (in any input text)
// and the first-byte delay apply as for a chat.
Plan embedding_plan(const MockOptions& options, const ChatRequest& request) {
  const EmbeddingInput& input = *request.embedding;
  std::string all_text;
  for (const auto& text : input.texts) all_text += text;
  const Markers markers = parse_markers(all_text);
  const int fail = markers.fail ? markers.fail : options.fail_status;
  const auto first_byte_delay = markers.first_byte_delay_ms >= 0
                                    ? std::chrono::milliseconds(markers.first_byte_delay_ms)
                                    : options.first_byte_delay;
  Plan plan;
  plan.origin = "embeddings";
  if (fail != 0) {
    std::string message = (markers.fail || options.fail_message.empty()) ? injected_failure_message(fail)
                                                                        : options.fail_message;
    plan.steps.push_back({first_byte_delay, {Event::failed(Error::upstream(fail, std::move(message)))}});
    plan.origin = "injected failure";
    return plan;
  }
  if (input.dimensions && *input.dimensions > kMaxEmbeddingDimensions) {
    plan.steps.push_back({first_byte_delay,
                          {Event::failed(Error::invalid_request(
                              "mock: 'dimensions' must be at most " + std::to_string(kMaxEmbeddingDimensions) +
                                  ", got " + std::to_string(*input.dimensions),
                              "dimensions", "integer_above_max_value"))}});
    return plan;
  }
  const std::size_t dimensions = input.dimensions ? static_cast<std::size_t>(*input.dimensions)
                                                  : default_embedding_dimensions(request.model);
  Plan::Step step{first_byte_delay, {}};
  step.events.reserve(input.size() + 2);
  for (std::size_t i = 0; i < input.texts.size(); ++i) {
    step.events.push_back(Event::embedding_of(static_cast<int>(i), embed_text(input.texts[i], dimensions)));
  }
  for (std::size_t i = 0; i < input.tokens.size(); ++i) {
    step.events.push_back(Event::embedding_of(static_cast<int>(i), embed_tokens(input.tokens[i], dimensions)));
  }
  Usage usage;
  usage.input_tokens = embedding_input_tokens(input);
  step.events.push_back(Event::usage_report(usage));
  step.events.push_back(Event::finished(FinishReason::Stop));
  plan.steps.push_back(std::move(step));
  return plan;
}

}  // namespace

Plan make_plan(const MockOptions& options, const ChatRequest& request) {
  if (request.embedding) return embedding_plan(options, request);
  const Markers markers = parse_markers(request.last_user_text());
  const Conversation conversation = analyze(request);

  // Who answers: a matching scenario turn, else the built-in behaviour (with
  // the pacing and faults of a scenario turn that hands over to the agent).
  Answer answer;
  std::optional<Scenario::Match> scripted;
  if (options.scenario) scripted = options.scenario->match(request, conversation);
  if (scripted && !scripted->agent) {
    answer = std::move(scripted->answer);
  } else {
    answer = builtin_answer(options, request, conversation);
    if (scripted) {
      const Answer& turn = scripted->answer;
      answer.first_byte_delay = turn.first_byte_delay;
      answer.chunk_delay = turn.chunk_delay;
      answer.cut_after = turn.cut_after;
      answer.stall_after = turn.stall_after;
      if (turn.finish) answer.finish = turn.finish;
      answer.origin = turn.origin + " -> " + answer.origin;
    }
  }
  if (!answer.tool_calls.empty() && conversation.task_tool_turns >= options.max_tool_turns) {
    // Never call tools forever: a task that went this many tool turns ends.
    answer.tool_calls.clear();
    answer.text = "mock: stopping after " + std::to_string(conversation.task_tool_turns) + " tool turns.";
    if (answer.finish == FinishReason::ToolCalls) answer.finish.reset();
    answer.origin += " (tool turns spent)";
  }
  if (request.completion && request.sampling.max_tokens && !answer.error) {
    // A completion stops at max_tokens (about 4 characters a token, as the
    // mock counts usage), as a model would: cut, finish_reason "length".
    const auto limit = static_cast<std::size_t>(std::min<std::int64_t>(*request.sampling.max_tokens, 1 << 20)) * 4;
    if (utf8_length(answer.text) > limit) {
      answer.text = util::truncate_chars(answer.text, limit);
      answer.finish = FinishReason::Length;
    }
  } else if (!answer.error && answer.text.empty() && answer.tool_calls.empty()) {
    answer.text = "Mock answer.";
  }

  const int fail = markers.fail ? markers.fail : options.fail_status;
  const std::int64_t cut = markers.cut >= 0 ? markers.cut : answer.cut_after >= 0 ? answer.cut_after : options.cut_after;
  const std::int64_t stall =
      markers.stall >= 0 ? markers.stall : answer.stall_after >= 0 ? answer.stall_after : options.stall_after;
  const auto chunk_delay = markers.delay_ms >= 0 ? std::chrono::milliseconds(markers.delay_ms)
                                                 : answer.chunk_delay.value_or(options.chunk_delay);
  const auto first_byte_delay = markers.first_byte_delay_ms >= 0
                                    ? std::chrono::milliseconds(markers.first_byte_delay_ms)
                                    : answer.first_byte_delay.value_or(options.first_byte_delay);
  const auto chunk = static_cast<std::size_t>(std::max<std::int64_t>(1, options.chunk_size));

  Plan plan;
  plan.origin = answer.origin;
  if (fail != 0) {
    std::string message = (markers.fail || options.fail_message.empty()) ? injected_failure_message(fail)
                                                                        : options.fail_message;
    plan.steps.push_back({first_byte_delay, {Event::failed(Error::upstream(fail, std::move(message)))}});
    plan.origin = "injected failure";
    return plan;
  }
  if (answer.error) {
    plan.steps.push_back({first_byte_delay, {Event::failed(std::move(*answer.error))}});
    return plan;
  }

  std::vector<Event> deltas;
  std::size_t output_chars = 0;
  for (auto& piece : split_utf8(answer.reasoning, chunk)) deltas.push_back(Event::reasoning_delta(std::move(piece)));
  for (auto& piece : split_utf8(answer.text, chunk)) deltas.push_back(Event::text_delta(std::move(piece)));
  output_chars += utf8_length(answer.reasoning) + utf8_length(answer.text);
  for (std::size_t index = 0; index < answer.tool_calls.size(); ++index) {
    const PlannedToolCall& call = answer.tool_calls[index];
    std::vector<std::string> pieces = split_utf8(call.arguments, chunk);
    if (pieces.size() < 2 && utf8_length(call.arguments) >= 2) {
      // Always at least two fragments, so clients that join them are exercised.
      pieces = split_utf8(call.arguments, (utf8_length(call.arguments) + 1) / 2);
    }
    if (pieces.empty()) pieces.emplace_back();
    const int i = static_cast<int>(index);
    for (std::size_t k = 0; k < pieces.size(); ++k) {
      deltas.push_back(k == 0 ? Event::tool_call_delta(i, call.id, call.name, std::move(pieces[k]))
                              : Event::tool_call_delta(i, {}, {}, std::move(pieces[k])));
    }
    output_chars += utf8_length(call.name) + utf8_length(call.arguments);
  }
  const FinishReason finish =
      answer.finish.value_or(answer.tool_calls.empty() ? FinishReason::Stop : FinishReason::ToolCalls);

  std::size_t input_chars = 0;
  if (request.completion) {  // the prompt as the client sent it, not its chat form
    input_chars = utf8_length(request.completion->prompt) + utf8_length(request.completion->suffix);
  } else {
    for (const Message& m : request.messages) input_chars += utf8_length(m.text());
  }
  Usage usage;
  usage.input_tokens = tokens_for(input_chars);
  usage.output_tokens = tokens_for(output_chars);

  // Where the answer ends: complete, cut (Error) or stalled, whichever first.
  enum class Tail { Finish, Cut, Stall } tail = Tail::Finish;
  std::size_t emitted = deltas.size();
  if (cut >= 0 && (stall < 0 || cut <= stall)) {
    tail = Tail::Cut;
    emitted = std::min<std::size_t>(emitted, static_cast<std::size_t>(cut));
  } else if (stall >= 0) {
    tail = Tail::Stall;
    emitted = std::min<std::size_t>(emitted, static_cast<std::size_t>(stall));
  }

  // The prompt's count is known before the first delta: reported at once, so
  // an Anthropic client's message_start carries it instead of an estimate.
  // The final Usage adds the output.
  Usage prompt_only = usage;
  prompt_only.output_tokens = 0;
  plan.steps.push_back({first_byte_delay, {Event::role(), Event::usage_report(prompt_only)}});
  for (std::size_t i = 0; i < emitted; ++i) {
    if (i == 0) {
      plan.steps.back().events.push_back(std::move(deltas[i]));
    } else {
      plan.steps.push_back({chunk_delay, {std::move(deltas[i])}});
    }
  }
  auto& last = plan.steps.back().events;
  switch (tail) {
    case Tail::Finish:
      last.push_back(Event::usage_report(usage));
      last.push_back(Event::finished(finish));
      break;
    case Tail::Cut:
      last.push_back(Event::failed(
          Error::upstream(502, "mock: stream cut after " + std::to_string(emitted) + " chunks")));
      break;
    case Tail::Stall:
      plan.stall = true;
      break;
  }
  return plan;
}

// ---------------------------------------------------------------------------
// The provider

MockProvider::MockProvider(std::string name, MockOptions options, HostServices& host)
    : name_(std::move(name)), options_(std::move(options)), host_(host) {}

std::shared_ptr<MockProvider> MockProvider::create(const ProviderSpec& spec) {
  return std::make_shared<MockProvider>(spec.name, MockOptions::parse(spec.options), spec.host);
}

std::vector<ModelInfo> MockProvider::models() const {
  std::vector<ModelInfo> out;
  out.reserve(options_.models.size());
  for (const auto& id : options_.models) out.push_back({id, kOwnedBy});
  return out;
}

void MockProvider::chat(ChatCallPtr call) {
  if (!call) return;
  try {
    Plan plan = make_plan(options_, call->request());
    bool paced = false;
    for (const auto& step : plan.steps) paced = paced || step.delay.count() > 0;
    if (host_.logger().enabled(LogLevel::Debug)) {
      host_.logger().debug("provider " + name_ + ": model '" + call->request().model + "': " +
                           std::to_string(plan.steps.size()) + " steps" + (paced ? ", paced" : "") +
                           (plan.stall ? ", stalls" : "") + " (" + plan.origin + ")");
    }
    if (!paced) {
      // Fast path: everything now, on the caller's thread.
      for (const auto& step : plan.steps) {
        if (!emit_step(*call, step)) return;
      }
      if (plan.stall) hold_until_cancelled(call);
      return;
    }
    auto run = std::make_shared<Run>(call, std::move(plan), host_.timers());
    run->start();
  } catch (const std::exception& e) {
    emit_internal_error(*call, e.what());
  } catch (...) {
    emit_internal_error(*call, "unknown exception");
  }
}

}  // namespace llmux::mock
