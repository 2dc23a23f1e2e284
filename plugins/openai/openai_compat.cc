// The OpenAI-compatible provider: keys, request, streamed and whole answers,
// errors, backpressure, cancellation and the cached model list.
//
// Lifetime. Everything a transfer or a timer touches lives in a shared Core,
// never in the provider: a reload may destroy the provider while its calls
// run. The host services belong to the provider, so after the provider is gone
// (Core::alive false) the Core no longer logs, schedules or starts transfers;
// calls in flight finish on their own state (the ChatCall and the transfer).
#include "openai_compat.h"
#include "passthrough.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <utility>

#include "llmux/codec/openai.h"
#include "llmux/json.h"
#include "llmux/sse.h"
#include "llmux/upstream_link.h"

namespace llmux::openai_compat {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

// Sets a header, replacing any of the same name (case-insensitive).
void set_header(HttpHeaders& headers, std::string name, std::string value) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) { return iequals(h.first, name); }),
                headers.end());
  headers.emplace_back(std::move(name), std::move(value));
}

bool has_extra(const ChatRequest& request, std::string_view name) {
  return std::any_of(request.extra.begin(), request.extra.end(), [&](const auto& m) { return m.first == name; });
}

}  // namespace

// ---------------------------------------------------------------------------
// Keys: round-robin over the usable ones; a 401 sets one aside until reload.

class KeyPool {
 public:
  explicit KeyPool(std::vector<ApiKey> keys) : keys_(std::move(keys)), rejected_(keys_.size(), false) {}

  bool keyless() const { return keys_.empty(); }
  const ApiKey& key(std::size_t index) const { return keys_[index]; }

  // The next usable key, or nullopt when every key was set aside.
  std::optional<std::size_t> next() {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      std::size_t k = (cursor_ + i) % keys_.size();
      if (!rejected_[k]) {
        cursor_ = k + 1;
        return k;
      }
    }
    return std::nullopt;
  }

  // A usable key without moving the rotation (background requests).
  std::optional<std::size_t> any_usable() const {
    std::lock_guard lock(mu_);
    for (std::size_t k = 0; k < keys_.size(); ++k) {
      if (!rejected_[k]) return k;
    }
    return std::nullopt;
  }

  // Sets a key aside. Returns how many usable keys are left, or nullopt when
  // it was set aside already (so each key is reported once).
  std::optional<std::size_t> reject(std::size_t index) {
    std::lock_guard lock(mu_);
    if (rejected_[index]) return std::nullopt;
    rejected_[index] = true;
    return static_cast<std::size_t>(std::count(rejected_.begin(), rejected_.end(), false));
  }

  // Replaces every configured key in `text` (an upstream may echo it).
  std::string redact(std::string text) const {
    for (const ApiKey& key : keys_) {
      if (key.value.size() < 6) continue;  // too short to be a real key; would mangle text
      for (std::size_t at = text.find(key.value); at != std::string::npos; at = text.find(key.value, at)) {
        text.replace(at, key.value.size(), "[redacted]");
      }
    }
    return text;
  }

 private:
  const std::vector<ApiKey> keys_;
  mutable std::mutex mu_;
  std::vector<bool> rejected_;
  std::size_t cursor_ = 0;
};

// ---------------------------------------------------------------------------
// The shared state of one provider.

struct Core : std::enable_shared_from_this<Core> {
  Core(std::string provider_name, OpenAICompatConfig cfg, HostServices& services)
      : name(std::move(provider_name)),
        config(std::move(cfg)),
        who(config.plugin + " provider '" + name + "'"),
        chat_url(config.base_url + "/chat/completions"),
        models_url(config.base_url + "/models"),
        keys(config.keys),
        host(services) {}

  const std::string name;
  const OpenAICompatConfig config;
  const std::string who;  // "openai provider 'name'": prefixes transport errors
  const std::string chat_url;
  const std::string models_url;
  KeyPool keys;

  // A request to the upstream with the headers every request carries.
  HttpRequest request(std::string method, std::string url, std::optional<std::size_t> key, bool event_stream) const {
    HttpRequest r;
    r.method = std::move(method);
    r.url = std::move(url);
    if (key) r.headers.emplace_back("Authorization", "Bearer " + keys.key(*key).value);
    if (r.method == "POST") r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Accept", event_stream ? "text/event-stream" : "application/json");
    if (!config.organization.empty()) r.headers.emplace_back("OpenAI-Organization", config.organization);
    for (const auto& [header, value] : config.headers) set_header(r.headers, header, value);
    config.upstream.apply(r);
    return r;
  }

