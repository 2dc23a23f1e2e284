// The OpenAI Responses API: POST /v1/responses (routed to any provider,
// translated by the SDK's Responses codec or passed through to an upstream
// that speaks it), and the stored responses: GET and DELETE
// /v1/responses/{id}, GET /v1/responses/{id}/input_items.
//
// previous_response_id is resolved here, before the codec sees the body: the
// stored input and output items are put in front of the new input, so every
// provider gets a self-contained request (a native upstream never sees an id
// it did not make).
#include <chrono>
#include <random>

#include "llmux/json.h"  // before any rapidjson: its configuration

#include "api/answer_writers.h"
#include "api/chat_flow.h"
#include "api/openai_api.h"
#include "api/registrations.h"
#include "api/responses_api.h"
#include "gateway/gateway.h"
#include "llmux/codec/responses.h"
#include "llmux/json.h"
#include "llmux/json_scan.h"
#include "services/response_store.h"

namespace llmux::host {
namespace {

// What the writer templates need to render one answer: the client's model
// name (restore_model), the codec's meta, and the request's tools (a call to a
// freeform or namespaced tool renders back in the client's terms).
struct ResponsesMeta {
  std::string model;
  responses::ResponseMeta meta;
  std::shared_ptr<const ChatRequest> request;
};

struct ResponsesRenderers {
  static constexpr Api kApi = Api::OpenAIResponses;
  using Meta = ResponsesMeta;
  using StreamRenderer = responses::StreamRenderer;
  static std::string whole(const ChatResponse& response, const Meta& meta) {
    return responses::render_response(response, meta.meta, *meta.request);
  }
  static std::string error(const Error& error) { return responses::render_error(error); }
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_response_id() {
  static constexpr char kAlphabet[] = "0123456789abcdef";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "resp_";
  for (int word = 0; word < 3; ++word) {
    std::uint64_t bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) id.push_back(kAlphabet[bits & 15]);
  }
  return id;
}

// What the rendering needs of the request, without its messages.
std::shared_ptr<const ChatRequest> rendering_view(const ChatRequest& request) {
  auto view = std::make_shared<ChatRequest>();
  view->model = request.model;
  view->tools = request.tools;
  view->tool_choice = request.tool_choice;
  view->parallel_tool_calls = request.parallel_tool_calls;
  view->sampling = request.sampling;
  view->reasoning = request.reasoning;
  view->response_format = request.response_format;
  view->stream = request.stream;
  view->source_api = request.source_api;
  return view;
}

// The meta of the answer `id` to `request` (its model as the client named it).
ResponsesMeta responses_meta(const ChatRequest& request, std::string id) {
  ResponsesMeta meta;
  meta.model = request.model;
  meta.request = rendering_view(request);
  meta.meta.id = std::move(id);
  meta.meta.model = request.model;
  meta.meta.created_at = unix_now();
  if (request.original_body) meta.meta.request_body = *request.original_body;
  return meta;
}

bool asks_encrypted_reasoning(std::string_view body) {
  auto include = json::find_member(body, "include");
  return include && include->find("\"reasoning.encrypted_content\"") != std::string_view::npos;
}

std::unique_ptr<AnswerWriter> make_responses_writer(AnswerContext context, ResponsesMeta meta) {
  if (meta.request->stream) {
    responses::StreamRenderer renderer(meta.meta, *meta.request);
    std::string model = meta.model;
    return std::make_unique<StreamAnswerWriter<ResponsesRenderers>>(std::move(context), std::move(renderer),
                                                                    std::move(model));
  }
  return std::make_unique<WholeAnswerWriter<ResponsesRenderers>>(std::move(context), std::move(meta));
}

// The response object, output and id of a pass-through answer (the upstream's
// own), from its whole body or from the terminal event of its stream.
struct PassedThrough {
  std::string id, response_json, output_json;
};
std::optional<PassedThrough> read_passed_through(std::string_view raw) {
  std::string_view response;
  if (auto at = raw.find_first_not_of(" \t\r\n"); at != std::string_view::npos && raw[at] == '{') {
    response = raw.substr(at);
  } else {
    // The last `data:` line whose type is response.completed or .incomplete.
    for (std::size_t pos = 0; pos < raw.size();) {
      std::size_t end = raw.find('\n', pos);
      if (end == std::string_view::npos) end = raw.size();
      std::string_view line = raw.substr(pos, end - pos);
      pos = end + 1;
      if (line.substr(0, 5) != "data:") continue;
      line.remove_prefix(line.size() > 5 && line[5] == ' ' ? 6 : 5);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      auto type = json::find_member(line, "type");
      if (!type || (*type != "\"response.completed\"" && *type != "\"response.incomplete\"")) continue;
      if (auto object = json::find_member(line, "response")) response = *object;
    }
  }
  if (response.empty()) return std::nullopt;
  auto id = json::find_member(response, "id");
  auto output = json::find_member(response, "output");
  if (!id || id->size() < 3 || id->front() != '"' || !output) return std::nullopt;
  return PassedThrough{std::string(id->substr(1, id->size() - 2)), std::string(response), std::string(*output)};
}

// Stores the answer for previous_response_id once it has completed: wraps the
// dialect's writer and watches the same events.
class StoringWriter final : public AnswerWriter {
 public:
  StoringWriter(std::unique_ptr<AnswerWriter> inner, ResponseStore& store, std::string input_json,
                ResponsesMeta meta)
      : inner_(std::move(inner)), store_(store), input_json_(std::move(input_json)), meta_(std::move(meta)) {}

