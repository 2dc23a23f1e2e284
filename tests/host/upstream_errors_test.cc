// What the client sees of upstream trouble, through a live server: a 429 that
// llmux does not retry keeps its Retry-After (both API shapes), and a
// provider that reports itself unauthorized is skipped, visible in /status
// and the metrics rather than silently gone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

class UpstreamErrors : public ::testing::Test {
 protected:
  PluginDir plugins_{plugin_dir() / "llmux-mock.so", fixture_plugin_dir() / "llmux-fixture.so"};
};

const char* kLimited = R"(
providers:
  limited:
    plugin: fixture
    options: {behaviour: flaky, fail_times: 1000, fail_status: 429, retry_after_ms: 7300}
    retry: {attempts: 2, max_retry_after: 1s}
    cooldown: {after_failures: 0}
routes:
  "gpt-*": [limited]
  "claude-*": [limited]
)";

// Regression (issue defect 4): a 429 from the upstream that llmux does not
// retry reached the client without its Retry-After.
TEST_F(UpstreamErrors, RateLimitKeepsRetryAfterInBothApiShapes) {
  TestGateway gw(kLimited, {}, plugins_.path());
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.header("retry-after"), "8");  // seconds, rounded up
  EXPECT_EQ(r.header("retry-after-ms"), "7300");
  EXPECT_THAT(r.body, HasSubstr(R"("error":{)"));
  r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi", true));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.header("retry-after"), "8");
  RequestOptions anthropic;
  anthropic.headers = {"anthropic-version: 2023-06-01"};
  r = client.post(gw.url("/v1/messages"),
                  R"({"model":"claude-x","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"yo"}]})",
                  anthropic);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.header("retry-after-ms"), "7300");
  EXPECT_THAT(r.body, HasSubstr(R"("type":"rate_limit_error")"));
}

// Regression (issue defect 5): a provider whose keys all got 401 says so; the
// host skips it (falls back) and shows it as unauthorized.
TEST_F(UpstreamErrors, UnauthorizedProviderIsSkippedAndVisible) {
  TestGateway gw(R"(
providers:
  locked: {plugin: fixture, options: {behaviour: unauthorized}}
  mock: {plugin: mock}
routes:
  "gpt-*": [locked, mock]
)",
                 {}, plugins_.path());
  HttpClient client;
  auto r = client.post(gw.url("/v1/chat/completions"), chat_body("gpt-4o", "hi"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "mock");
  auto status = client.get(gw.url("/status"));
  EXPECT_THAT(status.body, HasSubstr(R"("name":"locked")"));
  EXPECT_THAT(status.body, HasSubstr(R"("condition":"unauthorized","condition_reason":"all 1 key(s) got HTTP 401)"));
  auto metrics = client.get(gw.url("/metrics"));
  EXPECT_THAT(metrics.body, HasSubstr(R"(llmux_provider_state{provider="locked",state="unauthorized"} 1)"));
  EXPECT_THAT(metrics.body, HasSubstr(R"(llmux_provider_state{provider="locked",state="up"} 0)"));
  EXPECT_THAT(metrics.body, HasSubstr(R"(llmux_upstream_attempts_total{outcome="skipped",provider="locked"} 1)"));
}

}  // namespace
}  // namespace llmux::test