  // ---- host services: only while the provider lives
  void log(LogLevel level, std::string_view message) {
    std::lock_guard lock(life_mu);
    if (!alive) return;
    Logger& logger = host.logger();
    if (logger.enabled(level)) logger.log(level, message);
  }

  void key_rejected(std::size_t index) {
    auto left = keys.reject(index);
    if (!left) return;
    const ApiKey& key = keys.key(index);
    std::string message = "key #" + std::to_string(key.position) + " (" + key_hint(key.value) +
                          ") rejected with 401; set aside";
    if (*left == 0) message += "; no usable key left until the config is fixed and reloaded";
    log(LogLevel::Warn, message);
  }

  void shutdown() {
    std::optional<Timers::Id> timer;
    std::shared_ptr<HttpTransfer> transfer;
    {
      std::lock_guard lock(life_mu);
      alive = false;
      timer.swap(refresh_timer);
      transfer = std::move(models_transfer);
    }
    // Outside the lock: a timer or a transfer callback may be waiting for it.
    if (timer) host.timers().cancel(*timer);
    if (transfer) transfer->cancel();
  }

  // ---- the model list
  std::vector<ModelInfo> models() const {
    std::lock_guard lock(models_mu);
    return model_cache;
  }

  void fetch_models();
  void models_fetched(std::optional<std::vector<ModelInfo>> list, const std::string& failure);

 private:
  HostServices& host;  // valid while `alive`
  std::recursive_mutex life_mu;  // recursive: a transfer may complete inside start()
  bool alive = true;
  std::optional<Timers::Id> refresh_timer;
  std::shared_ptr<HttpTransfer> models_transfer;

  mutable std::mutex models_mu;
  std::vector<ModelInfo> model_cache;

  friend class OpenAICompatProvider;
};

// ---------------------------------------------------------------------------
// One chat call: the upstream's response turned into events.

namespace {

class ChatExchange final : public HttpHandler {
 public:
  // `client_model`: set when the request passed through (the client's own
  // body went up); the answer then passes through too.
  ChatExchange(std::shared_ptr<Core> core, ChatCallPtr call, std::optional<std::size_t> key,
               std::optional<std::string> client_model)
      : core_(std::move(core)), call_(std::move(call)), key_(key), link_(UpstreamLink::create(call_)) {
    if (client_model) relay_.emplace(std::move(*client_model));
  }

  // Cancellation and backpressure between the call and its transfer.
  UpstreamLink& link() { return *link_; }

  void on_response(int status, const HttpHeaders& headers) override {
    status_ = status;
    if (status < 200 || status >= 300) {
      mode_ = Mode::Failure;
      retry_after_ = parse_retry_after(headers);
      if (status == 401 && key_) core_->key_rejected(*key_);
      return;
    }
    std::string_view type = find_header(headers, "content-type").value_or("");
    bool stream = call_->request().stream;
    if (icontains(type, "event-stream")) {
      mode_ = Mode::Sse;
    } else if (icontains(type, "json")) {
      mode_ = Mode::Json;  // also a stream request answered whole (stream ignored upstream)
    } else {
      mode_ = stream ? Mode::Sse : Mode::Json;
    }
    // The answer is in the shape the client asked for: its bytes pass through.
    if (relay_ && mode_ == Mode::Sse && stream) mode_ = Mode::RawSse;
    if (relay_ && mode_ == Mode::Json && !stream) mode_ = Mode::RawJson;
  }

  bool on_body(std::string_view bytes) override {
    if (!call_ || call_->cancelled()) return false;
    switch (mode_) {
      case Mode::Failure:
        if (body_.size() + bytes.size() > kMaxErrorBody) {
          body_.append(bytes.substr(0, kMaxErrorBody - body_.size()));
          stopped_ = true;  // enough to explain the error
          return false;
        }
        body_.append(bytes);
        return true;
      case Mode::Json:
      case Mode::RawJson:
        if (body_.size() + bytes.size() > kMaxJsonBody) {
          fail(Error::upstream(502, core_->who + ": the upstream answer is larger than " +
                                        std::to_string(kMaxJsonBody >> 20) + " MiB"));
          return false;
        }
        body_.append(bytes);
        return true;
      case Mode::Sse:
        return feed_sse(bytes);
      case Mode::RawSse:
        return feed_raw_sse(bytes);
      case Mode::None:
        break;
    }
    return true;
  }

