// The claude provider: requests, answers (pass-through and canonical),
// credential rotation per request, count_tokens.
//
// Lifetime. Calls and refreshes hold the TokenPool, never the provider: a
// reload may destroy the provider while they run; the pool then stops using
// the host services and a call that still needs the upstream ends with 503.
#include "claude_provider.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <set>
#include <utility>

#include "llmux/codec/anthropic.h"
#include "llmux/json.h"
#include "llmux/sse.h"
#include "llmux/upstream_link.h"
#include "sse_cutter.h"
#include "token_pool.h"

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace llmux::claude {

namespace {

constexpr const char* kOAuthBeta = "oauth-2025-04-20";

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) match = lower(haystack[i + j]) == lower(needle[j]);
    if (match) return true;
  }
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void set_header(HttpHeaders& headers, const std::string& name, std::string value) {
  headers.erase(std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }),
                headers.end());
  headers.emplace_back(name, std::move(value));
}

// A comma-separated header value split into trimmed names.
void split_betas(std::string_view text, std::vector<std::string>& out) {
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (!part.empty() && std::find(out.begin(), out.end(), part) == out.end()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
}

// An inbound header the host handed over: ChatRequest::client_headers, or
// (older hosts) a member of `extra` under the header's name.
std::string client_header(const ChatRequest& request, std::string_view name) {
  std::string value = request.client_header(name);
  if (!value.empty()) return value;
  for (const auto& [key, raw] : request.extra) {
    if (key != name) continue;
    if (raw.size() >= 2 && raw.front() == '"') {
      rapidjson::Document doc;
      doc.Parse(raw.data(), raw.size());
      if (!doc.HasParseError() && doc.IsString()) return doc.GetString();
    }
    return raw;
  }
  return {};
}

bool passthrough(const ChatRequest& request) { return request.source_api == Api::Anthropic && request.original_body; }

// Reads usage members of an Anthropic usage object into `usage`.
void read_usage(const rapidjson::Value& object, Usage& usage) {
  if (!object.IsObject()) return;
  auto number = [&](const char* name) -> std::optional<std::int64_t> {
    auto it = object.FindMember(name);
    if (it == object.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
    return it->value.GetInt64();
  };
  if (auto v = number("input_tokens")) usage.input_tokens = *v;
  if (auto v = number("output_tokens")) usage.output_tokens = *v;
  if (auto v = number("cache_read_input_tokens")) usage.cache_read_tokens = *v;
  if (auto v = number("cache_creation_input_tokens")) usage.cache_creation_tokens = *v;
}

// True when `text` is one JSON value: a SAX pass with nothing built, cheap
// enough for every passed-through event.
bool is_json(std::string_view text) {
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> ignore;
  rapidjson::MemoryStream bytes(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> input(bytes);
  return !reader.Parse(input, ignore).IsError();
}

// Light accounting over a passed-through answer (usage and stop reason), and
// the check that each piece is what Anthropic sends: nothing reaches the
// client unchecked. Only message_start, message_delta and error are parsed
// into a DOM; other events are only checked to be JSON.
struct PassAccount {
  Usage usage;
  bool has_usage = false;
  std::optional<FinishReason> finish;
  bool stopped = false;           // message_stop seen
  std::optional<Error> error;     // an `error` event, or an error body

  // Canonical input tokens include the cached ones (Anthropic's do not).
  Usage canonical_usage() const {
    Usage u = usage;
    u.input_tokens += u.cache_read_tokens.value_or(0) + u.cache_creation_tokens.value_or(0);
    return u;
  }

  // One SSE event; false when it is not Anthropic's: data that is not JSON,
  // or a message_start / message_delta / error that is not a JSON object
  // (a message_start also needs its `message` object).
  bool sse_event(std::string_view event, std::string_view data) {
    if (event != "message_start" && event != "message_delta" && event != "error") {
      if (event == "message_stop") stopped = true;
      return is_json(data);
    }
    rapidjson::Document doc;
    doc.Parse(data.data(), data.size());
    if (doc.HasParseError() || !doc.IsObject()) return false;
    if (event == "error") {
      error = error_of(doc, 0, data);
      return true;
    }
    if (event == "message_start") {
      auto m = doc.FindMember("message");
      if (m == doc.MemberEnd() || !m->value.IsObject()) return false;
      if (auto u = m->value.FindMember("usage"); u != m->value.MemberEnd()) {
        read_usage(u->value, usage);
        has_usage = true;
      }
      return true;
    }
    // message_delta
    if (auto d = doc.FindMember("delta"); d != doc.MemberEnd() && d->value.IsObject()) {
      auto s = d->value.FindMember("stop_reason");
      // The relayed bytes are not followed block by block: no tool calls to count.
      if (s != d->value.MemberEnd() && s->value.IsString()) {
        finish = anthropic::finish_reason(s->value.GetString(), false);
      }
    }
    if (auto u = doc.FindMember("usage"); u != doc.MemberEnd()) {
      read_usage(u->value, usage);
      has_usage = true;
    }
    return true;
  }

  // What a whole (non-streamed) answer body is.
  enum class Body { Message, Error, NotAnthropic };
  Body whole(std::string_view body) {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) return Body::NotAnthropic;
    auto type = doc.FindMember("type");
    if (type == doc.MemberEnd() || !type->value.IsString()) return Body::NotAnthropic;
    const std::string_view kind(type->value.GetString(), type->value.GetStringLength());
    if (kind == "error") {
      error = error_of(doc, 0, body);
      return Body::Error;
    }
    if (kind != "message") return Body::NotAnthropic;
    if (auto u = doc.FindMember("usage"); u != doc.MemberEnd()) {
      read_usage(u->value, usage);
      has_usage = true;
    }
    auto s = doc.FindMember("stop_reason");
    if (s != doc.MemberEnd() && s->value.IsString()) finish = anthropic::finish_reason(s->value.GetString(), false);
    stopped = true;
    return Body::Message;
  }

  static Error error_of(const rapidjson::Value& doc, int status, std::string_view data) {
    std::string type;
    if (auto e = doc.FindMember("error"); e != doc.MemberEnd() && e->value.IsObject()) {
      auto t = e->value.FindMember("type");
      if (t != e->value.MemberEnd() && t->value.IsString()) type = t->value.GetString();
    }
    return anthropic::parse_error_response(status != 0 ? status : anthropic::status_of_error_type(type), data);
  }
};

// ---------------------------------------------------------------------------
// One request through the pool: each credential at most once.

class PooledAttempt : public std::enable_shared_from_this<PooledAttempt> {
 public:
  explicit PooledAttempt(std::shared_ptr<TokenPool> pool)
      : pool_(std::move(pool)), ticket_(pool_->ticket()) {}
  virtual ~PooledAttempt() = default;

  // Takes the next credential and sends.
  void next() {
    if (cancelled()) return;
    auto self = shared_from_this();
    pool_->acquire(ticket_, [self](std::optional<Auth> auth, const std::string& why) {
      if (self->cancelled()) return;
      if (!auth) return self->no_credential(why);
      self->send(*auth);
    });
  }

  // The upstream refused the request made with `auth`, before any answer
  // byte went to the client: rotate when the credential is the problem.
  void refused(const Auth& auth, Error error) {
    pool_->failed(auth, error.message);
    const int s = error.status;
    if (s == 401 || s == 403) {
      std::string why = "HTTP " + std::to_string(s) + " " + error.type + ": " + error.message;
      if (auth.kind == CredentialKind::OAuth && !reauthed_.count(auth.index)) {
        reauthed_.insert(auth.index);
        auto self = shared_from_this();
        last_error_ = std::move(error);
        pool_->reauthenticate(auth, why, [self](std::optional<Auth> fresh) {
          if (self->cancelled()) return;
          if (fresh) return self->send(*fresh);
          self->next();
        });
        return;
      }
      pool_->rejected(auth, why);
      last_error_ = std::move(error);
      next();
      return;
    }
    if (s == 429 || s == 529) {
      pool_->rate_limited(auth, error.retry_after,
                          "HTTP " + std::to_string(s) + " " + error.type + ": " + error.message);
      last_error_ = std::move(error);
      next();
      return;
    }
    fail(std::move(error));
  }

 protected:
  virtual bool cancelled() const = 0;
  virtual void send(const Auth& auth) = 0;
  virtual void fail(Error error) = 0;

  void no_credential(const std::string& why) {
    std::string message = pool_->who() + ": no usable credential";
    if (!why.empty()) message += " (" + why + ")";
    if (last_error_) message += "; last upstream error: " + last_error_->message;
    Error error = Error::unavailable(pool_->redact(std::move(message)));
    error.code = "no_usable_credential";
    // When every credential rests (429/529), the client may try again once the first is back.
    error.retry_after = pool_->next_rest_end();
    fail(std::move(error));
  }

  // The request with the headers every upstream request carries.
  HttpRequest upstream_request(const Auth& auth, std::string path, const ChatRequest& chat, bool event_stream) const {
    const ClaudeConfig& config = pool_->config();
    HttpRequest r;
    r.method = "POST";
    r.url = config.base_url + path;
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Accept", event_stream ? "text/event-stream" : "application/json");
    std::string version = passthrough(chat) ? client_header(chat, "anthropic-version") : std::string();
    r.headers.emplace_back("anthropic-version", version.empty() ? config.anthropic_version : version);
    std::vector<std::string> betas = config.betas;
    if (passthrough(chat)) split_betas(client_header(chat, "anthropic-beta"), betas);
    if (auth.kind == CredentialKind::OAuth) split_betas(kOAuthBeta, betas);
    if (!betas.empty()) {
      std::string joined;
      for (const auto& beta : betas) joined += (joined.empty() ? "" : ",") + beta;
      r.headers.emplace_back("anthropic-beta", std::move(joined));
    }
    if (auth.kind == CredentialKind::ApiKey) {
      r.headers.emplace_back("x-api-key", auth.token);
    } else {
      r.headers.emplace_back("Authorization", "Bearer " + auth.token);
    }
    for (const auto& [header, value] : config.headers) set_header(r.headers, header, value);
    // The call's trace context wins over a configured header of that name.
    if (!chat.traceparent.empty()) set_header(r.headers, "traceparent", chat.traceparent);
    config.upstream.apply(r);
    return r;
  }

  const std::shared_ptr<TokenPool> pool_;
  const std::shared_ptr<Ticket> ticket_;
  std::set<std::size_t> reauthed_;  // credentials refreshed after a 401 in this request
  std::optional<Error> last_error_;
};

// ---------------------------------------------------------------------------
// A chat call

class ChatAttempt;

class MessagesExchange final : public HttpHandler {
 public:
  MessagesExchange(std::shared_ptr<ChatAttempt> attempt, ChatCallPtr call, Auth auth, bool raw)
      : attempt_(std::move(attempt)), call_(std::move(call)), auth_(std::move(auth)), raw_(raw),
        link_(UpstreamLink::create(call_)) {}

  UpstreamLink& link() { return *link_; }

  void on_response(int status, const HttpHeaders& headers) override;
  bool on_body(std::string_view bytes) override;
  void on_complete(const HttpOutcome& outcome) override;

 private:
  enum class Mode { None, Failure, Sse, Json };
  // What one whole pass-through event does to the answer.
  enum class RawStep {
    Hold,            // before message_start (a comment): kept until the first event is checked
    Forward,         // to the client
    ForwardThenEnd,  // to the client, then the answer ends with `raw_ending_` (the upstream's error event)
    Refuse,          // nothing went out: the attempt failed with `raw_ending_`
    End,             // not forwarded: the answer ends with `raw_ending_`
  };

  TokenPool& pool();
  void emit(Event event);
  void fail(Error error);
  // Before commit (call_->committed() is false; the host decides it): nothing
  // of this exchange is in the call yet, so the attempt may try another
  // credential.
  void refuse(Error error);
  // `stream_ended`: `bytes` are the last (what completes the last event).
  bool feed_raw_sse(std::string_view bytes, bool stream_ended = false);
  RawStep check_raw_event(std::string_view event_bytes);
  RawStep inspect_raw(const sse::Message& message);
  void end_raw(Error error);
  void finish_raw_sse();
  void finish_raw_json();
  bool feed_sse(std::string_view bytes);
  bool held_until_commit(const Event& event) const;
  void release_held();
  void finish(const HttpOutcome& outcome);

  std::shared_ptr<ChatAttempt> attempt_;
  ChatCallPtr call_;
  const Auth auth_;
  const bool raw_;  // pass-through

  Mode mode_ = Mode::None;
  int status_ = 0;
  std::optional<std::chrono::milliseconds> retry_after_;
  std::string body_;
  sse::Reader reader_;
  anthropic::StreamParser parser_;
  PassAccount account_;
  // Pass-through SSE: events go out whole, with their original bytes.
  SseEventCutter cutter_;
  std::string unfinished_;         // bytes of the event not yet whole
  // Whole events before message_start. A validation hold, not the commit
  // rule: nothing goes out before the first event proved the stream Anthropic's.
  std::string held_raw_;
  bool stream_checked_ = false;    // the first event was a valid message_start
  std::optional<Error> raw_ending_;  // see RawStep
  std::vector<Event> held_events_;  // canonical: see held_until_commit()
  bool refused_ = false;
  bool terminal_ = false;
  std::optional<Error> stream_error_;
  std::string failure_;  // the message of the Error this exchange ended the call with
  std::optional<Usage> usage_;  // the last Usage emitted: the answer's figures, counted per credential

  const std::shared_ptr<UpstreamLink> link_;
};

class ChatAttempt final : public PooledAttempt {
 public:
  ChatAttempt(std::shared_ptr<TokenPool> pool, ChatCallPtr call, std::string body)
      : PooledAttempt(std::move(pool)), call_(std::move(call)), body_(std::move(body)) {}

  using PooledAttempt::refused;
  TokenPool& pool() { return *pool_; }
  void succeeded(const Auth& auth) { pool_->succeeded(auth); }
  void failed(const Auth& auth, const std::string& message) { pool_->failed(auth, message); }

 private:
  bool cancelled() const override { return !call_ || call_->cancelled(); }

  void send(const Auth& auth) override {
    const ChatRequest& chat = call_->request();
    const bool raw = passthrough(chat);
    HttpRequest request = upstream_request(auth, "/v1/messages", chat, chat.stream);
    request.body = body_;
    auto self = std::static_pointer_cast<ChatAttempt>(shared_from_this());
    auto exchange = std::make_shared<MessagesExchange>(self, call_, auth, raw);
    auto transfer = pool_->start_http(std::move(request), exchange);
    if (!transfer) {
      fail(Error::unavailable(pool_->who() + ": the provider was removed"));
      return;
    }
    exchange->link().attach(std::move(transfer));
  }

  void fail(Error error) override {
    if (cancelled()) return;
    call_->emit(Event::failed(std::move(error)));
  }

  ChatCallPtr call_;
  const std::string body_;
};

TokenPool& MessagesExchange::pool() { return attempt_->pool(); }

void MessagesExchange::on_response(int status, const HttpHeaders& headers) {
  pool().note_http_thread();
  status_ = status;
  if (status < 200 || status >= 300) {
    mode_ = Mode::Failure;
    retry_after_ = parse_retry_after(headers);
    return;
  }
  if (raw_) {
    // What the client asked for decides: any other answer fails the check.
    mode_ = call_->request().stream ? Mode::Sse : Mode::Json;
    return;
  }
  std::string_view type = find_header(headers, "content-type").value_or("");
  if (icontains(type, "event-stream")) {
    mode_ = Mode::Sse;
  } else if (icontains(type, "json")) {
    mode_ = Mode::Json;
  } else {
    mode_ = call_->request().stream ? Mode::Sse : Mode::Json;
  }
}

void MessagesExchange::emit(Event event) {
  if (terminal_) return;
  if (event.terminal()) terminal_ = true;
  if (event.kind == Event::Kind::Error) event.error.message = pool().redact(std::move(event.error.message));
  if (event.kind == Event::Kind::Usage) usage_ = event.usage;
  call_->emit(std::move(event));
}

void MessagesExchange::fail(Error error) {
  failure_ = error.message;
  held_raw_.clear();
  held_events_.clear();
  emit(Event::failed(std::move(error)));
}

void MessagesExchange::refuse(Error error) {
  refused_ = true;
  terminal_ = true;
  held_raw_.clear();
  held_events_.clear();
  error.message = pool().redact(std::move(error.message));
  auto attempt = attempt_;
  attempt->refused(auth_, std::move(error));
}

bool MessagesExchange::on_body(std::string_view bytes) {
  if (!call_ || call_->cancelled() || terminal_) return false;
  switch (mode_) {
    case Mode::Failure:
      if (body_.size() + bytes.size() > kMaxErrorBody) {
        body_.append(bytes.substr(0, kMaxErrorBody - body_.size()));
        return false;  // enough to explain the error
      }
      body_.append(bytes);
      return true;
    case Mode::Json:
      if (body_.size() + bytes.size() > kMaxJsonBody) {
        fail(Error::upstream(502, pool().who() + ": the upstream answer is larger than " +
                                      std::to_string(kMaxJsonBody >> 20) + " MiB"));
        return false;
      }
      body_.append(bytes);
      return true;
    case Mode::Sse:
      return raw_ ? feed_raw_sse(bytes) : feed_sse(bytes);
    case Mode::None:
      break;
  }
  return true;
}

// Pass-through SSE: each event is checked once it is whole, and the whole
// events of one read go to the client together; an unfinished one waits.
bool MessagesExchange::feed_raw_sse(std::string_view bytes, bool stream_ended) {
  std::string out;
  RawStep last = RawStep::Forward;
  std::size_t start = 0;  // where the event being cut began in `bytes`
  const auto on_event_end = [&](std::size_t end) {
    const std::string_view piece = bytes.substr(start, end - start);
    start = end;
    last = check_raw_event(piece);
    if (last == RawStep::Hold) {
      held_raw_.append(unfinished_).append(piece);
    } else if (last == RawStep::Forward || last == RawStep::ForwardThenEnd) {
      if (out.empty()) out.reserve(held_raw_.size() + unfinished_.size() + bytes.size());
      if (!held_raw_.empty()) {
        out.append(held_raw_);
        held_raw_.clear();
      }
      out.append(unfinished_).append(piece);
    }
    unfinished_.clear();
    return last == RawStep::Hold || last == RawStep::Forward;
  };
  cutter_.feed(bytes, on_event_end);
  const bool read_on = last == RawStep::Hold || last == RawStep::Forward;
  if (stream_ended && read_on && cutter_.ended_by_last_cr()) on_event_end(bytes.size());
  if (last == RawStep::Refuse) {
    Error error = std::move(*raw_ending_);
    if (!error.retry_after) error.retry_after = retry_after_;
    refuse(std::move(error));
    return false;
  }
  if (!out.empty()) emit(Event::raw(std::move(out)));
  if (last == RawStep::ForwardThenEnd || last == RawStep::End) {
    end_raw(std::move(*raw_ending_));
    return false;
  }
  unfinished_.append(bytes.substr(start));
  if (unfinished_.size() + held_raw_.size() > kMaxSseEvent) {
    Error error = Error::upstream(502, pool().who() + ": upstream sent an SSE event larger than " +
                                           std::to_string(kMaxSseEvent >> 20) + " MiB");
    if (!call_->committed()) {
      refuse(std::move(error));
    } else {
      end_raw(std::move(error));
    }
    return false;
  }
  link_->pause_if_backlogged(*call_);
  return true;
}

// One whole event: the bytes held of it so far and `event_bytes`, which end it.
MessagesExchange::RawStep MessagesExchange::check_raw_event(std::string_view event_bytes) {
  RawStep step = stream_checked_ ? RawStep::Forward : RawStep::Hold;  // no data: a comment or blank
  const sse::Reader::Handler inspect = [this, &step](const sse::Message& message) { step = inspect_raw(message); };
  if (!unfinished_.empty()) reader_.feed(unfinished_, inspect);
  reader_.feed(event_bytes, inspect);
  return step;
}

MessagesExchange::RawStep MessagesExchange::inspect_raw(const sse::Message& message) {
  const bool anthropic = account_.sse_event(message.event, message.data);
  if (!stream_checked_) {
    if (message.event == "error" && account_.error) {
      // An error as the stream's first event (overloaded): nothing went out yet.
      raw_ending_ = std::move(account_.error);
      return RawStep::Refuse;
    }
    if (message.event != "message_start" || !anthropic) {
      const std::string why = message.event == "message_start"
                                  ? "its message_start holds no JSON message object"
                                  : "its first event is '" + message.event.substr(0, 40) + "', not message_start";
      raw_ending_ = Error::upstream(502, pool().who() + ": the upstream answer is not an Anthropic message stream (" +
                                             why + ")");
      return RawStep::Refuse;
    }
    stream_checked_ = true;
    return RawStep::Forward;
  }
  if (!anthropic) {
    raw_ending_ = Error::upstream(502, pool().who() + ": the upstream sent an SSE event ('" +
                                           message.event.substr(0, 40) + "') whose data is not valid JSON");
    return RawStep::End;
  }
  if (message.event == "error") {
    // The upstream ended its stream with an error event: forwarded, then the call ends with it.
    raw_ending_ = std::move(account_.error);
    return RawStep::ForwardThenEnd;
  }
  return RawStep::Forward;
}

// After the client has pass-through bytes: the usage read so far, then `error`.
void MessagesExchange::end_raw(Error error) {
  if (account_.has_usage) emit(Event::usage_report(account_.canonical_usage()));
  fail(std::move(error));
}

// Canonical answers: what this exchange keeps back until the host commits,
// so that until then none of it is in the call and a refusal leaves the call
// as it found it (another credential answers it from the start, with one
// Role). A stream commits with its first content event: its Role (and a
// Usage, should one come first) wait for that. A whole answer commits with
// its end: all of it waits for the terminal event.
bool MessagesExchange::held_until_commit(const Event& event) const {
  if (event.terminal() || call_->committed()) return false;
  if (!call_->request().stream) return true;
  return event.kind == Event::Kind::Role || event.kind == Event::Kind::Usage;
}

void MessagesExchange::release_held() {
  for (Event& event : held_events_) emit(std::move(event));
  held_events_.clear();
}

bool MessagesExchange::feed_sse(std::string_view bytes) {
  std::optional<Error> error;
  const anthropic::StreamParser::Emit sink = [this](Event e) {
    if (held_until_commit(e)) {
      held_events_.push_back(std::move(e));
      return;
    }
    if (e.kind == Event::Kind::Error && !call_->committed()) {
      stream_error_ = std::move(e.error);
      return;
    }
    release_held();
    emit(std::move(e));
  };
  reader_.feed(bytes, [&](const sse::Message& message) {
    if (error || terminal_ || stream_error_) return;
    error = parser_.feed(message.event, message.data, sink);
  });
  if (!error && stream_error_) error = std::move(stream_error_);
  if (error) {
    if (!call_->committed()) {
      error->retry_after = retry_after_;
      refuse(std::move(*error));
    } else {
      fail(std::move(*error));
    }
    return false;
  }
  if (reader_.pending_bytes() > kMaxSseEvent) {
    fail(Error::upstream(502, pool().who() + ": upstream sent an SSE event larger than " +
                                  std::to_string(kMaxSseEvent >> 20) + " MiB"));
    return false;
  }
  if (!terminal_) link_->pause_if_backlogged(*call_);
  return true;
}

void MessagesExchange::on_complete(const HttpOutcome& outcome) {
  pool().note_http_thread();
  link_->detach();
  if (call_ && !call_->cancelled() && !terminal_) finish(outcome);
  if (usage_) attempt_->pool().add_tokens(auth_, usage_->input_tokens + usage_->output_tokens);
  if (!refused_) {
    if (status_ >= 200 && status_ < 300 && outcome.ok()) {
      attempt_->succeeded(auth_);
    } else if (mode_ != Mode::Failure) {
      // Our own stop (garbage mid-stream) says more than the aborted transfer.
      attempt_->failed(auth_, !failure_.empty() ? failure_
                              : outcome.ok()    ? "HTTP " + std::to_string(status_)
                                                : outcome.message);
    }
  }
  call_.reset();  // answered (or cancelled): let it go
  attempt_.reset();
}

void MessagesExchange::finish(const HttpOutcome& outcome) {
  if (mode_ == Mode::Failure) {
    Error error = anthropic::parse_error_response(status_, body_);
    if (status_ < 400 || status_ > 599) {
      error = Error::upstream(502, pool().who() + ": upstream answered HTTP " + std::to_string(status_));
    }
    error.retry_after = retry_after_;
    refuse(std::move(error));
    return;
  }
  if (!outcome.ok()) {
    Error error = Error::from_transport(outcome, pool().who());
    // After commit the answer ends in-band: pass-through reports its usage first.
    if (raw_ && call_->committed()) return end_raw(std::move(error));
    return fail(std::move(error));
  }
  if (mode_ == Mode::Sse) {
    if (raw_) return finish_raw_sse();
    if (reader_.mid_event()) {
      // The last event lacked its blank line: take it as ended.
      feed_sse("\n\n");
      if (terminal_) return;
    }
    const anthropic::StreamParser::Emit sink = [this](Event e) {
      release_held();
      emit(std::move(e));
    };
    if (auto error = parser_.finish(sink)) {
      if (!call_->committed()) {
        refuse(std::move(*error));
      } else {
        fail(std::move(*error));
      }
      return;
    }
    release_held();
    return;
  }
  if (mode_ == Mode::Json) {
    if (raw_) return finish_raw_json();
    std::vector<Event> events;
    if (auto error = anthropic::parse_message(body_, events)) {
      // Nothing went out: an error body (overloaded) may rest the credential.
      if (!error->retry_after) error->retry_after = retry_after_;
      return refuse(std::move(*error));
    }
    body_.clear();
    body_.shrink_to_fit();
    for (Event& event : events) emit(std::move(event));
    return;
  }
  fail(Error::upstream(502, pool().who() + ": the upstream closed without a response"));
}

void MessagesExchange::finish_raw_sse() {
  if (!unfinished_.empty()) {
    // The last event lacked its empty line: it ends here, checked like the others.
    if (!feed_raw_sse(cutter_.completion(), true)) return;
  }
  if (!stream_checked_) {
    refuse(Error::upstream(502, pool().who() + ": the upstream answer is not an Anthropic message stream "
                                               "(it ended before message_start)"));
    return;
  }
  if (account_.has_usage) emit(Event::usage_report(account_.canonical_usage()));
  if (!account_.stopped) {
    return fail(Error::upstream(502, pool().who() + ": the upstream stream ended before message_stop"));
  }
  emit(Event::finished(account_.finish.value_or(FinishReason::Stop)));
}

void MessagesExchange::finish_raw_json() {
  switch (account_.whole(body_)) {
    case PassAccount::Body::Message:
      emit(Event::raw(std::move(body_)));
      body_.clear();
      if (account_.has_usage) emit(Event::usage_report(account_.canonical_usage()));
      emit(Event::finished(account_.finish.value_or(FinishReason::Stop)));
      return;
    case PassAccount::Body::Error: {
      Error error = std::move(*account_.error);
      if (!error.retry_after) error.retry_after = retry_after_;
      return refuse(std::move(error));
    }
    case PassAccount::Body::NotAnthropic:
      return refuse(Error::upstream(502, pool().who() + ": the upstream answer is not an Anthropic message "
                                                        "(not a JSON object of type \"message\")"));
  }
}

// ---------------------------------------------------------------------------
// count_tokens

class CountAttempt final : public PooledAttempt {
 public:
  CountAttempt(std::shared_ptr<TokenPool> pool, ChatRequest headers_only, std::string body,
               Provider::CountTokensDone done)
      : PooledAttempt(std::move(pool)), chat_(std::move(headers_only)), body_(std::move(body)), done_(std::move(done)) {}

 private:
  bool cancelled() const override { return finished_; }

  void send(const Auth& auth) override {
    HttpRequest request = upstream_request(auth, "/v1/messages/count_tokens", chat_, false);
    request.body = body_;
    constexpr std::chrono::milliseconds kTotal{60'000};
    if (request.timeouts.total.count() == 0 || request.timeouts.total > kTotal) request.timeouts.total = kTotal;
    auto self = std::static_pointer_cast<CountAttempt>(shared_from_this());
    auto handler = collect_response(kMaxCountBody, [self, auth](CollectedResponse&& answer) {
      self->pool_->note_http_thread();
      self->answered(auth, std::move(answer));
    });
    if (!pool_->start_http(std::move(request), handler)) {
      fail(Error::unavailable(pool_->who() + ": the provider was removed"));
    }
  }

  void answered(const Auth& auth, CollectedResponse&& answer) {
    if (!answer.outcome.ok() || answer.too_large) {
      Error error = answer.too_large ? Error::upstream(502, pool_->who() + ": count_tokens answer too large")
                                     : Error::from_transport(answer.outcome, pool_->who());
      pool_->failed(auth, error.message);
      return fail(std::move(error));
    }
    if (answer.status < 200 || answer.status > 299) {
      Error error = anthropic::parse_error_response(answer.status, answer.body);
      error.retry_after = parse_retry_after(answer.headers);
      error.message = pool_->redact(std::move(error.message));
      return refused(auth, std::move(error));
    }
    rapidjson::Document doc;
    doc.Parse(answer.body.data(), answer.body.size());
    if (!doc.HasParseError() && doc.IsObject()) {
      auto it = doc.FindMember("input_tokens");
      if (it != doc.MemberEnd() && it->value.IsInt64()) {
        pool_->succeeded(auth);
        finished_ = true;
        done_(it->value.GetInt64(), std::nullopt);
        return;
      }
    }
    fail(Error::upstream(502, pool_->who() + ": count_tokens answered without input_tokens"));
  }

  void fail(Error error) override {
    if (finished_) return;
    finished_ = true;
    done_(0, std::move(error));
  }

  const ChatRequest chat_;  // headers and source only
  const std::string body_;
  Provider::CountTokensDone done_;
  bool finished_ = false;
};

std::string request_body(const ChatRequest& request) {
  if (passthrough(request)) return anthropic::replace_model(*request.original_body, request.model);
  return anthropic::render_messages_request(request);
}

}  // namespace

std::string count_tokens_body(std::string_view body, std::string_view model) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::string(body);
  for (const char* member : {"stream", "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "metadata",
                             "service_tier", "container", "inference_geo"}) {
    doc.RemoveMember(member);
  }
  if (!model.empty()) {
    doc.RemoveMember("model");
    doc.AddMember("model", rapidjson::Value(model.data(), static_cast<rapidjson::SizeType>(model.size()),
                                            doc.GetAllocator()),
                  doc.GetAllocator());
  }
  return json::to_string(doc);
}

// ---------------------------------------------------------------------------
// Provider

ClaudeProvider::ClaudeProvider(std::string name, ClaudeConfig config, HostServices& host)
    : pool_(std::make_shared<TokenPool>(std::move(name), std::move(config), host)) {
  pool_->start();
}

ClaudeProvider::~ClaudeProvider() { pool_->shutdown(); }

std::vector<ModelInfo> ClaudeProvider::models() const {
  std::vector<ModelInfo> out;
  for (const auto& id : pool_->config().models) out.push_back({id, "anthropic"});
  return out;
}

void ClaudeProvider::chat(ChatCallPtr call) {
  try {
    if (call->cancelled()) return;
    auto attempt = std::make_shared<ChatAttempt>(pool_, call, request_body(call->request()));
    attempt->next();
  } catch (const std::exception& e) {
    if (!call->cancelled()) {
      call->emit(Event::failed(Error::upstream(500, pool_->who() + ": internal error: " + e.what())));
    }
  } catch (...) {
    if (!call->cancelled()) call->emit(Event::failed(Error::upstream(500, pool_->who() + ": internal error")));
  }
}

bool ClaudeProvider::count_tokens(const ChatRequest& request, CountTokensDone done) {
  try {
    std::string body = passthrough(request) ? count_tokens_body(*request.original_body, request.model)
                                            : count_tokens_body(anthropic::render_messages_request(request), {});
    ChatRequest headers_only;
    headers_only.model = request.model;
    headers_only.source_api = request.source_api;
    headers_only.original_body = request.original_body;
    headers_only.client_headers = request.client_headers;
    headers_only.traceparent = request.traceparent;
    for (const auto& member : request.extra) {
      if (member.first == "anthropic-beta" || member.first == "anthropic-version") headers_only.extra.push_back(member);
    }
    auto attempt = std::make_shared<CountAttempt>(pool_, std::move(headers_only), std::move(body), std::move(done));
    attempt->next();
  } catch (const std::exception& e) {
    done(0, Error::upstream(500, pool_->who() + ": internal error: " + e.what()));
  }
  return true;
}

std::string ClaudeProvider::credentials_report() const { return pool_->report(); }

bool ClaudeProvider::manage_credentials(CredentialAction action, CredentialActionDone done) {
  // Once, whatever throws where.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  CredentialActionDone once = [answered, done = std::move(done)](std::optional<Error> error, std::string entry) {
    if (!answered->exchange(true)) done(std::move(error), std::move(entry));
  };
  try {
    pool_->manage(action, once);
  } catch (const std::exception& e) {
    once(Error::upstream(500, pool_->who() + ": internal error: " + e.what()), {});
  }
  return true;
}

}  // namespace llmux::claude
