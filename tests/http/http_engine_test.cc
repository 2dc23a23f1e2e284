// HttpEngine against FakeUpstream over real loopback sockets: framing,
// streaming, keep-alive, failures and their mapping, timeouts, cancel, pause,
// concurrency, handler faults and shutdown.
#include "http/http_engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "support/fake_upstream.h"

namespace llmux::test {
namespace {

using namespace std::chrono_literals;
using host::HttpEngine;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 10s;  // upper bound for anything that should happen

// Loopback tests must not go through a proxy the CI machine may have configured.
const bool kProxyEnvironmentCleared = [] {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) ::unsetenv(name);
  return true;
}();

// Records everything a transfer delivers; thread-safe for the test thread.
class Recorder final : public HttpHandler {
 public:
  struct Piece {
    Clock::time_point at;
    std::string bytes;
  };

  // Optional hooks, called on the HTTP thread.
  std::function<bool(std::string_view)> on_body_hook;
  std::function<void(int)> on_response_hook;

  void on_response(int status, const HttpHeaders& headers) override {
    {
      std::lock_guard lock(mutex_);
      ++responses_;
      status_ = status;
      headers_ = headers;
    }
    if (on_response_hook) on_response_hook(status);
  }
  bool on_body(std::string_view bytes) override {
    {
      std::lock_guard lock(mutex_);
      if (responses_ == 0) body_before_response_ = true;
      body_.append(bytes);
      pieces_.push_back({Clock::now(), std::string(bytes)});
      changed_.notify_all();
    }
    return on_body_hook ? on_body_hook(bytes) : true;
  }
  void on_complete(const HttpOutcome& outcome) override {
    std::lock_guard lock(mutex_);
    ++completions_;
    outcome_ = outcome;
    completed_at_ = Clock::now();
    changed_.notify_all();
  }

  // Waits for on_complete; the outcome (failure Other + "timeout" if none came).
  HttpOutcome wait(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return completions_ > 0; })) {
      return {HttpFailure::Other, "test: no on_complete within the wait"};
    }
    return *outcome_;
  }
  bool wait_for_body(std::string_view text, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return body_.find(text) != std::string::npos; });
  }
  bool wait_for_bytes(std::size_t size, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return body_.size() >= size || completions_ > 0; }) &&
           body_.size() >= size;
  }

  template <typename F>
  auto locked(F f) const {
    std::lock_guard lock(mutex_);
    return f();
  }

  int status() const { return locked([&] { return status_; }); }
  HttpHeaders headers() const { return locked([&] { return headers_; }); }
  std::string body() const { return locked([&] { return body_; }); }
  std::size_t body_size() const { return locked([&] { return body_.size(); }); }
  std::vector<Piece> pieces() const { return locked([&] { return pieces_; }); }
  int responses() const { return locked([&] { return responses_; }); }
  int completions() const { return locked([&] { return completions_; }); }
  bool body_before_response() const { return locked([&] { return body_before_response_; }); }
  Clock::time_point completed_at() const { return locked([&] { return completed_at_; }); }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int responses_ = 0;
  int status_ = 0;
  HttpHeaders headers_;
  std::string body_;
  std::vector<Piece> pieces_;
  bool body_before_response_ = false;
  int completions_ = 0;
  std::optional<HttpOutcome> outcome_;
  Clock::time_point completed_at_;
};

HttpRequest get(const std::string& url) {
  HttpRequest request;
  request.method = "GET";
  request.url = url;
  return request;
}

HttpRequest post(const std::string& url, std::string body) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = std::move(body);
  return request;
}

