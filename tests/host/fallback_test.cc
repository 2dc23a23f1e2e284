// Chains and fallback: the next step answers while nothing reached the client;
// after the first byte an error ends the answer in-band.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "llmux/json.h"
#include "support/http_client.h"
#include "support/json_doc.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

const char* kChains = R"(
providers:
  dead:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      fail_status: 503
      fail_message: dead provider
  limited:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options:
      fail_status: 429
  picky:
    plugin: mock
    options:
      fail_status: 400
      fail_message: picky says no
  absent:
    plugin: no-such-plugin
  secretive:
    plugin: fixture
    options:
      api_key: ${LLMUX_TEST_UNSET_SECRET}
  dropper:
    plugin: fixture
    retry: {attempts: 0}
    options:
      behaviour: drop
  thrower:
    plugin: fixture
    options:
      behaviour: throw
  good:
    plugin: mock
    retry: {attempts: 0}
    options:
      reply: answered by good
routes:
  dead-then-good: [dead, good]
  limited-then-good: [limited, good]
  picky-then-good: [picky, good]
  absent-then-good: [absent, good]
  secretive-then-good: [secretive, good]
  all-dead: [dead, limited]
  only-absent: [absent]
  dropper: [dropper]
  thrower-then-good: [thrower, good]
  renamed:
    - provider: good
      model: upstream-name
)";

class Fallback : public ::testing::Test {
 protected:
  Fallback() {
    ::unsetenv("LLMUX_TEST_UNSET_SECRET");
    gw_ = std::make_unique<TestGateway>(kChains, host::ServerOptions{}, plugins_.path());
  }
  PluginDir plugins_{plugin_dir() / "llmux-mock.so", fixture_plugin_dir() / "llmux-fixture.so"};
  HttpResponse post(const std::string& model, bool stream = false, const std::string& text = "hello") {
    return client_.post(gw_->url("/v1/chat/completions"), chat_body(model, text, stream));
  }
  std::unique_ptr<TestGateway> gw_;
  HttpClient client_;
};

TEST_F(Fallback, DeadFirstProviderFallsBackToTheNext) {
  auto r = post("dead-then-good");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-llmux-provider"), "good");
  EXPECT_THAT(r.body, HasSubstr("answered by good"));
  auto s = post("dead-then-good", true);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.header("x-llmux-provider"), "good");
  EXPECT_EQ(sse_content(s.body), "answered by good");
}

TEST_F(Fallback, RateLimitedFallsBack) {
  auto r = post("limited-then-good");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-llmux-provider"), "good");
}

TEST_F(Fallback, RequestErrorsDoNotFallBack) {
  auto r = post("picky-then-good");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("picky says no"));
}

TEST_F(Fallback, MissingPluginAndMissingSecretAreSkipped) {
  auto a = post("absent-then-good");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.header("x-llmux-provider"), "good");
  auto s = post("secretive-then-good");
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.header("x-llmux-provider"), "good");
  auto table = gw_->gateway().table();
  EXPECT_THAT(table->find_slot("secretive")->state, HasSubstr("not configured"));
  EXPECT_THAT(table->find_slot("secretive")->state, HasSubstr("LLMUX_TEST_UNSET_SECRET"));
  EXPECT_THAT(table->find_slot("absent")->state, HasSubstr("no-such-plugin"));
}

TEST_F(Fallback, WhenAllFailTheClientGetsTheLastError) {
  auto r = post("all-dead");
  EXPECT_EQ(r.status, 429);
  EXPECT_STREQ(parse(r.body)["error"]["type"].GetString(), "rate_limit_error");
  auto s = post("all-dead", true);
  EXPECT_EQ(s.status, 429);  // nothing was streamed: a real status, not a 200 stream
  auto u = post("only-absent");
  EXPECT_EQ(u.status, 503);
  EXPECT_THAT(u.body, HasSubstr("no-such-plugin"));
}

TEST_F(Fallback, AProviderThatDropsTheCallStillGetsAnAnswer) {
  auto r = post("dropper");
  EXPECT_EQ(r.status, 502);
  EXPECT_THAT(r.body, HasSubstr("without an answer"));
}

TEST_F(Fallback, AProviderThatThrowsFallsBack) {
  auto r = post("thrower-then-good");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-llmux-provider"), "good");
}

TEST_F(Fallback, CutStreamEndsWithErrorEventAndDoneNotSilence) {
  auto r = client_.post(gw_->url("/v1/chat/completions"),
                        chat_body("dead-then-good", "[[mock:cut=2]] tell me a long story", true));
  // `dead` fails first (fallback to `good`), then `good` is cut after 2 chunks:
  // after the first byte there is no fallback; the stream ends well-formed.
  ASSERT_EQ(r.status, 200);
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  auto last = parse(events[events.size() - 2]);
  ASSERT_TRUE(last.HasMember("error")) << events[events.size() - 2];
  EXPECT_THAT(last["error"]["message"].GetString(), HasSubstr("cut"));
  for (std::size_t i = 0; i + 2 < events.size(); ++i) {
    auto chunk = parse(events[i]);
    EXPECT_TRUE(chunk["choices"][0]["finish_reason"].IsNull()) << "no silent finish on a cut stream";
  }
}

TEST_F(Fallback, CutNonStreamAnswerFallsBackSinceNothingWasSent) {
  // Nothing of a non-streamed answer reaches the client before it is whole.
  auto r = post("dead-then-good", false, "[[mock:cut=1]] x");
  // Both steps see the marker: `dead` fails with 503, `good` is cut -> 502.
  EXPECT_EQ(r.status, 502);
  EXPECT_THAT(r.body, HasSubstr("cut"));
}

TEST_F(Fallback, StepCanRenameTheModelSentUpstream) {
  auto r = post("renamed");
  ASSERT_EQ(r.status, 200);
  // The client sees the name it asked for.
  EXPECT_STREQ(parse(r.body)["model"].GetString(), "renamed");
  auto resolution = gw_->gateway().table()->resolve("renamed");
  ASSERT_TRUE(resolution);
  EXPECT_EQ(resolution->chain[0].upstream_model, "upstream-name");
}

}  // namespace
}  // namespace llmux::test
