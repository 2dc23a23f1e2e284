// Retries before commit (backoff, Retry-After, which errors), and the cooldown
// circuit breaker with its probe request, through a live server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// Each test gets its own plugins folder: the mock and the fixture plugin.
class Retry : public ::testing::Test {
 protected:
  PluginDir plugins_{plugin_dir() / "llmux-mock.so", fixture_plugin_dir() / "llmux-fixture.so"};
};
using Cooldown = Retry;

long elapsed_ms(Clock::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

struct Answer {
  HttpResponse response;
  long ms;
};

Answer ask(TestGateway& gw, const std::string& model) {
  HttpClient client;
  auto start = Clock::now();
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body(model, "hi"), with_timeout(std::chrono::seconds(20)));
  return {r, elapsed_ms(start)};
}

TEST_F(Retry, TransientFailuresAreRetriedOnTheSameProviderWithBackoff) {
  TestGateway gw(R"(
providers:
  flaky:
    plugin: fixture
    retry: {attempts: 2, backoff: 200ms}
    options: {behaviour: flaky, fail_times: 2, fail_status: 503}
  good: {plugin: mock, options: {reply: answered by good}}
routes:
  m: [flaky, good]
)",
                 {}, plugins_.path());
  auto a = ask(gw, "m");
  ASSERT_EQ(a.response.status, 200) << a.response.body;
  EXPECT_EQ(a.response.header("x-llmux-provider"), "flaky");
  EXPECT_THAT(a.response.body, HasSubstr("fixture ok (call 3)"));
  // Jittered waits in [100, 200] then [200, 400] ms.
  EXPECT_GE(a.ms, 300);
  EXPECT_LT(a.ms, 2000);
}

TEST_F(Retry, RetryAfterIsHonoured) {
  TestGateway gw(R"(
providers:
  flaky:
    plugin: fixture
    retry: {attempts: 1, backoff: 10ms}
    options: {behaviour: flaky, fail_times: 1, fail_status: 429, retry_after_ms: 450}
routes:
  m: [flaky]
)",
                 {}, plugins_.path());
  auto a = ask(gw, "m");
  ASSERT_EQ(a.response.status, 200) << a.response.body;
  EXPECT_THAT(a.response.body, HasSubstr("call 2"));
  EXPECT_GE(a.ms, 450);
}

TEST_F(Retry, RetryAfterLongerThanTheCapFallsBackAtOnce) {
  TestGateway gw(R"(
providers:
  flaky:
    plugin: fixture
    retry: {attempts: 2, max_retry_after: 1s}
    options: {behaviour: flaky, fail_times: 1, fail_status: 429, retry_after_ms: 60000}
  good: {plugin: mock, options: {reply: answered by good}}
routes:
  m: [flaky, good]
)",
                 {}, plugins_.path());
  auto a = ask(gw, "m");
  ASSERT_EQ(a.response.status, 200);
  EXPECT_EQ(a.response.header("x-llmux-provider"), "good");
  EXPECT_LT(a.ms, 500);
}

TEST_F(Retry, RequestErrorsAreNotRetried) {
  TestGateway gw(R"(
providers:
  flaky:
    plugin: fixture
    retry: {attempts: 3, backoff: 300ms}
    options: {behaviour: flaky, fail_times: 1, fail_status: 400}
routes:
  m: [flaky]
)",
                 {}, plugins_.path());
  auto a = ask(gw, "m");
  EXPECT_EQ(a.response.status, 400);
  EXPECT_THAT(a.response.body, HasSubstr("fixture failure 1"));
  EXPECT_LT(a.ms, 250);
  EXPECT_THAT(ask(gw, "m").response.body, HasSubstr("call 2"));  // the provider was called once before
}

TEST_F(Cooldown, AFailingProviderIsSkippedThenProbedBackIn) {
  TestGateway gw(R"(
providers:
  flaky:
    plugin: fixture
    retry: {attempts: 0}
    cooldown: {after_failures: 2, period: 400ms}
    options: {behaviour: flaky, fail_times: 2, fail_status: 503}
  good: {plugin: mock, options: {reply: answered by good}}
routes:
  m: [flaky, good]
)",
                 {}, plugins_.path());
  EXPECT_EQ(ask(gw, "m").response.header("x-llmux-provider"), "good");  // flaky call 1 failed
  EXPECT_EQ(ask(gw, "m").response.header("x-llmux-provider"), "good");  // call 2 failed: cooldown
  // Cooling down: flaky is not even asked (its call 3 would have succeeded).
  auto skipped = ask(gw, "m");
  EXPECT_EQ(skipped.response.header("x-llmux-provider"), "good");
  auto health = gw.gateway().health().snapshot();
  ASSERT_EQ(health.size(), 1u);
  EXPECT_THAT(health[0].state, HasSubstr("cooling down"));
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  // The probe: flaky's call 3 succeeds and it is back.
  auto probe = ask(gw, "m");
  EXPECT_EQ(probe.response.header("x-llmux-provider"), "flaky");
  EXPECT_THAT(probe.response.body, HasSubstr("call 3"));
  EXPECT_TRUE(gw.gateway().health().snapshot().empty());
}

TEST_F(Cooldown, CooldownStateIsShownOnTheStatusEndpoint) {
  TestGateway gw(R"(
providers:
  flaky:
    plugin: fixture
    retry: {attempts: 0}
    cooldown: {after_failures: 1, period: 30s}
    options: {behaviour: flaky, fail_times: 5}
  good: {plugin: mock}
routes:
  m: [flaky, good]
)",
                 {}, plugins_.path());
  ask(gw, "m");
  HttpClient client;
  auto status = client.get(gw.url("/status"));
  ASSERT_EQ(status.status, 200);
  EXPECT_THAT(status.body, HasSubstr(R"("name":"flaky")"));
  EXPECT_THAT(status.body, HasSubstr("cooling down"));
  EXPECT_THAT(status.body, HasSubstr("fixture failure 1"));
}

}  // namespace
}  // namespace llmux::test