  void on_complete(const HttpOutcome& outcome) override {
    link_->detach();
    if (call_ && !call_->cancelled() && !terminal_) finish(outcome);
    call_.reset();  // the call is answered (or cancelled): let it go
  }

 private:
  enum class Mode { None, Failure, Sse, Json, RawSse, RawJson };

  void emit(Event event) {
    if (terminal_) return;
    if (event.terminal()) terminal_ = true;
    if (event.kind == Event::Kind::Error) event.error.message = core_->keys.redact(std::move(event.error.message));
    call_->emit(std::move(event));
  }

  void fail(Error error) {
    stopped_ = true;
    emit(Event::failed(std::move(error)));
  }

  // Pass-through: whole upstream events, as they are (model renamed), one
  // Raw event per piece the engine hands over.
  bool feed_raw_sse(std::string_view bytes) {
    std::string out;
    relay_->feed(bytes, out);
    if (!raw_started_ && relay_->error_first()) {
      // An error as the first event (some servers answer 200 and then say
      // why they cannot): parsed as usual, so the call can still fall back.
      std::string replay = std::move(out);
      replay += relay_->tail();
      relay_.reset();
      mode_ = Mode::Sse;
      return feed_sse(replay);
    }
    if (!out.empty()) {
      raw_started_ = true;
      emit(Event::raw(std::move(out)));
    }
    if (relay_->done()) {
      emit(Event::finished(FinishReason::Stop));
      return true;  // the rest of the response (its end) is read and dropped
    }
    if (relay_->pending_bytes() > kMaxSseEvent) {
      fail(Error::upstream(502, core_->who + ": upstream sent an SSE event larger than " +
                                    std::to_string(kMaxSseEvent >> 20) + " MiB"));
      return false;
    }
    if (!terminal_) link_->pause_if_backlogged(*call_);
    return true;
  }

  bool feed_sse(std::string_view bytes) {
    std::optional<Error> error;
    const openai::ChunkParser::Emit sink = [this](Event e) { emit(std::move(e)); };
    reader_.feed(bytes, [&](const sse::Message& message) {
      if (error || terminal_) return;
      error = parser_.feed(message.data, sink);
    });
    if (error) {
      fail(std::move(*error));
      return false;
    }
    if (reader_.pending_bytes() > kMaxSseEvent) {
      fail(Error::upstream(502, core_->who + ": upstream sent an SSE event larger than " +
                                    std::to_string(kMaxSseEvent >> 20) + " MiB"));
      return false;
    }
    if (!terminal_) link_->pause_if_backlogged(*call_);
    return true;
  }

  void finish(const HttpOutcome& outcome) {
    if (mode_ == Mode::Failure) {
      // The status says it all, even if the error body was cut short.
      Error error = openai::parse_error_response(status_, body_);
      if (status_ < 400 || status_ > 599) {
        error = Error::upstream(502, core_->who + ": upstream answered HTTP " + std::to_string(status_));
      }
      error.retry_after = retry_after_;
      fail(std::move(error));
      return;
    }
    if (!outcome.ok()) {
      fail(Error::from_transport(outcome, core_->who));
      return;
    }
    if (mode_ == Mode::RawSse) {
      if (terminal_) return;
      std::string out;
      relay_->finish(out);
      if (!out.empty()) emit(Event::raw(std::move(out)));
      if (relay_->done()) {
        emit(Event::finished(FinishReason::Stop));
      } else {
        fail(Error::upstream(502, core_->who + ": the upstream stream ended without data: [DONE]"));
      }
      return;
    }
    if (mode_ == Mode::RawJson) {
      std::string out;
      out.reserve(body_.size() + 64);
      if (passthrough::append_with_model(out, body_, relay_->client_model())) {
        body_.clear();
        body_.shrink_to_fit();
        emit(Event::raw(std::move(out)));
        emit(Event::finished(FinishReason::Stop));
        return;
      }
      mode_ = Mode::Json;  // not an object with a model: the parser says what is wrong
    }
    if (mode_ == Mode::Sse) {
      const openai::ChunkParser::Emit sink = [this](Event e) { emit(std::move(e)); };
      if (reader_.mid_event()) {
        // The last event lacked its blank line: take it as ended (a cut one
        // fails to parse, so a truncation still ends as an error).
        std::optional<Error> error;
        reader_.feed("\n\n", [&](const sse::Message& message) {
          if (!error && !terminal_) error = parser_.feed(message.data, sink);
        });
        if (error) return fail(std::move(*error));
      }
      if (terminal_) return;
      if (auto error = parser_.finish(sink)) fail(std::move(*error));
      return;
    }
    if (mode_ == Mode::Json) {
      std::vector<Event> events;
      if (auto error = openai::parse_chat_completion(body_, events)) return fail(std::move(*error));
      body_.clear();
      body_.shrink_to_fit();
      for (Event& event : events) emit(std::move(event));
      return;
    }
    fail(Error::upstream(502, core_->who + ": the upstream closed without a response"));
  }

