// The OpenAI-compatible provider: keys (rotation, 401 cooldown and probes),
// request, streamed and whole answers (re-rendered or passed through),
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

#include "llmux/codec/embeddings.h"
#include "llmux/codec/completions.h"
#include "llmux/codec/openai.h"
#include "llmux/codec/responses.h"
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
// Keys: round-robin over the usable ones. A key that got 401 is set aside for
// a cooldown; then the next request that comes to it probes it: another
// answer restores it, another 401 sets it aside again. One 401 never takes a
// key (or a provider with one key) out until a reload.

class KeyPool {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // A key handed to one request. `probe`: the key was set aside and this
  // request tells whether it works again.
  struct Lease {
    std::size_t index = 0;
    bool probe = false;
  };

  // What a 401 did to the pool (for the log line).
  struct Rejection {
    bool still = false;       // a probe got 401 again
    std::size_t usable = 0;   // keys not set aside now
  };

  // Every key is set aside and none is due for its probe yet.
  struct Waiting {
    std::size_t keys = 0;
    std::chrono::steady_clock::duration next_probe{};
  };

  KeyPool(std::vector<ApiKey> keys, std::chrono::milliseconds cooldown)
      : keys_(std::move(keys)), cooldown_(cooldown), aside_until_(keys_.size()) {}

  bool keyless() const { return keys_.empty(); }
  const ApiKey& key(std::size_t index) const { return keys_[index]; }
  std::size_t size() const { return keys_.size(); }

  // The next key in rotation that is usable or due for its probe at `now`;
  // nullopt while every key waits.
  std::optional<Lease> next(TimePoint now) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      std::size_t k = (cursor_ + i) % keys_.size();
      std::optional<TimePoint>& aside = aside_until_[k];
      if (aside && *aside > now) continue;
      cursor_ = k + 1;
      if (!aside) return Lease{k, false};
      // One probe at a time: the key waits again meanwhile (a probe that
      // never reports back is superseded after one more cooldown).
      aside = now + cooldown_;
      return Lease{k, true};
    }
    return std::nullopt;
  }

  // A key not set aside, without moving the rotation (background requests).
  std::optional<std::size_t> any_usable() const {
    std::lock_guard lock(mu_);
    for (std::size_t k = 0; k < keys_.size(); ++k) {
      if (!aside_until_[k]) return k;
    }
    return std::nullopt;
  }

  // The upstream answered 401 to `lease`: the key waits one cooldown from
  // `now`. Nullopt when it was set aside already by another request (each
  // rejection is reported once).
  std::optional<Rejection> reject(const Lease& lease, TimePoint now) {
    std::lock_guard lock(mu_);
    std::optional<TimePoint>& aside = aside_until_[lease.index];
    if (aside && !lease.probe) return std::nullopt;
    aside = now + cooldown_;
    return Rejection{lease.probe, usable()};
  }

  // The upstream answered `lease` with another status: true when that was a
  // probe and the key is back in rotation.
  bool accept(const Lease& lease) {
    std::lock_guard lock(mu_);
    if (!lease.probe || !aside_until_[lease.index]) return false;
    aside_until_[lease.index].reset();
    return true;
  }

  // A probe ended without telling (no answer, or a status other than 2xx
  // and 401): the key is due again at once.
  void release(const Lease& lease, TimePoint now) {
    std::lock_guard lock(mu_);
    if (lease.probe && aside_until_[lease.index]) aside_until_[lease.index] = now;
  }

  std::optional<Waiting> waiting(TimePoint now) const {
    std::lock_guard lock(mu_);
    if (keys_.empty()) return std::nullopt;
    std::optional<TimePoint> soonest;
    for (const auto& aside : aside_until_) {
      if (!aside || *aside <= now) return std::nullopt;
      if (!soonest || *aside < *soonest) soonest = aside;
    }
    return Waiting{keys_.size(), *soonest - now};
  }

  std::chrono::milliseconds cooldown() const { return cooldown_; }

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
  std::size_t usable() const {
    return static_cast<std::size_t>(std::count_if(aside_until_.begin(), aside_until_.end(),
                                                  [](const auto& aside) { return !aside; }));
  }

  const std::vector<ApiKey> keys_;
  const std::chrono::milliseconds cooldown_;
  mutable std::mutex mu_;
  std::vector<std::optional<TimePoint>> aside_until_;  // set: the key got 401 and waits until then
  std::size_t cursor_ = 0;
};

