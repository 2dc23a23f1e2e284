// The commit rule as a provider sees it (ChatCall::committed()), through a
// live server: the host's answer writer decides it, the call passes it on. A
// stream commits with its first content event (a held Role does not), a whole
// answer with its end; a step that failed before commit leaves the next one
// uncommitted; a call that ended answers true.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "llmux/json.h"
#include "support/http_client.h"
#include "support/test_gateway.h"

namespace llmux::test {
namespace {

using ::testing::HasSubstr;

// The fixture's commit_probe answers with what committed() said at each step.
const char* kConfig = R"(
providers:
  probe:
    plugin: fixture
    options: {behaviour: commit_probe}
  dead:
    plugin: mock
    retry: {attempts: 0}
    cooldown: {after_failures: 0}
    options: {fail_status: 503}
routes:
  probe: [probe]
  dead-then-probe: [dead, probe]
)";

class CommitRule : public ::testing::Test {
 protected:
  CommitRule() : gw_(kConfig, host::ServerOptions{}, plugins_.path()) {}

  HttpResponse chat(const std::string& model, bool stream) {
    return client_.post(gw_.url("/v1/chat/completions"), chat_body(model, "hello", stream));
  }
  // The probe's report: the text of the answer, streamed or whole.
  static std::string report(const HttpResponse& response, bool stream) {
    if (stream) return sse_content(response.body);
    rapidjson::Document doc;
    doc.Parse(response.body.c_str(), response.body.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("choices")) return "not an answer: " + response.body;
    return doc["choices"][0]["message"]["content"].GetString();
  }

  PluginDir plugins_{plugin_dir() / "llmux-mock.so", fixture_plugin_dir() / "llmux-fixture.so"};
  TestGateway gw_;
  HttpClient client_;
};

TEST_F(CommitRule, AStreamCommitsWithItsFirstContentEvent) {
  auto response = chat("probe", true);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(report(response, true), HasSubstr("before=false after_role=false after_content=true"));
}

TEST_F(CommitRule, AnAnthropicStreamCommitsWithItsFirstContentEventToo) {
  RequestOptions options;
  options.headers = {"anthropic-version: 2023-06-01", "content-type: application/json"};
  auto response = client_.post(
      gw_.url("/v1/messages"),
      R"({"model":"probe","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]})", options);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.body, HasSubstr("before=false after_role=false after_content=true"));
}

TEST_F(CommitRule, AWholeAnswerCommitsWithItsEndAndAnEndedCallAnswersTrue) {
  auto first = chat("probe", false);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_THAT(report(first, false),
              HasSubstr("before=false after_role=false after_content=false previous_after_end=none"));
  // The probe tells, in the next answer, what the first call said after its Finish.
  auto second = chat("probe", false);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_THAT(report(second, false), HasSubstr("previous_after_end=true"));
}

TEST_F(CommitRule, AStepThatFailedBeforeCommitLeavesTheNextOneUncommitted) {
  for (const bool stream : {true, false}) {
    auto response = chat("dead-then-probe", stream);
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("x-llmux-provider"), "probe");
    EXPECT_THAT(report(response, stream), HasSubstr("before=false after_role=false")) << "stream: " << stream;
  }
}

}  // namespace
}  // namespace llmux::test