// A loopback port with nothing listening.
std::uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return out;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = kWait) {
  auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

long long ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

class HttpEngineTest : public ::testing::Test {
 protected:
  FakeUpstream upstream;
  HttpEngine engine;

  std::shared_ptr<Recorder> run(HttpRequest request) {
    auto recorder = std::make_shared<Recorder>();
    engine.start(std::move(request), recorder);
    recorder->wait();
    return recorder;
  }
  HttpOutcome run_with(const std::shared_ptr<Recorder>& recorder) {
    engine.start(get(upstream.url("/")), recorder);
    return recorder->wait();
  }
};

// ---- responses ---------------------------------------------------------------

TEST_F(HttpEngineTest, JsonResponseWithStatusHeadersAndBody) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(200, {{"Content-Type", "application/json"}, {"X-Request-Id", "req-1"}}, R"({"ok":true})");
  });
  auto recorder = run(post(upstream.url("/v1/chat/completions"), R"({"model":"m"})"));
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_EQ(recorder->status(), 200);
  EXPECT_EQ(find_header(recorder->headers(), "content-type"), "application/json");
  EXPECT_EQ(find_header(recorder->headers(), "X-REQUEST-ID"), "req-1");
  EXPECT_EQ(recorder->body(), R"({"ok":true})");
  EXPECT_EQ(recorder->responses(), 1);
  EXPECT_EQ(recorder->completions(), 1);
  EXPECT_FALSE(recorder->body_before_response());
  EXPECT_TRUE(wait_until([&] { return engine.active_transfers() == 0; }));
}

TEST_F(HttpEngineTest, RequestHeadersAndBodyArriveExactly) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(204); });
  HttpRequest request = post(upstream.url("/v1/chat/completions?api-version=2024"), R"({"model":"m","stream":true})");
  request.headers.push_back({"Authorization", "Bearer sk-test"});
  request.headers.push_back({"X-Custom", "a, b;c=d"});
  auto recorder = run(request);
  EXPECT_TRUE(recorder->wait().ok());
  EXPECT_EQ(recorder->status(), 204);
  ASSERT_EQ(upstream.request_count(), 1u);
  auto seen = upstream.requests().at(0);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/v1/chat/completions?api-version=2024");
  EXPECT_EQ(seen.header("authorization"), "Bearer sk-test");
  EXPECT_EQ(seen.header("content-type"), "application/json");
  EXPECT_EQ(seen.header("x-custom"), "a, b;c=d");
  EXPECT_EQ(seen.header("content-length"), std::to_string(request.body.size()));
  EXPECT_EQ(seen.body, request.body);
  EXPECT_FALSE(seen.has_header("expect"));
  EXPECT_FALSE(seen.has_header("accept-encoding"));
  EXPECT_THAT(seen.header("user-agent"), HasSubstr("llmux/"));

  // A GET carries no body and no invented Content-Type; other methods pass through.
  run(get(upstream.url("/v1/models")));
  HttpRequest del = get(upstream.url("/v1/files/1"));
  del.method = "DELETE";
  run(del);
  HttpRequest put = post(upstream.url("/v1/x"), "");
  put.method = "PUT";
  put.headers.clear();
  run(put);
  auto all = upstream.requests();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[1].method, "GET");
  EXPECT_FALSE(all[1].has_header("content-type"));
  EXPECT_TRUE(all[1].body.empty());
  EXPECT_EQ(all[2].method, "DELETE");
  EXPECT_EQ(all[3].method, "PUT");
  EXPECT_EQ(all[3].header("content-length"), "0");
  EXPECT_FALSE(all[3].has_header("content-type"));
}

TEST_F(HttpEngineTest, SseBodyArrivesIncrementally) {
  std::atomic<Clock::time_point> second_sent{Clock::time_point::max()};
  upstream.set_handler([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(openai_sse({openai_text_chunk("Hel")}, false));
    exchange.sleep(300ms);
    second_sent = Clock::now();
    exchange.chunk(openai_sse({openai_text_chunk("lo")}));
    exchange.end_chunked();
  });
  auto recorder = run(post(upstream.url("/v1/chat/completions"), "{}"));
  EXPECT_TRUE(recorder->wait().ok());
  EXPECT_EQ(recorder->body(), openai_sse({openai_text_chunk("Hel"), openai_text_chunk("lo")}));
  EXPECT_FALSE(recorder->body_before_response());
  auto pieces = recorder->pieces();
  ASSERT_GE(pieces.size(), 2u);
  EXPECT_THAT(pieces.front().bytes, HasSubstr("Hel"));
  EXPECT_THAT(pieces.front().bytes, Not(HasSubstr("lo\"")));
  EXPECT_LT(pieces.front().at, second_sent.load());
}