namespace {

// "42 s": whole seconds, rounded up (never "0 s" while something waits).
std::string seconds_text(std::chrono::steady_clock::duration wait) {
  auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return std::to_string(seconds) + " s";
}

}  // namespace

// ---------------------------------------------------------------------------
// The shared state of one provider.

struct Core : std::enable_shared_from_this<Core> {
  Core(std::string provider_name, OpenAICompatConfig cfg, HostServices& services)
      : name(std::move(provider_name)),
        config(std::move(cfg)),
        who(config.plugin + " provider '" + name + "'"),
        chat_url(config.base_url + "/chat/completions"),
        responses_url(config.base_url + "/responses"),
        embeddings_url(config.base_url + "/embeddings"),
        completions_url(config.base_url + "/completions"),
        models_url(config.base_url + "/models"),
        keys(config.keys, config.unauthorized_cooldown),
        host(services) {}

  const std::string name;
  const OpenAICompatConfig config;
  const std::string who;  // "openai provider 'name'": prefixes transport errors
  const std::string chat_url;
  const std::string responses_url;  // `responses: native`
  const std::string embeddings_url;
  const std::string completions_url;  // legacy completions, sent natively
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

  // The host's clock (tests drive it); the system's once the provider is gone.
  std::chrono::steady_clock::time_point now() {
    std::lock_guard lock(life_mu);
    return alive ? host.clock().now() : std::chrono::steady_clock::now();
  }

  // "key #2 (…abcd)": which key, never the key.
  std::string key_name(std::size_t index) const {
    const ApiKey& key = keys.key(index);
    return "key #" + std::to_string(key.position) + " (" + key_hint(key.value) + ")";
  }

  // The upstream answered a request made with `lease` (status 0: no answer).
  void key_answered(const KeyPool::Lease& lease, int status) {
    if (status == 401) return key_rejected(lease);
    if (status >= 200 && status <= 299) {
      if (keys.accept(lease)) log(LogLevel::Info, key_name(lease.index) + " works again after its probe");
      return;
    }
    keys.release(lease, now());  // a probe that proved nothing: the next request tries again
  }

  void key_rejected(const KeyPool::Lease& lease) {
    auto rejection = keys.reject(lease, now());
    if (!rejection) return;
    std::string cooldown = seconds_text(keys.cooldown());
    std::string message = key_name(lease.index) +
                          (rejection->still ? " still rejected with 401 after its probe; set aside for another "
                                            : " rejected with 401; set aside for ") +
                          cooldown;
    if (rejection->usable == 0) message += "; no usable key left, the provider waits for a probe";
    log(LogLevel::Warn, message);
  }