  void begin_attempt(const std::string& provider) override { inner_->begin_attempt(provider); }
  void on_event(const Event& event) override {
    collector_.add(event);
    inner_->on_event(event);
    if (event.kind == Event::Kind::Finish) save();
  }
  bool committed() const override { return inner_->committed(); }
  void discard() override {
    collector_ = ResponseCollector{};
    inner_->discard();
  }
  void fail(const Error& error) override { inner_->fail(error); }
  bool finished() const override { return inner_->finished(); }
  void flush() override { inner_->flush(); }

 private:
  void save() {
    const ChatResponse& response = collector_.response();
    if (!response.raw.empty()) {
      std::string raw;
      restore_model(Api::OpenAIResponses, response.raw, meta_.model, raw);
      if (auto passed = read_passed_through(raw)) {
        store_.put(passed->id, {std::move(passed->response_json), std::move(input_json_),
                                std::move(passed->output_json)});
      }
      return;
    }
    store_.put(meta_.meta.id, {responses::render_response(response, meta_.meta, *meta_.request), std::move(input_json_),
                               responses::output_items(response, meta_.meta, *meta_.request)});
  }

  std::unique_ptr<AnswerWriter> inner_;
  ResponseStore& store_;
  std::string input_json_;
  ResponsesMeta meta_;
  ResponseCollector collector_;
};

// "[a,b]" + "[c]" -> "[a,b,c]" (JSON arrays as text; empty ones add nothing).
std::string join_arrays(std::initializer_list<std::string_view> arrays) {
  std::string out = "[";
  for (std::string_view array : arrays) {
    auto open = array.find('[');
    auto close = array.rfind(']');
    if (open == std::string_view::npos || close == std::string_view::npos || close <= open) continue;
    std::string_view inner = array.substr(open + 1, close - open - 1);
    if (inner.find_first_not_of(" \t\r\n") == std::string_view::npos) continue;
    if (out.size() > 1) out.push_back(',');
    out.append(inner);
  }
  out.push_back(']');
  return out;
}

// Input items as OpenAI lists them (GET .../input_items) and as they are
// stored: every item typed, a message's string content as its parts, a
// status, and an id made here when the client sent none, so an item keeps
// its id through every later turn of the conversation.
std::string normalized_items(std::string_view input_json, std::string_view seed) {
  rapidjson::Document items;
  items.Parse(input_json.data(), input_json.size());
  if (items.HasParseError() || !items.IsArray()) return std::string(input_json);
  auto& alloc = items.GetAllocator();
  auto set_string = [&](rapidjson::Value& object, const char* name, std::string_view value) {
    rapidjson::Value text(value.data(), static_cast<rapidjson::SizeType>(value.size()), alloc);
    if (object.HasMember(name)) {
      object[name] = text;
    } else {
      object.AddMember(rapidjson::StringRef(name), text, alloc);
    }
  };
  std::size_t position = 0;
  for (auto& item : items.GetArray()) {
    ++position;
    if (!item.IsObject()) continue;
    if (!item.HasMember("type") && item.HasMember("role")) set_string(item, "type", "message");
    const auto type_it = item.FindMember("type");
    const std::string type = type_it != item.MemberEnd() && type_it->value.IsString() ? type_it->value.GetString() : "";
    if (type == "message") {
      auto content = item.FindMember("content");
      if (content != item.MemberEnd() && content->value.IsString()) {
        const bool assistant = item.HasMember("role") && item["role"].IsString() &&
                               std::string_view(item["role"].GetString()) == "assistant";
        rapidjson::Value part(rapidjson::kObjectType);
        part.AddMember("type", rapidjson::StringRef(assistant ? "output_text" : "input_text"), alloc);
        part.AddMember("text", rapidjson::Value(content->value, alloc), alloc);
        if (assistant) part.AddMember("annotations", rapidjson::Value(rapidjson::kArrayType), alloc);
        rapidjson::Value parts(rapidjson::kArrayType);
        parts.PushBack(part, alloc);
        content->value = parts;
      }
    }
    if (!item.HasMember("status") && (type == "message" || type == "function_call" ||
                                      type == "function_call_output" || type == "custom_tool_call")) {
      set_string(item, "status", "completed");
    }
    if (!item.HasMember("id")) {
      const char* prefix = type == "message"                  ? "msg_"
                           : type == "function_call"          ? "fc_"
                           : type == "function_call_output"   ? "fco_"
                           : type == "custom_tool_call"       ? "ctc_"
                           : type == "custom_tool_call_output" ? "ctco_"
                           : type == "reasoning"              ? "rs_"
                                                              : "item_";
      set_string(item, "id", std::string(prefix) + std::string(seed) + "_in" + std::to_string(position - 1));
    }
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  items.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Error response_not_found(std::string_view id) {
  return Error::make(404, "invalid_request_error", "Response with id '" + std::string(id) + "' not found.", {},
                     {});
}

// "/v1/responses/{id}[/input_items]" -> id
std::string_view path_id(std::string_view path) {
  constexpr std::string_view kPrefix = "/responses/";
  auto at = path.find(kPrefix);
  if (at == std::string_view::npos) return {};
  std::string_view rest = path.substr(at + kPrefix.size());
  return rest.substr(0, rest.find('/'));
}

class CreateResponseApi final : public InboundApi {
 public:
  std::string_view name() const override { return "openai.responses"; }
  std::vector<std::string> paths() const override { return {"/v1/responses"}; }
  std::string_view method() const override { return "POST"; }
  const Dialect& dialect(const InboundRequest&) const override { return responses_dialect(); }

  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    std::string& body = call.request.body();
    responses::RequestHead head;
    if (auto error = responses::read_head(body, head)) {
      call.fail(*error);
      return nullptr;
    }
    const std::string response_id = new_response_id();
    std::string input_json = std::move(head.input_json);
    if (head.store) {
      // Stored items keep the ids given now; the continuation sends them on.
      input_json = normalized_items(input_json, std::string_view(response_id).substr(5));
    }
    if (!head.previous_response_id.empty()) {
      auto stored = call.gateway.responses().get(head.previous_response_id);
      if (!stored) {
        call.fail(Error::make(400, "invalid_request_error",
                              "Previous response with id '" + head.previous_response_id + "' not found.",
                              "previous_response_not_found", "previous_response_id"));
        return nullptr;
      }
      input_json = join_arrays({stored->input_json, stored->output_json, input_json});
      body = responses::replace_input(body, input_json);
    }
    const bool encrypted_reasoning = asks_encrypted_reasoning(body);
    auto routed = route_chat(call, &responses::parse_request);
    if (!routed) return nullptr;

    ResponsesMeta meta = responses_meta(routed->request, response_id);
    meta.meta.previous_response_id = head.previous_response_id;
    meta.meta.include_encrypted_reasoning = encrypted_reasoning;
    auto writer = make_responses_writer(call.answer_context(), meta);
    if (head.store) {
      writer = std::make_unique<StoringWriter>(std::move(writer), call.gateway.responses(), std::move(input_json),
                                               std::move(meta));
    }
    return start_chat(call, std::move(*routed), std::move(writer));
  }
};

class GetResponseApi final : public InboundApi {
 public:
  std::string_view name() const override { return "openai.responses.get"; }
  std::vector<std::string> paths() const override { return {"/v1/responses/{id}"}; }
  std::string_view method() const override { return "GET"; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    std::string_view id = path_id(call.request.path());
    if (auto stored = call.gateway.responses().get(id)) {
      call.respond(200, "application/json", stored->response_json);
    } else {
      call.fail(response_not_found(id));
    }
    return nullptr;
  }
};

class DeleteResponseApi final : public InboundApi {
 public:
  std::string_view name() const override { return "openai.responses.delete"; }
  std::vector<std::string> paths() const override { return {"/v1/responses/{id}"}; }
  std::string_view method() const override { return "DELETE"; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    std::string_view id = path_id(call.request.path());
    if (!call.gateway.responses().erase(id)) {
      call.fail(response_not_found(id));
      return nullptr;
    }
    std::string body = "{\"id\":";
    json::append_quoted(body, id);
    body.append(",\"object\":\"response\",\"deleted\":true}");
    call.respond(200, "application/json", body);
    return nullptr;
  }
};

// GET /v1/responses/{id}/input_items?order=desc|asc&limit=1..100&after=ITEM_ID
class InputItemsApi final : public InboundApi {
 public:
  std::string_view name() const override { return "openai.responses.input_items"; }
  std::vector<std::string> paths() const override { return {"/v1/responses/{id}/input_items"}; }
  std::string_view method() const override { return "GET"; }
  std::shared_ptr<Exchange> serve(ApiCall& call) const override {
    std::string_view id = path_id(call.request.path());
    auto stored = call.gateway.responses().get(id);
    if (!stored) {
      call.fail(response_not_found(id));
      return nullptr;
    }
    const std::string order = call.request.query("order").value_or("desc");
    if (order != "asc" && order != "desc") {
      call.fail(Error::invalid_request("order must be 'asc' or 'desc'", "order"));
      return nullptr;
    }
    long limit = 20;
    if (auto text = call.request.query("limit")) {
      char* end = nullptr;
      limit = std::strtol(text->c_str(), &end, 10);
      if (text->empty() || *end != '\0' || limit < 1 || limit > 100) {
        call.fail(Error::invalid_request("limit must be between 1 and 100", "limit"));
        return nullptr;
      }
    }
    const std::string after = call.request.query("after").value_or("");

    rapidjson::Document items;
    items.Parse(stored->input_json.data(), stored->input_json.size());
    if (!items.IsArray()) items.SetArray();
    auto& alloc = items.GetAllocator();
    // Items the client sent without an id get a stable one, by position.
    std::vector<rapidjson::Value*> ordered;
    rapidjson::SizeType position = 0;
    for (auto& item : items.GetArray()) {
      if (item.IsObject() && !item.HasMember("id")) {
        std::string made = "item_" + std::string(id.substr(id.find('_') + 1)) + "_" + std::to_string(position);
        item.AddMember("id", rapidjson::Value(made.c_str(), static_cast<rapidjson::SizeType>(made.size()), alloc),
                       alloc);
      }
      ordered.push_back(&item);
      ++position;
    }
    if (order == "desc") std::reverse(ordered.begin(), ordered.end());
    std::size_t start = 0;
    if (!after.empty()) {
      while (start < ordered.size()) {
        const auto& item = *ordered[start++];
        if (item.IsObject() && item.HasMember("id") && item["id"].IsString() && after == item["id"].GetString()) break;
      }
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartObject();
    writer.Key("object");
    writer.String("list");
    writer.Key("data");
    writer.StartArray();
    std::string first_id, last_id;
    std::size_t end = std::min(ordered.size(), start + static_cast<std::size_t>(limit));
    for (std::size_t i = start; i < end; ++i) {
      const auto& item = *ordered[i];
      item.Accept(writer);
      if (item.IsObject() && item.HasMember("id") && item["id"].IsString()) {
        (i == start ? first_id : last_id) = item["id"].GetString();
      }
    }
    if (end == start + 1) last_id = first_id;
    writer.EndArray();
    writer.Key("first_id");
    first_id.empty() ? writer.Null() : writer.String(first_id.c_str(), static_cast<rapidjson::SizeType>(first_id.size()));
    writer.Key("last_id");
    last_id.empty() ? writer.Null() : writer.String(last_id.c_str(), static_cast<rapidjson::SizeType>(last_id.size()));
    writer.Key("has_more");
    writer.Bool(end < ordered.size());
    writer.EndObject();
    call.respond(200, "application/json", std::string_view(buffer.GetString(), buffer.GetSize()));
    return nullptr;
  }
};

class ResponsesDialect final : public Dialect {
 public:
  Api api() const override { return Api::OpenAIResponses; }
  std::string error_body(const Error& error) const override { return responses::render_error(error); }
  std::string model_list(const std::vector<ServedModel>& models, std::int64_t created) const override {
    return openai_dialect().model_list(models, created);
  }
  std::unique_ptr<AnswerWriter> make_writer(AnswerContext context, const ChatRequest& request) const override {
    return make_responses_writer(std::move(context), responses_meta(request, new_response_id()));
  }
};

}  // namespace

const Dialect& responses_dialect() {
  static const ResponsesDialect dialect;
  return dialect;
}

std::unique_ptr<InboundApi> make_responses_create_api() { return std::make_unique<CreateResponseApi>(); }
std::unique_ptr<InboundApi> make_responses_get_api() { return std::make_unique<GetResponseApi>(); }
std::unique_ptr<InboundApi> make_responses_delete_api() { return std::make_unique<DeleteResponseApi>(); }
std::unique_ptr<InboundApi> make_responses_input_items_api() { return std::make_unique<InputItemsApi>(); }

}  // namespace llmux::host