TEST_F(HttpEngineTest, CloseDelimitedStreamEndsWellAtClose) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_stream(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(sse_event("one"));
    exchange.sleep(50ms);
    exchange.chunk(sse_event("two"));
    exchange.sleep(50ms);
    exchange.chunk(sse_event("[DONE]"));
  });
  auto recorder = run(get(upstream.url("/stream")));
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_EQ(recorder->body(), "data: one\n\ndata: two\n\ndata: [DONE]\n\n");
}

TEST_F(HttpEngineTest, ChunkedBodyIsDecoded) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    for (int i = 0; i < 20; ++i) exchange.chunk("piece " + std::to_string(i) + ";");
    exchange.end_chunked();
  });
  auto recorder = run(get(upstream.url("/")));
  EXPECT_TRUE(recorder->wait().ok());
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += "piece " + std::to_string(i) + ";";
  EXPECT_EQ(recorder->body(), expected);
}

TEST_F(HttpEngineTest, SequentialTransfersReuseTheConnection) {
  upstream.set_handler([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path == "/chunked") {
      exchange.begin_chunked(200);
      exchange.chunk("x");
      exchange.end_chunked();
    } else {
      exchange.respond(200, {}, "ok");
    }
  });
  EXPECT_TRUE(run(post(upstream.url("/a"), "1"))->wait().ok());
  EXPECT_TRUE(run(get(upstream.url("/chunked")))->wait().ok());
  EXPECT_TRUE(run(post(upstream.url("/b"), "2"))->wait().ok());
  EXPECT_EQ(upstream.request_count(), 3u);
  EXPECT_EQ(upstream.connection_count(), 1u);
}

TEST_F(HttpEngineTest, TenMegabyteBodiesBothWaysArriveIntact) {
  const std::string big = pattern(10 << 20);
  upstream.set_handler([&](const FakeRequest& request, FakeExchange& exchange) {
    exchange.respond(200, {{"Content-Type", "application/octet-stream"}}, request.body.empty() ? big : "got it");
  });
  auto download = run(get(upstream.url("/big")));
  EXPECT_TRUE(download->wait().ok());
  EXPECT_EQ(download->body_size(), big.size());
  EXPECT_TRUE(download->body() == big);

  auto upload = run(post(upstream.url("/upload"), big));
  EXPECT_TRUE(upload->wait().ok()) << upload->wait().message;
  ASSERT_EQ(upstream.request_count(), 2u);
  EXPECT_TRUE(upstream.requests().at(1).body == big);
}

TEST_F(HttpEngineTest, ErrorStatusIsAResponseNotAFailure) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(429, {{"Retry-After", "7"}, {"Content-Type", "application/json"}},
                     R"({"error":{"message":"slow down"}})");
  });
  auto recorder = run(post(upstream.url("/v1/chat/completions"), "{}"));
  EXPECT_TRUE(recorder->wait().ok());
  EXPECT_EQ(recorder->status(), 429);
  EXPECT_EQ(find_header(recorder->headers(), "retry-after"), "7");
  EXPECT_THAT(recorder->body(), HasSubstr("slow down"));
}

// ---- failures ----------------------------------------------------------------

TEST_F(HttpEngineTest, ConnectionRefusedIsFastAndKeepsSecretsOut) {
  HttpRequest request = post("http://127.0.0.1:" + std::to_string(closed_port()) + "/v1/chat?key=sk-secret-query", "{}");
  request.headers.push_back({"Authorization", "Bearer sk-secret-xyz"});
  auto started = Clock::now();
  auto recorder = run(request);
  auto outcome = recorder->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::ConnectRefused) << outcome.message;
  EXPECT_LT(ms_between(started, recorder->completed_at()), 200);
  EXPECT_THAT(outcome.message, Not(HasSubstr("sk-secret")));
  EXPECT_THAT(outcome.message, HasSubstr("refused"));
  EXPECT_EQ(recorder->responses(), 0);
}

