// The HTTP engine on event loops: a transfer started on an attached loop's
// thread runs on that loop (no hand-off), one started elsewhere on the
// engine's own loop; commands never re-enter the caller; detaching a loop ends
// what is left on it. Real loopback sockets against FakeUpstream.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "http/http_engine.h"
#include "server/epoll_loop.h"
#include "support/fake_upstream.h"

namespace llmux::test {
namespace {

using namespace std::chrono_literals;
using host::EpollLoop;
using host::HttpEngine;
using host::IoLoop;

const bool kProxyEnvironmentCleared = [] {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) ::unsetenv(name);
  return true;
}();

// Notes the loop and thread of every callback.
class LoopRecorder final : public HttpHandler {
 public:
  std::function<bool(std::string_view)> on_body_hook;

  void on_response(int status, const HttpHeaders&) override {
    note();
    std::lock_guard lock(mutex_);
    status_ = status;
  }
  bool on_body(std::string_view bytes) override {
    note();
    {
      std::lock_guard lock(mutex_);
      body_.append(bytes);
      changed_.notify_all();
    }
    return on_body_hook ? on_body_hook(bytes) : true;
  }
  void on_complete(const HttpOutcome& outcome) override {
    note();
    std::lock_guard lock(mutex_);
    outcome_ = outcome;
    changed_.notify_all();
  }
  std::optional<HttpOutcome> wait(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return outcome_.has_value(); });
    return outcome_;
  }
  bool wait_for_body(std::string_view text, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return body_.find(text) != std::string::npos; });
  }
  std::set<IoLoop*> loops() const {
    std::lock_guard lock(mutex_);
    return loops_;
  }
  std::set<std::thread::id> threads() const {
    std::lock_guard lock(mutex_);
    return threads_;
  }
  std::string body() const {
    std::lock_guard lock(mutex_);
    return body_;
  }

 private:
  void note() {
    std::lock_guard lock(mutex_);
    loops_.insert(IoLoop::current());
    threads_.insert(std::this_thread::get_id());
  }
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int status_ = 0;
  std::string body_;
  std::optional<HttpOutcome> outcome_;
  std::set<IoLoop*> loops_;
  std::set<std::thread::id> threads_;
};

HttpRequest get(const std::string& url) {
  HttpRequest request;
  request.method = "GET";
  request.url = url;
  return request;
}

// Runs `fn` on `loop`'s thread and returns its result.
template <typename Fn>
auto on_loop(IoLoop& loop, Fn fn) {
  std::promise<decltype(fn())> result;
  auto future = result.get_future();
  EXPECT_TRUE(loop.post([&] { result.set_value(fn()); }));
  return future.get();
}

// A loop with the engine attached, as a Pistache worker is in the server.
struct AttachedLoop {
  explicit AttachedLoop(HttpEngine& engine) : engine(engine) {
    engine.attach(loop);
    loop.start();
  }
  ~AttachedLoop() { stop(); }
  void stop() {
    if (stopped) return;
    stopped = true;
    loop.halt();
    engine.detach(loop);
  }
  HttpEngine& engine;
  EpollLoop loop{"test-loop"};
  bool stopped = false;
};

TEST(LoopEngine, ATransferStartedOnAnAttachedLoopRunsOnThatLoop) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(200, {}, "hello"); });
  HttpEngine engine;
  AttachedLoop worker(engine);
  auto recorder = std::make_shared<LoopRecorder>();
  auto loop_thread = on_loop(worker.loop, [&] {
    engine.start(get(upstream.url("/a")), recorder);
    return std::this_thread::get_id();
  });
  auto outcome = recorder->wait();
  ASSERT_TRUE(outcome && outcome->ok()) << (outcome ? outcome->message : "no outcome");
  EXPECT_EQ(recorder->body(), "hello");
  EXPECT_EQ(recorder->loops(), std::set<IoLoop*>{&worker.loop});
  EXPECT_EQ(recorder->threads(), std::set<std::thread::id>{loop_thread});
}