  // Why no key can be used now, or "" when one can.
  std::string keys_waiting() {
    auto waiting = keys.waiting(now());
    if (!waiting) return {};
    return "all " + std::to_string(waiting->keys) + " key(s) got HTTP 401; next probe in " +
           seconds_text(waiting->next_probe);
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

// What went up, and so how the answer is read.
enum class Sent {
  Rendered,     // a chat request llmux rendered: the answer is parsed into events
  Chat,         // the client's chat (completions, embeddings) body: the answer passes through (passthrough.h)
  Responses,    // the client's Responses body to /responses: the answer passes through
};

class ChatExchange final : public HttpHandler {
 public:
  // `sent`: what went up (the client's own body passes its answer through
  // too, passthrough.h). `text_completion`: the request went to
  // {base_url}/completions, so a re-rendered answer is read as text_completion.
  ChatExchange(std::shared_ptr<Core> core, ChatCallPtr call, std::optional<KeyPool::Lease> key, Sent sent,
               bool text_completion)
      : core_(std::move(core)),
        call_(std::move(call)),
        key_(key),
        passthrough_(sent != Sent::Rendered),
        responses_(sent == Sent::Responses),
        embedding_(call_->request().operation() == Operation::Embedding),
        text_completion_(text_completion),
        client_wants_usage_(call_->request().include_usage),
        link_(UpstreamLink::create(call_)) {}

  // Cancellation and backpressure between the call and its transfer.
  UpstreamLink& link() { return *link_; }

  void on_response(int status, const HttpHeaders& headers) override {
    status_ = status;
    if (key_) core_->key_answered(*key_, status);
    if (status < 200 || status >= 300) {
      mode_ = Mode::Failure;
      retry_after_ = parse_retry_after(headers);
      return;
    }
    if (embedding_) {
      // An embeddings answer is one JSON body, whatever its content type says.
      mode_ = passthrough_ ? Mode::RawJson : Mode::Json;
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
    if (passthrough_ && mode_ == Mode::Sse && stream) {
      mode_ = Mode::RawSse;
    } else if (passthrough_ && mode_ == Mode::Json && !stream) {
      mode_ = Mode::RawJson;
    } else if (responses_) {
      mode_ = Mode::Mismatch;  // a Responses answer llmux cannot read in the other shape
    }
  }

  bool on_body(std::string_view bytes) override {
    if (!call_ || call_->cancelled()) return false;
    switch (mode_) {
      case Mode::Failure:
        if (body_.size() + bytes.size() > kMaxErrorBody) {
          body_.append(bytes.substr(0, kMaxErrorBody - body_.size()));
          return false;  // enough to explain the error
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
      case Mode::Mismatch:
        return false;  // nothing in it can be used
      case Mode::None:
        break;
    }
    return true;
  }

  void on_complete(const HttpOutcome& outcome) override {
    link_->detach();
    if (key_ && status_ == 0) core_->key_answered(*key_, 0);
    if (call_ && !call_->cancelled() && !terminal_) finish(outcome);
    call_.reset();  // the call is answered (or cancelled): let it go
  }

 private:
  enum class Mode { None, Failure, Sse, Json, RawSse, RawJson, Mismatch };

  void emit(Event event) {
    if (terminal_) return;
    if (event.terminal()) {
      terminal_ = true;
      // Usage read from pass-through bytes precedes whatever ends the call.
      if (usage_) call_->emit(Event::usage_report(*std::exchange(usage_, std::nullopt)));
    }
    if (event.kind == Event::Kind::Error) event.error.message = core_->keys.redact(std::move(event.error.message));
    call_->emit(std::move(event));
  }

  void fail(Error error) { emit(Event::failed(std::move(error))); }

  // ---- pass-through stream: whole upstream events, as they are

  bool feed_raw_sse(std::string_view bytes) {
    if (terminal_) return true;  // after [DONE]: the end of the response is read and dropped
    frames_.feed(bytes, [this](const passthrough::Frame& frame) { return relay(frame); });
    flush_raw();
    if (saw_done_) {
      emit(Event::finished(FinishReason::Stop));
      return true;
    }
    if (terminal_) return false;  // ended with an error: stop reading
    if (frames_.pending_bytes() > kMaxSseEvent || raw_out_.size() > kMaxSseEvent) {
      fail(Error::upstream(502, core_->who + ": upstream sent an SSE event larger than " +
                                    std::to_string(kMaxSseEvent >> 20) + " MiB"));
      return false;
    }
    link_->pause_if_backlogged(*call_);
    return true;
  }

  // Takes one upstream event into raw_out_, or ends the call. False stops
  // reading the stream.
  bool relay(const passthrough::Frame& frame) {
    if (responses_) return relay_responses(frame);
    using Kind = passthrough::Frame::Kind;
    switch (frame.kind) {
      case Kind::Other:
        raw_out_.append(frame.text);
        return true;
      case Kind::Empty:
        return true;  // dropped: a client would read it as broken JSON
      case Kind::Done:
        raw_out_.append(frame.text);
        saw_done_ = stream_valid_ = true;
        return false;
      case Kind::Invalid:
        flush_raw();
        fail(Error::upstream(502, core_->who + ": upstream sent a stream frame that is " + frame.problem));
        return false;
      case Kind::Object:
        break;
    }
    if (!frame.error.empty()) {
      // The upstream's own error ends the stream: the host writes it once,
      // then [DONE]. Before anything was sent the attempt falls back.
      flush_raw();
      fail(upstream_stream_error(frame.data));
      return false;
    }
    if (!frame.usage.empty()) {
      if (auto usage = openai::parse_usage(frame.usage)) usage_ = *usage;
    }
    stream_valid_ = true;
    if (frame.usage_only && !client_wants_usage_) return true;  // asked for llmux, not for the client
    raw_out_.append(frame.text);
    return true;
  }

  // relay() for a Responses stream (passthrough.h): whole events, each a JSON
  // object with a "type", up to the terminal event.
  bool relay_responses(const passthrough::Frame& frame) {
    using Kind = passthrough::Frame::Kind;
    using Type = passthrough::ResponsesEvent;
    switch (frame.kind) {
      case Kind::Other:
        raw_out_.append(frame.text);
        return true;
      case Kind::Empty:
        return true;  // dropped: a client would read it as broken JSON
      case Kind::Done:  // not in the Responses wire: only the terminal event ends a stream
        flush_raw();
        fail(Error::upstream(502, core_->who + ": upstream sent data: [DONE] before " + kResponsesEnd));
        return false;
      case Kind::Invalid:
        flush_raw();
        fail(Error::upstream(502, core_->who + ": upstream sent a stream event that is " + frame.problem));
        return false;
      case Kind::Object:
        break;
    }
    switch (passthrough::responses_event(frame.type)) {
      case Type::Opening:
        raw_out_.append(frame.text);  // held until more comes (flush_raw)
        return true;
      case Type::Content:
        stream_valid_ = true;
        raw_out_.append(frame.text);
        return true;
      case Type::Completed:
        if (auto completed = responses::completed_response(frame.data); completed && completed->usage) {
          usage_ = completed->usage;
        }
        stream_valid_ = saw_done_ = true;
        raw_out_.append(frame.text);
        return false;  // the end: what may follow is not read
      case Type::Failed:
      case Type::Error:
        return responses_failed(frame);
      case Type::Untyped:
        break;
    }
    flush_raw();
    if (!frame.error.empty()) {
      fail(passthrough::responses_failure(frame.data));  // the OpenAI error shape in a stream
    } else {
      fail(Error::upstream(502, core_->who + ": upstream sent a stream event without a \"type\""));
    }
    return false;
  }

  // A response.failed or `error` event ends the call. Before anything was
  // emitted the attempt fails (the chain may move on; the held opening events
  // go nowhere); after, the event reaches the client, then the Error (the
  // host adds a response.failed after an `error` event, nothing after
  // response.failed).
  bool responses_failed(const passthrough::Frame& frame) {
    Error error = passthrough::responses_failure(frame.data);
    if (!raw_emitted_) {
      fail(std::move(error));
      return false;
    }
    if (auto failed = responses::completed_response(frame.data); failed && failed->usage) usage_ = failed->usage;
    stream_valid_ = true;
    raw_out_.append(frame.text);
    flush_raw();
    fail(std::move(error));
    return false;
  }

  static constexpr const char* kResponsesEnd = "response.completed, response.incomplete or response.failed";

  // The Error an upstream's `{"error":...}` frame stands for.
  Error upstream_stream_error(std::string_view data) {
    openai::ChunkParser parser;  // one reading of error objects for both paths
    auto error = parser.feed(data, [](Event) {});
    return error ? std::move(*error) : Error::upstream(502, core_->who + ": upstream sent an error in its stream");
  }

  // Emits what was relayed so far, once the stream has shown a valid first
  // frame (before that, comments wait: the attempt may still fall back).
  // A validation hold, not the commit rule: this provider never decides
  // whether its Error can still be replaced; it always emits it and the host
  // (ChatCall::committed()) decides between fallback and an in-band end.
  void flush_raw() {
    if (!stream_valid_ || raw_out_.empty() || terminal_) return;
    raw_emitted_ = true;
    emit(Event::raw(std::move(raw_out_)));
    raw_out_.clear();
  }


  // ---- re-rendered stream

  bool feed_sse(std::string_view bytes) {
    std::optional<Error> error;
    const openai::ChunkParser::Emit sink = [this](Event e) { emit(std::move(e)); };
    reader_.feed(bytes, [&](const sse::Message& message) {
      if (error || terminal_) return;
      error = feed_chunk(message.data, sink);
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

  // ---- the end of the response

  void finish(const HttpOutcome& outcome) {
    if (mode_ == Mode::Mismatch) {
      fail(Error::upstream(502, core_->who + (call_->request().stream
                                                 ? ": the upstream answered a streamed Responses request whole"
                                                 : ": the upstream answered a whole Responses request with a stream")));
      return;
    }
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
    switch (mode_) {
      case Mode::RawSse:
        return finish_raw_sse();
      case Mode::RawJson:
        return finish_raw_json();
      case Mode::Sse:
        return finish_sse();
      case Mode::Json:
        return finish_json();
      case Mode::None:
      case Mode::Failure:
      case Mode::Mismatch:
        break;
    }
    fail(Error::upstream(502, core_->who + ": the upstream closed without a response"));
  }

  void finish_raw_sse() {
    frames_.finish([this](const passthrough::Frame& frame) { return relay(frame); });
    flush_raw();
    if (terminal_) return;
    if (saw_done_) return emit(Event::finished(FinishReason::Stop));
    fail(Error::upstream(502, core_->who + ": the upstream stream ended without " +
                                  (responses_ ? std::string(kResponsesEnd) : std::string("data: [DONE]"))));
  }

  // A whole answer goes out only once it is a well-formed chat.completion
  // (a response object for Responses, an embeddings list for embeddings).
  void finish_raw_json() {
    if (responses_) return finish_raw_response();
    passthrough::CheckedCompletion checked =
        embedding_ ? passthrough::check_embeddings(body_) : passthrough::check_completion(body_);
    if (!checked.problem.empty()) {
      return fail(Error::upstream(502, core_->who + ": the upstream's answer is " + checked.problem));
    }
    if (!checked.error.empty()) return finish_json();  // the codec reads the upstream's error
    if (!checked.usage.empty()) usage_ = openai::parse_usage(checked.usage);
    emit(Event::raw(std::move(body_)));
    body_.clear();
    emit(Event::finished(FinishReason::Stop));
  }

  void finish_raw_response() {
    passthrough::CheckedResponse checked = passthrough::check_response(body_);
    if (!checked.problem.empty()) {
      return fail(Error::upstream(502, core_->who + ": the upstream's answer is " + checked.problem));
    }
    if (checked.failed) return fail(passthrough::responses_failure(body_));
    if (!checked.usage.empty()) usage_ = responses::parse_usage(checked.usage);
    emit(Event::raw(std::move(body_)));
    body_.clear();
    emit(Event::finished(FinishReason::Stop));
  }

  void finish_sse() {
    const openai::ChunkParser::Emit sink = [this](Event e) { emit(std::move(e)); };
    if (reader_.mid_event()) {
      // The last event lacked its blank line: take it as ended (a cut one
      // fails to parse, so a truncation still ends as an error).
      std::optional<Error> error;
      reader_.feed("\n\n", [&](const sse::Message& message) {
        if (!error && !terminal_) error = feed_chunk(message.data, sink);
      });
      if (error) return fail(std::move(*error));
    }
    if (terminal_) return;
    auto error = text_completion_ ? completion_parser_.finish(sink) : parser_.finish(sink);
    if (error) fail(std::move(*error));
  }

  // One upstream chunk, read in the wire format the request went up in.
  std::optional<Error> feed_chunk(std::string_view data, const openai::ChunkParser::Emit& sink) {
    return text_completion_ ? completion_parser_.feed(data, sink) : parser_.feed(data, sink);
  }

  void finish_json() {
    std::vector<Event> events;
    auto error = embedding_          ? embeddings::parse_response(body_, events)
                 : text_completion_ ? completions::parse_completion(body_, events)
                                    : openai::parse_chat_completion(body_, events);
    if (error) return fail(std::move(*error));
    if (embedding_) {
      const auto vectors = std::count_if(events.begin(), events.end(),
                                         [](const Event& e) { return e.kind == Event::Kind::Embedding; });
      const std::size_t inputs = call_->request().embedding->size();
      if (static_cast<std::size_t>(vectors) != inputs) {
        return fail(Error::upstream(502, core_->who + ": the upstream sent " + std::to_string(vectors) +
                                             " embeddings for " + std::to_string(inputs) + " inputs"));
      }
    }
    body_.clear();
    body_.shrink_to_fit();
    for (Event& event : events) emit(std::move(event));
  }

  const std::shared_ptr<Core> core_;
  ChatCallPtr call_;  // held until on_complete
  const std::optional<KeyPool::Lease> key_;
  const bool passthrough_;
  const bool responses_;  // the client's Responses body went to /responses
  const bool embedding_;  // an embeddings call: POST /embeddings, one JSON answer
  const bool text_completion_;  // the answer is a text_completion (native legacy completions)
  const bool client_wants_usage_;  // the client asked for the usage chunk (stream_options.include_usage)

  // Touched only on the transfer's loop thread (the handler's callbacks are sequential).
  Mode mode_ = Mode::None;
  int status_ = 0;
  std::optional<std::chrono::milliseconds> retry_after_;
  std::string body_;
  sse::Reader reader_;
  openai::ChunkParser parser_;
  completions::ChunkParser completion_parser_;  // text_completion_
  passthrough::FrameReader frames_;  // RawSse
  std::string raw_out_;       // RawSse: relayed bytes not emitted yet
  bool stream_valid_ = false;  // RawSse: the first data frame was a JSON object (or [DONE]): see flush_raw()
  bool saw_done_ = false;      // RawSse: data: [DONE] (Responses: response.completed or .incomplete) arrived
  bool raw_emitted_ = false;   // RawSse: a Raw event went out (a failure now ends the answer in-band)
  std::optional<Usage> usage_;  // pass-through: usage the upstream reported, emitted before the terminal event
  bool terminal_ = false;

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


// A rendered body for the upstream (chat, embeddings, or with
// `native_completion` a legacy completion for {base_url}/completions; a
// completion otherwise goes as its chat form), with g4f's `provider` member
// added when configured and the request has none.
std::string render_body(const Core& core, const ChatRequest& request, bool native_completion) {
  std::string body;
  if (request.operation() == Operation::Embedding) {
    body = embeddings::render_request(request);
  } else {
    openai::RenderOptions options;
    options.force_usage = true;  // upstreams report streamed usage only when asked
    body = native_completion ? completions::render_request(request, options)
                             : openai::render_chat_request(request, options);
  }
  if (!core.config.provider.empty() && !has_extra(request, "provider") && !body.empty() && body.back() == '}') {
    body.pop_back();
    body.append(",\"provider\":");
    json::append_quoted(body, core.config.provider);
    body.push_back('}');
  }
  return body;
}

// A header value that cannot split the request (the host validates
// traceparent; this keeps a plugin bug from becoming header injection).
bool one_line(std::string_view value) { return value.find_first_of("\r\n") == std::string_view::npos; }

void start_chat(const std::shared_ptr<Core>& core, HttpClient& http, const ChatCallPtr& call) {
  if (call->cancelled()) return;
  std::optional<KeyPool::Lease> key;
  if (!core->keys.keyless()) {
    key = core->keys.next(core->now());
    if (!key) {
      std::string why = core->keys_waiting();
      Error error = Error::unavailable(core->who + ": " + (why.empty() ? "no usable API key" : why));
      error.code = "no_usable_key";
      call->emit(Event::failed(std::move(error)));
      return;
    }
  }
  const ChatRequest& chat = call->request();
  const bool embedding = chat.operation() == Operation::Embedding;
  // A legacy completion goes to the upstream's own completions endpoint
  // unless the provider says to send its chat form.
  const bool native_completion =
      chat.completion.has_value() && core->config.completions == OpenAICompatConfig::Completions::Native;
  // What goes up: the client's own Responses body (responses: native), its
  // own chat, completions or embeddings body (passthrough), or a body
  // rendered from the request.
  Sent sent = Sent::Rendered;
  std::optional<std::string> raw_body;
  if (!embedding && !chat.completion && core->config.responses == OpenAICompatConfig::Responses::Native) {
    raw_body = passthrough::responses_body(chat, core->config.provider);
    if (raw_body) sent = Sent::Responses;
  }
  // Pass-through needs the upstream to speak the client's API: a completion's
  // chat form never passes through (upstream_body sees it is no chat body).
  if (!raw_body && core->config.passthrough && (native_completion || !chat.completion)) {
    raw_body = embedding ? passthrough::embeddings_upstream_body(chat, core->config.provider)
                         : passthrough::upstream_body(chat, core->config.provider);
    if (raw_body) sent = Sent::Chat;
  }
  if (!raw_body && !chat.parsed) {
    // passes_through() promised the body goes up as it is; the host's scan
    // and upstream_body() agree, so this is a bug, answered rather than
    // rendered from an empty request. A 500 lets the chain fall back (and parse).
    call->emit(Event::failed(
        Error::upstream(500, core->who + ": internal error: a routing-only request cannot pass through")));
    return;
  }
  const std::string& url = embedding                  ? core->embeddings_url
                           : native_completion       ? core->completions_url
                           : sent == Sent::Responses ? core->responses_url
                                                     : core->chat_url;
  HttpRequest request =
      core->request("POST", url, key ? std::optional(key->index) : std::nullopt, chat.stream && !embedding);
  if (!chat.traceparent.empty() && one_line(chat.traceparent)) {
    set_header(request.headers, "traceparent", chat.traceparent);  // the call's trace wins over a configured one
  }
  request.body = raw_body ? std::move(*raw_body) : render_body(*core, chat, native_completion);
  auto exchange = std::make_shared<ChatExchange>(core, call, key, sent, native_completion);
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

bool OpenAICompatProvider::serves(Operation operation) const {
  return operation != Operation::Embedding || core_->config.embeddings;
}

bool OpenAICompatProvider::passes_through(Api api) const {
  return api == Api::OpenAIChat && core_->config.passthrough;
}

ProviderCondition OpenAICompatProvider::condition() const {
  std::string why = core_->keys_waiting();
  if (why.empty()) return {};
  return {ProviderCondition::State::Unauthorized, std::move(why)};
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