TEST_F(HttpEngineTest, UnresolvableHostIsAConnectFailure) {
  HttpRequest request = get("http://llmux-test.invalid/");
  request.timeouts.connect = 5s;
  auto outcome = run(request)->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::Connect) << outcome.message;
}

TEST_F(HttpEngineTest, CutInAChunkedBodyIsCut) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(sse_event("partial"));
    exchange.sleep(50ms);
    exchange.close();
  });
  HttpRequest request = post(upstream.url("/v1/chat/completions"), "{}");
  request.headers.push_back({"Authorization", "Bearer sk-secret-xyz"});
  auto recorder = run(request);
  auto outcome = recorder->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::Cut) << outcome.message;
  EXPECT_THAT(outcome.message, Not(HasSubstr("sk-secret")));
  EXPECT_EQ(recorder->status(), 200);
  EXPECT_EQ(recorder->body(), sse_event("partial"));
}

TEST_F(HttpEngineTest, ShortContentLengthIsCut) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.send_raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    exchange.close();
  });
  auto outcome = run(get(upstream.url("/")))->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::Cut) << outcome.message;
}

TEST_F(HttpEngineTest, ClosedWithoutAResponseIsCut) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) { exchange.close(); });
  auto recorder = run(get(upstream.url("/")));
  EXPECT_EQ(recorder->wait().failure, HttpFailure::Cut) << recorder->wait().message;
  EXPECT_EQ(recorder->responses(), 0);
}

TEST_F(HttpEngineTest, InvalidRequestHeaderIsRefusedWithoutItsValue) {
  HttpRequest request = get(upstream.url("/"));
  request.headers.push_back({"X-Api-Key", "sk-secret-xyz\r\nX-Injected: 1"});
  auto outcome = run(request)->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::Other);
  EXPECT_THAT(outcome.message, Not(HasSubstr("sk-secret")));
  EXPECT_EQ(upstream.request_count(), 0u);
}

TEST_F(HttpEngineTest, InterimResponsesAndTrailersAreNotTheResponse) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.send_raw("HTTP/1.1 100 Continue\r\n\r\n"
                      "HTTP/1.1 200 OK\r\nX-Final: yes\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n");
  });
  auto recorder = run(post(upstream.url("/"), "{}"));
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_EQ(recorder->responses(), 1);
  EXPECT_EQ(recorder->status(), 200);
  EXPECT_EQ(find_header(recorder->headers(), "x-final"), "yes");
  EXPECT_FALSE(find_header(recorder->headers(), "x-trailer"));
  EXPECT_EQ(recorder->body(), "hello");
}

TEST_F(HttpEngineTest, ContentEncodingIsPassedThroughUndecoded) {
  const std::string not_really_gzip = "\x1f\x8b raw bytes";
  upstream.set_handler([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.respond(200, {{"Content-Encoding", "gzip"}}, not_really_gzip);
  });
  HttpRequest request = get(upstream.url("/"));
  request.headers.push_back({"Accept-Encoding", "gzip"});
  auto recorder = run(request);
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_EQ(recorder->body(), not_really_gzip);
  EXPECT_EQ(upstream.requests().at(0).header("accept-encoding"), "gzip");
}

TEST_F(HttpEngineTest, TlsHandshakeThatNeverCompletesIsAConnectFailure) {
  // The fake upstream speaks plain HTTP: it waits for a request head that a
  // TLS ClientHello never completes, so the handshake runs into `connect`.
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) { exchange.close(); });
  HttpRequest request = get("https://127.0.0.1:" + std::to_string(upstream.port()) + "/");
  request.timeouts.connect = 300ms;
  request.headers.push_back({"Authorization", "Bearer sk-secret-xyz"});
  auto started = Clock::now();
  auto recorder = run(request);
  auto outcome = recorder->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::Connect) << outcome.message;
  EXPECT_LT(ms_between(started, recorder->completed_at()), 3000);
  EXPECT_THAT(outcome.message, Not(HasSubstr("sk-secret")));
}

