// The host's retry and cooldown policy with a real provider plugin (openai)
// against a fake upstream: what the upstream sees and when.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "support/fake_upstream.h"
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

const char* kCompletion =
    R"({"id":"chatcmpl-up","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":"upstream answer"},"logprobs":null,"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})";

// Fails the first `failures` requests with `status` (and `headers`), then answers.
class FlakyUpstream {
 public:
  FlakyUpstream(int failures, int status, std::vector<std::pair<std::string, std::string>> headers = {}) {
    upstream_.set_handler([this, failures, status, headers](const FakeRequest& request, FakeExchange& exchange) {
      if (request.path != "/v1/chat/completions") {  // e.g. the plugin's background GET /models
        exchange.respond(404);
        return;
      }
      {
        std::lock_guard lock(mutex_);
        times_.push_back(Clock::now());
      }
      if (++calls_ <= failures) {
        auto h = headers;
        h.emplace_back("Content-Type", "application/json");
        exchange.respond(status, h, R"({"error":{"message":"upstream busy","type":"server_error"}})");
        return;
      }
      exchange.respond(200, {{"Content-Type", "application/json"}}, kCompletion);
    });
  }
  std::string url() const { return upstream_.url("/v1"); }
  std::vector<Clock::time_point> times() const {
    std::lock_guard lock(mutex_);
    return times_;
  }
  int calls() const { return calls_; }

 private:
  FakeUpstream upstream_;
  std::atomic<int> calls_{0};
  mutable std::mutex mutex_;
  std::vector<Clock::time_point> times_;
};

std::string config(const std::string& base_url, const std::string& retry, const std::string& cooldown = "{}") {
  return "providers:\n"
         "  up:\n"
         "    plugin: openai\n"
         "    retry: " + retry + "\n"
         "    cooldown: " + cooldown + "\n"
         "    options: {base_url: \"" + base_url + "\", api_key: sk-test-retry-0001}\n"
         "  mock: {plugin: mock, options: {reply: answered by mock}}\n"
         "routes:\n"
         "  gpt-4o: [up, mock]\n";
}

long ms_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

TEST(OpenAIRetry, ServiceUnavailableThenSuccessIsRetriedWithBackoff) {
  FlakyUpstream upstream(1, 503);
  TestGateway gw(config(upstream.url(), "{attempts: 2, backoff: 120ms}"));
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "up");
  EXPECT_THAT(r.body, HasSubstr("upstream answer"));
  auto times = upstream.times();
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(ms_between(times[0], times[1]), 60);  // jittered within [backoff/2, backoff]
}

TEST(OpenAIRetry, RetryAfterFromTheUpstreamSetsTheSpacing) {
  FlakyUpstream upstream(2, 429, {{"Retry-After", "1"}});
  TestGateway gw(config(upstream.url(), "{attempts: 2, backoff: 10ms}"));
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"), with_timeout(std::chrono::seconds(20)));
  ASSERT_EQ(r.status, 200) << r.body;
  auto times = upstream.times();
  ASSERT_EQ(times.size(), 3u);
  EXPECT_GE(ms_between(times[0], times[1]), 950);
  EXPECT_GE(ms_between(times[1], times[2]), 950);
}

TEST(OpenAIRetry, RetriesSpentThenTheChainMovesOn) {
  FlakyUpstream upstream(10, 500);
  TestGateway gw(config(upstream.url(), "{attempts: 2, backoff: 20ms}", "{after_failures: 0}"));
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  EXPECT_EQ(upstream.calls(), 3);  // the first try and two retries
}

TEST(OpenAIRetry, RefusedConnectionIsNotRetriedAndCoolsTheProviderDown) {
  std::string dead;
  {
    FakeUpstream closed;  // take a free port, then free it: nothing listens there
    dead = closed.url("/v1");
  }
  TestGateway gw(config(dead, "{attempts: 3, backoff: 500ms}", "{after_failures: 3, period: 30s}"));
  HttpClient client;
  auto start = Clock::now();
  auto first = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"));
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-llmux-provider"), "mock");
  EXPECT_LT(ms_between(start, Clock::now()), 400) << "a refused connection is not worth a backoff wait";
  auto health = gw.gateway().health().snapshot();
  ASSERT_EQ(health.size(), 1u);
  EXPECT_THAT(health[0].state, HasSubstr("cooling down"));
  auto second = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"));
  EXPECT_EQ(second.header("x-llmux-provider"), "mock");
}

}  // namespace
}  // namespace llmux::test
