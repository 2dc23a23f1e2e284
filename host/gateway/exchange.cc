#include "gateway/exchange.h"

#include <functional>

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
    if (!done_ && !cancelled()) {
      exchange_->on_event(*this, Event::failed(Error::upstream(
                                     502, "provider '" + provider_ + "' ended the call without an answer")));
    }
  }

  const ChatRequest& request() const override { return *request_; }

  void emit(Event event) override {
    if (done_ || cancelled()) return;
    if (event.terminal()) done_ = true;
    exchange_->on_event(*this, std::move(event));
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

  const std::string& provider() const { return provider_; }

 private:
  std::shared_ptr<Exchange> exchange_;
  std::shared_ptr<const ChatRequest> request_;
  std::string provider_;
  bool done_ = false;  // touched only by the emitting thread (events of a call are sequential)
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::function<void()> on_cancel_;
};

Exchange::Exchange(std::shared_ptr<const RouteTable> table, Resolution resolution, ChatRequest request,
                   std::unique_ptr<AnswerWriter> writer)
    : table_(std::move(table)),
      resolution_(std::move(resolution)),
      request_(std::make_shared<const ChatRequest>(std::move(request))),
      writer_(std::move(writer)),
      started_(std::chrono::steady_clock::now()) {}

Exchange::~Exchange() = default;

bool Exchange::worth_fallback(const Error& error) {
  return error.status != 400 && error.status != 413 && error.status != 422;
}

void Exchange::start() { run_next_step(); }

void Exchange::cancel() {
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  std::shared_ptr<Attempt> attempt;
  {
    std::lock_guard lock(attempt_mutex_);
    attempt = current_.lock();
  }
  if (attempt) attempt->cancel();
}

void Exchange::run_next_step() {
  while (next_step_ < resolution_.chain.size()) {
    if (cancelled()) return;
    const ResolvedStep& step = resolution_.chain[next_step_++];
    const ProviderSlot& slot = *step.slot;
    if (!slot.ready()) {
      last_error_ = Error::unavailable("provider '" + slot.name + "' is " + slot.state);
      Log::write(LogLevel::Debug, "router", "skip '" + slot.name + "' (" + slot.state + ")");
      continue;
    }
    if (request_->model != step.upstream_model) {
      auto renamed = std::make_shared<ChatRequest>(*request_);
      renamed->model = step.upstream_model;
      request_ = std::move(renamed);
    }
    auto attempt = std::make_shared<Attempt>(shared_from_this(), request_, slot.name);
    {
      std::lock_guard lock(attempt_mutex_);
      current_ = attempt;
    }
    {
      std::lock_guard lock(writer_mutex_);
      writer_->begin_attempt(slot.name);
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
    return;
  }
  if (cancelled()) return;
  std::lock_guard lock(writer_mutex_);
  writer_->fail(last_error_ ? *last_error_
                            : Error::unavailable("no provider could serve model '" + resolution_.requested + "'"));
  writer_->flush();
}

void Exchange::on_event(Attempt& attempt, Event&& event) {
  {
    std::lock_guard lock(writer_mutex_);
    if (cancelled() || writer_->finished()) return;
    if (event.kind != Event::Kind::Error || writer_->committed()) {
      writer_->on_event(event);
      if (!dispatching_) writer_->flush();
      return;
    }
    writer_->discard();
    const Error& error = event.error;
    bool more = next_step_ < resolution_.chain.size();
    if (!more || !worth_fallback(error)) {
      writer_->fail(error);
      if (!dispatching_) writer_->flush();
      return;
    }
    Log::write(LogLevel::Warn, "router",
               "provider '" + attempt.provider() + "' failed for model '" + resolution_.requested + "' (HTTP " +
                   std::to_string(error.status) + ": " + error.message + "); falling back");
    last_error_ = error;
  }
  run_next_step();  // outside the lock: the next provider may answer synchronously
}

}  // namespace llmux::host