TEST_F(HttpEngineTest, ExplicitProxyIsUsed) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(200, {}, "via proxy"); });
  HttpRequest request = get("http://api.upstream.example/v1/models");
  request.proxy = upstream.url();
  auto recorder = run(request);
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests().at(0).path, "http://api.upstream.example/v1/models");  // absolute form
  EXPECT_EQ(upstream.requests().at(0).header("host"), "api.upstream.example");
}

TEST(HttpEngineProxy, EnvironmentProxyIsUsedByDefault) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(200, {}, "via proxy"); });
  ::setenv("http_proxy", upstream.url().c_str(), 1);  // before the engine's thread exists
  {
    HttpEngine engine;
    auto recorder = std::make_shared<Recorder>();
    engine.start(get("http://api.upstream.example/v1/models"), recorder);
    EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  }
  ::unsetenv("http_proxy");
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_EQ(upstream.requests().at(0).path, "http://api.upstream.example/v1/models");
}

// ---- timeouts ----------------------------------------------------------------

TEST_F(HttpEngineTest, FirstByteTimeout) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    if (exchange.sleep(3s)) exchange.respond(200, {}, "late");
  });
  HttpRequest request = post(upstream.url("/"), "{}");
  request.timeouts.first_byte = 300ms;
  auto started = Clock::now();
  auto recorder = run(request);
  auto outcome = recorder->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::FirstByteTimeout) << outcome.message;
  EXPECT_THAT(outcome.message, HasSubstr("300 ms"));
  auto took = ms_between(started, recorder->completed_at());
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 1500);
  EXPECT_EQ(recorder->responses(), 0);
  // The timed-out connection is closed, not pooled.
  EXPECT_TRUE(upstream.wait_for_client_close(0, 2s));
}

TEST_F(HttpEngineTest, IdleTimeoutAfterTheStreamStalls) {
  std::atomic<Clock::time_point> first_sent{};
  upstream.set_handler([&](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    exchange.chunk(sse_event("first"));
    first_sent = Clock::now();
    exchange.sleep(5s);
  });
  HttpRequest request = get(upstream.url("/"));
  request.timeouts.idle = 300ms;
  auto recorder = run(request);
  auto outcome = recorder->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::IdleTimeout) << outcome.message;
  EXPECT_THAT(outcome.message, HasSubstr("300 ms"));
  auto took = ms_between(first_sent.load(), recorder->completed_at());
  EXPECT_GE(took, 280);
  EXPECT_LT(took, 1500);
  EXPECT_EQ(recorder->body(), sse_event("first"));
}

TEST_F(HttpEngineTest, AFlowingStreamOutlivesManyIdlePeriods) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    for (int i = 0; i < 12; ++i) {
      exchange.chunk("tick " + std::to_string(i) + "\n");
      exchange.sleep(100ms);
    }
    exchange.end_chunked();
  });
  HttpRequest request = get(upstream.url("/"));
  request.timeouts.idle = 250ms;
  request.timeouts.first_byte = 250ms;
  auto started = Clock::now();
  auto recorder = run(request);
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_GE(ms_between(started, recorder->completed_at()), 1100);  // > idle x 4
  EXPECT_THAT(recorder->body(), HasSubstr("tick 11\n"));
}

TEST_F(HttpEngineTest, TotalTimeout) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    while (exchange.chunk("tick\n") && exchange.sleep(50ms)) {
    }
  });
  HttpRequest request = get(upstream.url("/"));
  request.timeouts.total = 500ms;
  auto started = Clock::now();
  auto recorder = run(request);
  auto outcome = recorder->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::TotalTimeout) << outcome.message;
  EXPECT_THAT(outcome.message, HasSubstr("500 ms"));
  auto took = ms_between(started, recorder->completed_at());
  EXPECT_GE(took, 490);
  EXPECT_LT(took, 2000);
  EXPECT_TRUE(upstream.wait_for_client_close(0, 2s));
}

// ---- cancel ------------------------------------------------------------------