TEST(LoopEngine, ATransferStartedAwayFromAnyLoopRunsOnTheEnginesOwnLoop) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(200, {}, "hi"); });
  HttpEngine engine;
  AttachedLoop worker(engine);
  auto recorder = std::make_shared<LoopRecorder>();
  engine.start(get(upstream.url("/b")), recorder);  // from the test's thread
  auto outcome = recorder->wait();
  ASSERT_TRUE(outcome && outcome->ok());
  auto loops = recorder->loops();
  ASSERT_EQ(loops.size(), 1u);
  EXPECT_NE(*loops.begin(), nullptr);
  EXPECT_NE(*loops.begin(), &worker.loop);
  EXPECT_NE(*recorder->threads().begin(), std::this_thread::get_id());
}

TEST(LoopEngine, EachLoopKeepsItsOwnConnectionAlive) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(200, {}, "x"); });
  HttpEngine engine;
  AttachedLoop first(engine);
  AttachedLoop second(engine);
  for (int round = 0; round < 3; ++round) {
    for (AttachedLoop* worker : {&first, &second}) {
      auto recorder = std::make_shared<LoopRecorder>();
      on_loop(worker->loop, [&] {
        engine.start(get(upstream.url("/c")), recorder);
        return 0;
      });
      auto outcome = recorder->wait();
      ASSERT_TRUE(outcome && outcome->ok());
    }
  }
  // Six requests, one kept-alive connection per loop.
  EXPECT_EQ(upstream.request_count(), 6u);
  EXPECT_EQ(upstream.connection_count(), 2u);
}

TEST(LoopEngine, CancelFromInsideOnBodyTakesEffectAfterTheCallbackReturns) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    exchange.chunk("first");
    exchange.stall_until_client_closes(10s);
  });
  HttpEngine engine;
  AttachedLoop worker(engine);
  auto recorder = std::make_shared<LoopRecorder>();
  std::shared_ptr<HttpTransfer> transfer;
  bool completed_inside_cancel = false;
  recorder->on_body_hook = [&](std::string_view) {
    transfer->cancel();
    // Not re-entered: on_complete has not run yet.
    completed_inside_cancel = recorder->wait(0ms).has_value();
    return true;
  };
  on_loop(worker.loop, [&] {
    transfer = engine.start(get(upstream.url("/d")), recorder);
    return 0;
  });
  auto outcome = recorder->wait();
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->failure, HttpFailure::Cancelled);
  EXPECT_FALSE(completed_inside_cancel);
  // The upstream connection is closed, not kept half-read.
  EXPECT_TRUE(upstream.wait_for_client_close(0, 5s).has_value());
}

TEST(LoopEngine, DetachingALoopEndsItsTransfersAsCancelled) {
  std::promise<void> streaming;
  FakeUpstream upstream([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    exchange.chunk("part");
    exchange.stall_until_client_closes(10s);
  });
  HttpEngine engine;
  AttachedLoop worker(engine);
  auto recorder = std::make_shared<LoopRecorder>();
  on_loop(worker.loop, [&] {
    engine.start(get(upstream.url("/e")), recorder);
    return 0;
  });
  ASSERT_TRUE(recorder->wait_for_body("part"));
  worker.stop();
  auto outcome = recorder->wait(0ms);  // ended inside detach, on this thread
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->failure, HttpFailure::Cancelled);
  EXPECT_EQ(engine.active_transfers(), 0u);
  EXPECT_TRUE(upstream.wait_for_client_close(0, 5s).has_value());
}

TEST(IoLoop, PostedWorkRunsOnTheLoopAndDeferredWorkAfterTheCurrentTask) {
  EpollLoop loop("test-loop");
  loop.start();
  std::vector<int> order;
  auto thread = on_loop(loop, [&] {
    loop.defer([&] { order.push_back(2); });
    order.push_back(1);
    return std::this_thread::get_id();
  });
  on_loop(loop, [] { return 0; });  // a later task: the deferred one has run by then
  EXPECT_NE(thread, std::this_thread::get_id());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  loop.halt();
  loop.stop();
  EXPECT_FALSE(loop.post([] {}));  // a stopped loop refuses work
}

}  // namespace
}  // namespace llmux::test
