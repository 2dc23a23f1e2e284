#include "gateway/exchange.h"

#include <algorithm>
#include <functional>
#include <random>

#include "services/log.h"

namespace llmux::host {

// The ChatCall a provider sees for one attempt.
class Attempt final : public ChatCall {
 public:
  Attempt(std::shared_ptr<Exchange> exchange, std::shared_ptr<const ChatRequest> request, std::string provider)
      : exchange_(std::move(exchange)), request_(std::move(request)), provider_(std::move(provider)) {}

  ~Attempt() override {
    // A provider that lets go of a call without a terminal event would leave
    // the client waiting forever: answer for it.
    if (!done_.load(std::memory_order_acquire) && !cancelled()) {
      exchange_->on_event(*this, Event::failed(Error::upstream(
                                     502, "provider '" + provider_ + "' ended the call without an answer")));
    }
  }

  const ChatRequest& request() const override { return *request_; }

  void emit(Event event) override {
    if (done_.load(std::memory_order_relaxed) || cancelled()) return;
    if (event.terminal()) done_.store(true, std::memory_order_release);
    exchange_->on_event(*this, std::move(event));
  }

  // The exchange's commit, read without its writer lock (see
  // Exchange::answer_committed()). An attempt that has emitted its terminal
  // event is over: the answer is complete, or the exchange moved on to a retry
  // or the next step with a new Attempt. It ignores what it is given, so it
  // answers true: nothing it does can change the answer any more (and a
  // provider does not start another credential for it).
  bool committed() const override {
    return done_.load(std::memory_order_acquire) || exchange_->answer_committed();
  }

  bool cancelled() const override { return cancelled_.load(std::memory_order_acquire); }

  void on_cancel(std::function<void()> fn) override {
    std::unique_lock lock(mutex_);
    if (cancelled()) {
      lock.unlock();
      fn();
      return;
    }
    on_cancel_ = std::move(fn);
  }

  void cancel() {
    std::function<void()> fn;
    {
      std::lock_guard lock(mutex_);
      if (cancelled_.exchange(true)) return;
      fn = std::move(on_cancel_);
    }
    if (fn) fn();
  }

  bool client_backlogged() const override {
    return exchange_->channel_->pending_bytes() > kClientBacklogBytes;
  }

  void on_client_drained(std::function<void()> fn) override { exchange_->channel_->on_drained(std::move(fn)); }

  const std::string& provider() const { return provider_; }