TEST_F(HttpEngineTest, CancelMidStreamClosesTheUpstreamConnection) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    while (exchange.chunk(sse_event("tick")) && exchange.sleep(50ms)) {
    }
  });
  auto recorder = std::make_shared<Recorder>();
  auto transfer = engine.start(get(upstream.url("/")), recorder);
  ASSERT_TRUE(recorder->wait_for_body("tick"));
  auto cancelled_at = Clock::now();
  transfer->cancel();
  auto outcome = recorder->wait();
  EXPECT_EQ(outcome.failure, HttpFailure::Cancelled);
  auto closed = upstream.wait_for_client_close(0, 2s);
  ASSERT_TRUE(closed);
  EXPECT_LT(ms_between(cancelled_at, *closed), 1000);
  // Later calls are no-ops; on_complete came once.
  transfer->cancel();
  transfer->pause();
  transfer->resume();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(recorder->completions(), 1);
  EXPECT_TRUE(wait_until([&] { return engine.active_transfers() == 0; }));
}

TEST_F(HttpEngineTest, CancelBeforeTheResponse) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) { exchange.stall_until_client_closes(5s); });
  auto recorder = std::make_shared<Recorder>();
  auto transfer = engine.start(get(upstream.url("/")), recorder);
  ASSERT_TRUE(upstream.wait_for_requests(1, kWait));
  transfer->cancel();
  EXPECT_EQ(recorder->wait().failure, HttpFailure::Cancelled);
  EXPECT_TRUE(upstream.wait_for_client_close(0, 1s));
  EXPECT_EQ(recorder->responses(), 0);
}

TEST_F(HttpEngineTest, HandlerReturningFalseCancels) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    while (exchange.chunk("tick\n") && exchange.sleep(50ms)) {
    }
  });
  auto recorder = std::make_shared<Recorder>();
  recorder->on_body_hook = [](std::string_view) { return false; };
  engine.start(get(upstream.url("/")), recorder);
  EXPECT_EQ(recorder->wait().failure, HttpFailure::Cancelled);
  EXPECT_TRUE(upstream.wait_for_client_close(0, 1s));
  EXPECT_EQ(recorder->pieces().size(), 1u);
}

// ---- pause -------------------------------------------------------------------

// Streams `total` bytes in 16 KB chunks, as fast as the client takes them.
FakeHandler firehose(const std::string& data, std::atomic<std::size_t>* sent = nullptr) {
  return [&data, sent](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    for (std::size_t at = 0; at < data.size(); at += 16384) {
      if (!exchange.chunk(std::string_view(data).substr(at, 16384))) return;
      if (sent) *sent = at + std::min<std::size_t>(16384, data.size() - at);
    }
    exchange.end_chunked();
  };
}

TEST_F(HttpEngineTest, PauseFromTheHandlerStopsDeliveryUntilResume) {
  const std::string data = pattern(1 << 20);
  upstream.set_handler(firehose(data));
  auto recorder = std::make_shared<Recorder>();
  std::shared_ptr<HttpTransfer> transfer;
  std::mutex transfer_mutex;
  std::atomic<bool> paused{false};
  recorder->on_body_hook = [&](std::string_view) {
    if (!paused.exchange(true)) {
      std::lock_guard lock(transfer_mutex);
      transfer->pause();
    }
    return true;
  };
  {
    std::lock_guard lock(transfer_mutex);
    transfer = engine.start(get(upstream.url("/")), recorder);
  }
  ASSERT_TRUE(wait_until([&] { return recorder->pieces().size() >= 1; }));
  std::size_t pieces_at_pause = recorder->pieces().size();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(recorder->pieces().size(), pieces_at_pause);
  EXPECT_EQ(pieces_at_pause, 1u);
  EXPECT_EQ(recorder->completions(), 0);
  transfer->resume();
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_EQ(recorder->body_size(), data.size());
  EXPECT_TRUE(recorder->body() == data);
}