  const std::shared_ptr<Core> core_;
  ChatCallPtr call_;  // held until on_complete
  const std::optional<std::size_t> key_;

  // Touched only on the HTTP thread (the handler's callbacks are sequential).
  Mode mode_ = Mode::None;
  int status_ = 0;
  std::optional<std::chrono::milliseconds> retry_after_;
  std::string body_;
  sse::Reader reader_;
  openai::ChunkParser parser_;
  std::optional<passthrough::SseRelay> relay_;  // set when the request passed through
  bool raw_started_ = false;  // a Raw event went out (the answer may be committed)
  bool terminal_ = false;
  bool stopped_ = false;

  const std::shared_ptr<UpstreamLink> link_;
};

// GET {base_url}/models answers {"object":"list","data":[{"id":"gpt-4o","owned_by":"openai"},...]}
// (or a bare array).
std::optional<std::vector<ModelInfo>> parse_model_list(const std::string& body, const std::string& owner,
                                                   std::string& why) {
  try {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    if (doc.HasParseError()) {
      why = std::string("invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError());
      return std::nullopt;
    }
    const rapidjson::Value* data = nullptr;
    if (doc.IsArray()) {
      data = &doc;
    } else if (doc.IsObject()) {
      auto it = doc.FindMember("data");
      if (it != doc.MemberEnd() && it->value.IsArray()) data = &it->value;
    }
    if (data == nullptr) {
      why = "not a model list (no \"data\" array)";
      return std::nullopt;
    }
    std::vector<ModelInfo> out;
    for (const auto& item : data->GetArray()) {
      if (!item.IsObject()) continue;
      auto id = item.FindMember("id");
      if (id == item.MemberEnd() || !id->value.IsString() || id->value.GetStringLength() == 0) continue;
      ModelInfo info{id->value.GetString(), owner};
      auto by = item.FindMember("owned_by");
      if (by != item.MemberEnd() && by->value.IsString() && by->value.GetStringLength() != 0) {
        info.owned_by = by->value.GetString();
      }
      out.push_back(std::move(info));
    }
    return out;
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
}


std::string render_body(const Core& core, const ChatRequest& request) {
  openai::RenderOptions options;
  options.force_usage = true;  // upstreams report streamed usage only when asked
  std::string body = openai::render_chat_request(request, options);
  if (!core.config.provider.empty() && !has_extra(request, "provider") && !body.empty() && body.back() == '}') {
    body.pop_back();
    body.append(",\"provider\":");
    json::append_quoted(body, core.config.provider);
    body.push_back('}');
  }
  return body;
}

void start_chat(const std::shared_ptr<Core>& core, HttpClient& http, const ChatCallPtr& call) {
  if (call->cancelled()) return;
  std::optional<std::size_t> key;
  if (!core->keys.keyless()) {
    key = core->keys.next();
    if (!key) {
      Error error = Error::unavailable(core->who +
                                       ": all API keys were rejected (HTTP 401); fix them and reload the config");
      error.code = "no_usable_key";
      call->emit(Event::failed(std::move(error)));
      return;
    }
  }
  const ChatRequest& chat = call->request();
  HttpRequest request = core->request("POST", core->chat_url, key, chat.stream);
  std::optional<std::string> client_model;
  std::optional<passthrough::UpstreamBody> raw;
  if (core->config.passthrough) raw = passthrough::upstream_body(chat, core->config.provider);
  if (raw) {
    request.body = std::move(raw->body);
    client_model = std::move(raw->client_model);
  } else {
    request.body = render_body(*core, chat);
  }
  auto exchange = std::make_shared<ChatExchange>(core, call, key, std::move(client_model));
  exchange->link().attach(http.start(std::move(request), exchange));
}

}  // namespace

void Core::fetch_models() {
  std::lock_guard lock(life_mu);
  if (!alive) return;
  refresh_timer.reset();
  HttpRequest r = request("GET", models_url, keys.any_usable(), false);
  constexpr std::chrono::milliseconds kModelsTotal{30'000};
  if (r.timeouts.total.count() == 0 || r.timeouts.total > kModelsTotal) r.timeouts.total = kModelsTotal;
  std::weak_ptr<Core> weak = weak_from_this();
  models_transfer = host.http().start(std::move(r), collect_response(kMaxModelsBody, [weak](CollectedResponse&& answer) {
    auto core = weak.lock();
    if (!core) return;
    std::string why = answer.problem();
    if (answer.outcome.ok() && !answer.too_large && (answer.status < 200 || answer.status > 299)) {
      why = openai::parse_error_response(answer.status, answer.body).message;  // the upstream's own words
    }
    if (!why.empty()) return core->models_fetched(std::nullopt, why);
    auto list = parse_model_list(answer.body, core->config.plugin, why);
    core->models_fetched(std::move(list), why);
  }));
}

void Core::models_fetched(std::optional<std::vector<ModelInfo>> list, const std::string& failure) {
  std::lock_guard lock(life_mu);
  if (!alive) return;
  bool empty = false;
  if (list) {
    Logger& logger = host.logger();
    if (logger.enabled(LogLevel::Debug)) {
      logger.debug(std::to_string(list->size()) + " models listed by " + models_url);
    }
    std::lock_guard models_lock(models_mu);
    model_cache = std::move(*list);
    empty = model_cache.empty();
  } else {
    Logger& logger = host.logger();
    if (logger.enabled(LogLevel::Debug)) logger.debug("could not list models at " + models_url + ": " + failure);
    std::lock_guard models_lock(models_mu);
    empty = model_cache.empty();
  }
  if (config.models_ttl.count() == 0) return;  // fetched once
  // Nothing known yet: try again sooner than the TTL.
  constexpr std::chrono::milliseconds kRetryEmpty{30'000};
  auto delay = empty ? std::min(config.models_ttl, kRetryEmpty) : config.models_ttl;
  std::weak_ptr<Core> weak = weak_from_this();
  refresh_timer = host.timers().schedule(delay, [weak] {
    if (auto self = weak.lock()) self->fetch_models();
  });
}

// ---------------------------------------------------------------------------
// Provider and plugin

OpenAICompatProvider::OpenAICompatProvider(std::string name, OpenAICompatConfig config, HostServices& host)
    : core_(std::make_shared<Core>(std::move(name), std::move(config), host)) {
  if (!core_->config.models) core_->fetch_models();
}

OpenAICompatProvider::~OpenAICompatProvider() { core_->shutdown(); }

const OpenAICompatConfig& OpenAICompatProvider::config() const { return core_->config; }

std::vector<ModelInfo> OpenAICompatProvider::models() const {
  if (core_->config.models) {
    std::vector<ModelInfo> out;
    out.reserve(core_->config.models->size());
    for (const auto& id : *core_->config.models) out.push_back({id, core_->config.plugin});
    return out;
  }
  return core_->models();
}

void OpenAICompatProvider::chat(ChatCallPtr call) {
  try {
    start_chat(core_, core_->host.http(), call);
  } catch (const std::exception& e) {
    if (!call->cancelled()) {
      call->emit(Event::failed(Error::upstream(500, core_->who + ": internal error: " + e.what())));
    }
  } catch (...) {
    if (!call->cancelled()) call->emit(Event::failed(Error::upstream(500, core_->who + ": internal error")));
  }
}

std::shared_ptr<Provider> OpenAICompatPlugin::create_provider(const ProviderSpec& spec) {
  return std::make_shared<OpenAICompatProvider>(spec.name, OpenAICompatConfig::parse(defaults_, spec.options),
                                                spec.host);
}

}  // namespace llmux::openai_compat