 private:
  std::shared_ptr<Exchange> exchange_;
  std::shared_ptr<const ChatRequest> request_;
  std::string provider_;
  // Set by the emitting thread (events of a call are sequential); atomic since
  // committed() may be asked on another one.
  std::atomic<bool> done_{false};
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::function<void()> on_cancel_;
};

Exchange::Exchange(Services services, std::shared_ptr<const RouteTable> table, Resolution resolution,
                   ChatRequest request, std::unique_ptr<AnswerWriter> writer, std::shared_ptr<ClientChannel> channel,
                   std::shared_ptr<RequestContext> context, FullParser parse_later)
    : services_(services),
      table_(std::move(table)),
      resolution_(std::move(resolution)),
      request_(std::make_shared<const ChatRequest>(std::move(request))),
      parse_later_(parse_later),
      writer_(std::move(writer)),
      channel_(std::move(channel)),
      context_(std::move(context)) {}

Exchange::~Exchange() {
  // Nobody ended the request (it cannot normally happen: every path ends in a
  // terminal event, a failure or a cancel): count it as a client abort.
  if (context_) context_->finish(cancelled() ? Outcome::ClientAbort : Outcome::UpstreamError);
}

std::chrono::microseconds Exchange::attempt_duration() {
  std::lock_guard lock(writer_mutex_);
  return std::chrono::duration_cast<std::chrono::microseconds>(RequestContext::Clock::now() - attempt_started_);
}

void Exchange::record_attempt_locked(const std::string& outcome, int status) {
  if (attempt_recorded_ || next_step_ == 0) return;
  attempt_recorded_ = true;
  auto duration = std::chrono::duration_cast<std::chrono::microseconds>(RequestContext::Clock::now() - attempt_started_);
  context_->attempts.push_back({current_step().slot->name, outcome, status, duration});
}

// The writer wrote its last byte: the request is over.
void Exchange::finish_if_done_locked() {
  if (!writer_->finished()) return;
  const ResolvedStep& step = current_step();
  context_->provider = step.slot->name;
  context_->model_answered = step.upstream_model;
  Outcome outcome = Outcome::Ok;
  if (last_terminal_error_) {
    const Error& error = *last_terminal_error_;
    bool timeout = error.transport == HttpFailure::FirstByteTimeout || error.transport == HttpFailure::IdleTimeout ||
                   error.transport == HttpFailure::TotalTimeout || error.status == 504;
    outcome = timeout ? Outcome::Timeout : Outcome::UpstreamError;
  }
  context_->finish(outcome);
}

void Exchange::publish_commit_locked() {
  if (writer_->committed()) answer_committed_.store(true, std::memory_order_release);
}

bool Exchange::worth_fallback(const Error& error) {
  return error.status != 400 && error.status != 413 && error.status != 422;
}

bool Exchange::worth_retry(const Error& error) {
  switch (error.transport) {
    case HttpFailure::ConnectRefused:  // nothing listens: waiting will not help, fall back now
    case HttpFailure::Cancelled:
    case HttpFailure::TotalTimeout:
      return false;
    case HttpFailure::Connect:
    case HttpFailure::FirstByteTimeout:
    case HttpFailure::IdleTimeout:
    case HttpFailure::Cut:
      return true;
    case HttpFailure::None:
    case HttpFailure::Other:
      break;
  }
  return error.status == 408 || error.status == 429 || error.status >= 500;
}

namespace {

// Failures that say something about the provider's health (not the request's).
bool counts_against_provider(const Error& error) {
  if (error.transport == HttpFailure::Cancelled) return false;
  if (error.transport != HttpFailure::None) return true;  // refused, timeouts, cuts
  return error.status == 408 || error.status == 429 || error.status >= 500;
}

std::chrono::milliseconds jittered(std::chrono::milliseconds delay) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto half = delay.count() / 2;
  std::uniform_int_distribution<std::int64_t> pick(half, std::max<std::int64_t>(half, delay.count()));
  return std::chrono::milliseconds(pick(rng));
}

}  // namespace

void Exchange::start() { run_next_step(); }

void Exchange::cancel() {
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  std::shared_ptr<Attempt> attempt;
  std::string probe;
  {
    std::lock_guard lock(attempt_mutex_);
    attempt = current_.lock();
    probe = probe_provider_;
  }
  if (attempt) attempt->cancel();
  if (!probe.empty()) services_.health.release_probe(probe);
  std::lock_guard lock(writer_mutex_);
  if (context_->finished()) return;
  record_attempt_locked("cancelled", 0);
  if (next_step_ > 0) {
    context_->provider = current_step().slot->name;
    context_->model_answered = current_step().upstream_model;
  }
  context_->finish(Outcome::ClientAbort);
}

namespace {

const char* operation_name(Operation operation) {
  switch (operation) {
    case Operation::Chat: return "chat";
    case Operation::Completion: return "completions";
    case Operation::Embedding: return "embeddings";
  }
  return "chat";
}

}  // namespace