TEST_F(HttpEngineTest, PauseFromAnotherThread) {
  const std::string data = pattern(16 << 20);
  std::atomic<std::size_t> sent{0};
  upstream.set_handler(firehose(data, &sent));
  auto recorder = std::make_shared<Recorder>();
  std::atomic<int> slow{0};
  recorder->on_body_hook = [&](std::string_view) {
    if (slow < 20) {  // a slow consumer at first, so pause lands mid-body
      ++slow;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  };
  auto transfer = engine.start(get(upstream.url("/")), recorder);
  ASSERT_TRUE(wait_until([&] { return recorder->pieces().size() >= 3; }));
  transfer->pause();
  std::this_thread::sleep_for(50ms);  // a delivery already under way may finish
  auto size_at_pause = recorder->body_size();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(recorder->body_size(), size_at_pause);
  EXPECT_LT(size_at_pause, data.size());
  EXPECT_EQ(recorder->completions(), 0);
  // TCP flow control holds the sender back (loopback buffers hold a few MB at most).
  EXPECT_LT(sent.load(), data.size()) << "delivered " << size_at_pause;
  transfer->resume();
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_TRUE(recorder->body() == data);
}

TEST_F(HttpEngineTest, IdleTimeoutDoesNotRunWhilePaused) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) {
    exchange.begin_chunked(200);
    exchange.chunk("first\n");
    exchange.sleep(100ms);
    exchange.chunk("second\n");
    exchange.end_chunked();
  });
  HttpRequest request = get(upstream.url("/"));
  request.timeouts.idle = 200ms;
  auto recorder = std::make_shared<Recorder>();
  std::shared_ptr<HttpTransfer> transfer;
  std::mutex transfer_mutex;
  recorder->on_body_hook = [&](std::string_view bytes) {
    if (bytes.find("first") != std::string_view::npos) {
      std::lock_guard lock(transfer_mutex);
      transfer->pause();
    }
    return true;
  };
  {
    std::lock_guard lock(transfer_mutex);
    transfer = engine.start(request, recorder);
  }
  ASSERT_TRUE(recorder->wait_for_body("first"));
  std::this_thread::sleep_for(700ms);  // 3.5 idle periods
  EXPECT_EQ(recorder->completions(), 0);
  transfer->resume();
  EXPECT_TRUE(recorder->wait().ok()) << recorder->wait().message;
  EXPECT_EQ(recorder->body(), "first\nsecond\n");
}

// Regression (flaky under load): the upstream answered before the test thread
// got to pause(), so the body arrived "while paused". It now answers only once
// the pause is in place.
TEST_F(HttpEngineTest, PausedBeforeTheResponseStillGetsItAfterResume) {
  auto paused = std::make_shared<std::promise<void>>();
  auto paused_future = paused->get_future().share();
  upstream.set_handler([paused_future](const FakeRequest&, FakeExchange& exchange) {
    paused_future.wait_for(std::chrono::seconds(10));
    exchange.respond(200, {}, "hello");
  });
  auto recorder = std::make_shared<Recorder>();
  auto transfer = engine.start(get(upstream.url("/")), recorder);
  transfer->pause();
  paused->set_value();
  ASSERT_TRUE(upstream.wait_for_requests(1, kWait));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(recorder->body_size(), 0u);
  transfer->resume();
  EXPECT_TRUE(recorder->wait().ok());
  EXPECT_EQ(recorder->body(), "hello");
}

// ---- concurrency, faults, shutdown -------------------------------------------

TEST_F(HttpEngineTest, HundredConcurrentTransfers) {
  upstream.set_handler([](const FakeRequest& request, FakeExchange& exchange) {
    exchange.begin_chunked(200, {{"Content-Type", "text/event-stream"}});
    exchange.chunk(sse_event(request.path));
    exchange.sleep(50ms);
    exchange.chunk(sse_event("[DONE]"));
    exchange.end_chunked();
  });
  std::vector<std::shared_ptr<Recorder>> recorders;
  for (int i = 0; i < 100; ++i) {
    recorders.push_back(std::make_shared<Recorder>());
    engine.start(get(upstream.url("/n/" + std::to_string(i))), recorders.back());
  }
  for (int i = 0; i < 100; ++i) {
    auto outcome = recorders[i]->wait();
    EXPECT_TRUE(outcome.ok()) << i << ": " << outcome.message;
    EXPECT_EQ(recorders[i]->body(), sse_event("/n/" + std::to_string(i)) + sse_event("[DONE]"));
  }
  EXPECT_EQ(upstream.request_count(), 100u);
  EXPECT_TRUE(wait_until([&] { return engine.active_transfers() == 0; }));
}