void Exchange::run_next_step() {
  while (next_step_ < resolution_.chain.size()) {
    if (cancelled()) return;
    const ResolvedStep& step = resolution_.chain[next_step_++];
    const ProviderSlot& slot = *step.slot;
    retries_ = 0;
    // Not loaded, unauthorized by its own account, not serving this kind of
    // request, or cooling down: skip it.
    std::string reason;
    auto admission = ProviderHealth::Admission::Skip;
    const Operation operation = request_->operation();
    if (auto unusable = slot.unusable_reason()) {
      reason = std::move(*unusable);
      last_error_ = Error::unavailable("provider '" + slot.name + "' is " + reason);
      if (slot.unauthorized()) last_error_->code = "provider_unauthorized";
    } else if (!slot.provider->serves(operation)) {
      // Embeddings routed to a chat-only provider: a request (or config)
      // mistake, not an outage.
      reason = std::string("not serving ") + operation_name(operation);
      last_error_ = Error::invalid_request("model '" + resolution_.requested + "' is routed to provider '" + slot.name +
                                               "', which does not serve " + operation_name(operation),
                                           "model", "unsupported_operation");
    } else {
      admission = services_.health.admit(slot.name, &reason);
      if (admission == ProviderHealth::Admission::Skip) {
        last_error_ = Error::unavailable("provider '" + slot.name + "' is " + reason);
      }
    }
    if (admission == ProviderHealth::Admission::Skip) {
      Log::write(LogLevel::Debug, "router", "skip '" + slot.name + "' (" + reason + ")");
      std::lock_guard lock(writer_mutex_);
      context_->attempts.push_back({slot.name, "skipped", 0, std::chrono::microseconds(0)});
      continue;
    }
    probing_ = admission == ProviderHealth::Admission::Probe;
    start_attempt();
    return;
  }
  if (cancelled()) return;
  std::lock_guard lock(writer_mutex_);
  last_terminal_error_ =
      last_error_ ? *last_error_ : Error::unavailable("no provider could serve model '" + resolution_.requested + "'");
  writer_->fail(*last_terminal_error_);
  publish_commit_locked();
  writer_->flush();
  if (next_step_ > 0) {
    finish_if_done_locked();
  } else {
    context_->finish(Outcome::UpstreamError);  // an empty chain
  }
}

bool Exchange::ensure_parsed_for(const ResolvedStep& step) {
  if (request_->parsed) return true;
  const bool has_params = step.params && !step.params->empty();
  if (!has_params && step.slot->provider->passes_through(request_->source_api)) return true;
  ChatRequest full;
  full.client_headers = request_->client_headers;
  std::optional<Error> error =
      parse_later_ && request_->original_body
          ? parse_later_(*request_->original_body, full)
          : Error::upstream(500, "internal error: the request was not parsed");  // a host bug, answered not crashed
  std::lock_guard lock(writer_mutex_);
  if (error) {
    // The body was never valid: no provider can take it. The client gets the codec's 400.
    if (cancelled() || writer_->finished()) return false;
    last_terminal_error_ = *error;
    writer_->fail(*error);
    publish_commit_locked();
    writer_->flush();
    if (writer_->finished()) context_->finish(Outcome::Rejected);  // as if refused on arrival
    return false;
  }
  for (const std::string& warning : full.warnings) context_->warnings.push_back(warning);
  full.original_body = request_->original_body;
  full.model = request_->model;  // the current step's name, as routing left it
  full.traceparent = request_->traceparent;
  request_ = std::make_shared<const ChatRequest>(std::move(full));
  return true;
}

void Exchange::start_attempt() {
  if (cancelled()) return;
  const ResolvedStep& step = current_step();
  const ProviderSlot& slot = *step.slot;
  if (!ensure_parsed_for(step)) return;
  bool has_params = step.params && !step.params->empty();
  if (request_->model != step.upstream_model || has_params) {
    auto adjusted = std::make_shared<ChatRequest>(*request_);
    adjusted->model = step.upstream_model;
    if (has_params) {
      // The inbound body no longer says what is asked: no pass-through of it.
      adjusted->original_body.reset();
      for (const auto& [name, value] : *step.params) {
        auto it = std::find_if(adjusted->extra.begin(), adjusted->extra.end(),
                               [&](const auto& member) { return member.first == name; });
        if (it != adjusted->extra.end()) {
          it->second = value;
        } else {
          adjusted->extra.emplace_back(name, value);
        }
      }
    }
    request_ = std::move(adjusted);
  }
  auto attempt = std::make_shared<Attempt>(shared_from_this(), request_, slot.name);
  {
    std::lock_guard lock(attempt_mutex_);
    current_ = attempt;
    probe_provider_ = probing_ ? slot.name : std::string();
  }
  {
    std::lock_guard lock(writer_mutex_);
    writer_->begin_attempt(slot.name);
    attempt_started_ = RequestContext::Clock::now();
    attempt_recorded_ = false;
    dispatching_ = true;
  }
  std::shared_ptr<Provider> provider = slot.provider;
  try {
    provider->chat(attempt);
  } catch (const std::exception& e) {
    // Contract breach (chat must not throw): a failed attempt like any other.
    Log::write(LogLevel::Error, "router", "provider '" + slot.name + "' threw from chat(): " + e.what());
    attempt->emit(Event::failed(Error::upstream(502, "provider '" + slot.name + "' failed: " + e.what())));
  } catch (...) {
    attempt->emit(Event::failed(Error::upstream(502, "provider '" + slot.name + "' failed")));
  }
  std::lock_guard lock(writer_mutex_);
  dispatching_ = false;
  writer_->flush();
  finish_if_done_locked();
}

bool Exchange::schedule_retry(const Error& error) {
  const ProviderSlot& slot = *current_step().slot;
  if (!worth_retry(error) || retries_ >= slot.retry.attempts || cancelled()) return false;
  std::chrono::milliseconds delay;
  if (error.retry_after) {
    if (*error.retry_after > slot.retry.max_retry_after) return false;  // too long: another provider now
    delay = *error.retry_after;
  } else {
    auto base = slot.retry.backoff * (1LL << std::min(retries_, 20));
    delay = jittered(std::min<std::chrono::milliseconds>(base, slot.retry.max_backoff));
  }
  ++retries_;
  Log::write(LogLevel::Info, "router",
             "provider '" + slot.name + "' failed (HTTP " + std::to_string(error.status) + ": " + error.message +
                 "); retry " + std::to_string(retries_) + "/" + std::to_string(slot.retry.attempts) + " in " +
                 std::to_string(delay.count()) + " ms");
  services_.timers.schedule(delay, [self = shared_from_this()] { self->start_attempt(); });
  return true;
}

void Exchange::on_event(Attempt& attempt, Event&& event) {
  const ProviderSlot& slot = *current_step().slot;
  if (event.kind == Event::Kind::Finish) {
    services_.health.record_success(slot.name, attempt_duration());
  } else if (event.kind == Event::Kind::Error && counts_against_provider(event.error)) {
    services_.health.record_failure(slot.name, slot.cooldown, event.error.transport == HttpFailure::ConnectRefused,
                                    event.error.message, event.error.status);
  } else if (event.kind == Event::Kind::Error && event.error.transport != HttpFailure::Cancelled) {
    services_.health.record_request_error(slot.name);
  }
  {
    std::lock_guard lock(writer_mutex_);
    if (cancelled() || writer_->finished()) return;
    if (event.kind != Event::Kind::Error || writer_->committed()) {
      if (event.kind == Event::Kind::Finish) record_attempt_locked("ok", 200);
      if (event.kind == Event::Kind::Error) {  // after commit: ends the answer in-band
        record_attempt_locked("error", event.error.status);
        last_terminal_error_ = event.error;
      }
      writer_->on_event(event);
      publish_commit_locked();
      if (!dispatching_) {
        writer_->flush();
        finish_if_done_locked();
      }
      return;
    }
    writer_->discard();
    record_attempt_locked("error", event.error.status);
  }
  const Error& error = event.error;
  // The retry timer and the next provider run outside the writer lock.
  if (!probing_ && schedule_retry(error)) return;
  bool more = next_step_ < resolution_.chain.size();
  if (!more || !worth_fallback(error)) {
    std::lock_guard lock(writer_mutex_);
    if (cancelled() || writer_->finished()) return;
    last_terminal_error_ = error;
    writer_->fail(error);
    publish_commit_locked();
    if (!dispatching_) {
      writer_->flush();
      finish_if_done_locked();
    }
    return;
  }
  Log::write(LogLevel::Warn, "router",
             "provider '" + attempt.provider() + "' failed for model '" + resolution_.requested + "' (HTTP " +
                 std::to_string(error.status) + ": " + error.message + "); falling back");
  last_error_ = error;
  run_next_step();
}

}  // namespace llmux::host