TEST_F(HttpEngineTest, ActiveTransfersCountsUntilCompletion) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) { exchange.stall_until_client_closes(5s); });
  std::vector<std::shared_ptr<HttpTransfer>> transfers;
  std::vector<std::shared_ptr<Recorder>> recorders;
  for (int i = 0; i < 3; ++i) {
    recorders.push_back(std::make_shared<Recorder>());
    transfers.push_back(engine.start(get(upstream.url("/")), recorders.back()));
  }
  EXPECT_EQ(engine.active_transfers(), 3u);
  transfers[1]->cancel();
  recorders[1]->wait();
  EXPECT_EQ(engine.active_transfers(), 2u);
  transfers[0]->cancel();
  transfers[2]->cancel();
  recorders[0]->wait();
  recorders[2]->wait();
  EXPECT_EQ(engine.active_transfers(), 0u);
}

TEST_F(HttpEngineTest, ThrowingHandlersFailTheirTransferOnly) {
  upstream.set_handler([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(200, {}, "body"); });
  auto body_thrower = std::make_shared<Recorder>();
  body_thrower->on_body_hook = [](std::string_view) -> bool { throw std::runtime_error("boom in on_body"); };
  auto outcome = run_with(body_thrower);
  EXPECT_EQ(outcome.failure, HttpFailure::Other);
  EXPECT_THAT(outcome.message, HasSubstr("boom in on_body"));

  auto head_thrower = std::make_shared<Recorder>();
  head_thrower->on_response_hook = [](int) { throw std::runtime_error("boom in on_response"); };
  EXPECT_EQ(run_with(head_thrower).failure, HttpFailure::Other);

  // The engine carries on.
  auto fine = run(get(upstream.url("/")));
  EXPECT_TRUE(fine->wait().ok());
  EXPECT_EQ(fine->body(), "body");
}

TEST(HttpEngineShutdown, TransfersInFlightAreCancelled) {
  FakeUpstream upstream([](const FakeRequest& request, FakeExchange& exchange) {
    if (request.path == "/stream") {
      exchange.begin_chunked(200);
      while (exchange.chunk("tick\n") && exchange.sleep(50ms)) {
      }
    } else {
      exchange.stall_until_client_closes(10s);
    }
  });
  std::vector<std::shared_ptr<Recorder>> recorders;
  std::vector<std::shared_ptr<HttpTransfer>> transfers;
  {
    HttpEngine engine;
    for (int i = 0; i < 6; ++i) {
      recorders.push_back(std::make_shared<Recorder>());
      transfers.push_back(engine.start(get(upstream.url(i % 2 ? "/stream" : "/stall")), recorders.back()));
    }
    ASSERT_TRUE(upstream.wait_for_requests(6, kWait));
    ASSERT_TRUE(recorders[1]->wait_for_body("tick"));
  }
  for (auto& recorder : recorders) {
    EXPECT_EQ(recorder->completions(), 1);
    EXPECT_EQ(recorder->wait(0ms).failure, HttpFailure::Cancelled);
  }
  // Handles outlive the engine harmlessly.
  for (auto& transfer : transfers) {
    transfer->pause();
    transfer->resume();
    transfer->cancel();
  }
  for (std::size_t i = 0; i < 6; ++i) EXPECT_TRUE(upstream.wait_for_client_close(i, 2s)) << i;
}

TEST(HttpEngineShutdown, HandlersAreReleasedAfterCompletion) {
  FakeUpstream upstream([](const FakeRequest&, FakeExchange& exchange) { exchange.respond(200, {}, "x"); });
  HttpEngine engine;
  auto recorder = std::make_shared<Recorder>();
  std::weak_ptr<Recorder> weak = recorder;
  engine.start(get(upstream.url("/")), recorder);
  EXPECT_TRUE(recorder->wait().ok());
  recorder.reset();
  EXPECT_TRUE(wait_until([&] { return weak.expired(); }));
}

}  // namespace
}  // namespace llmux::test
