// The mock's answers to legacy completions (/v1/completions): a deterministic
// text for the cursor from the prompt and suffix, cut at max_tokens, and
// streamed in several deltas like any mock answer.
#include "completion.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "llmux/codec/completions.h"
#include "mock_provider.h"

namespace llmux::mock {
namespace {

std::string complete(std::string prompt, std::string suffix = {}) {
  return completion_text(TextCompletion{std::move(prompt), std::move(suffix)});
}

ChatRequest completion_request(const std::string& body) {
  ChatRequest request;
  auto error = completions::parse_request(body, request);
  EXPECT_FALSE(error) << (error ? error->message : "");
  return request;
}

struct Played {
  std::string text;
  std::vector<std::string> deltas;
  std::optional<FinishReason> finish;
  std::optional<Usage> usage;
};

Played play(const MockOptions& options, const ChatRequest& request) {
  Played out;
  for (const auto& step : make_plan(options, request).steps) {
    for (const Event& e : step.events) {
      if (e.kind == Event::Kind::TextDelta) {
        out.text += e.text;
        out.deltas.push_back(e.text);
      }
      if (e.kind == Event::Kind::Usage) out.usage = e.usage;
      if (e.kind == Event::Kind::Finish) out.finish = e.finish;
      EXPECT_NE(e.kind, Event::Kind::ToolCallDelta);
    }
  }
  return out;
}

TEST(MockCompletion, AnArgumentBeforeTheClosingBracketOfTheSuffix) {
  EXPECT_EQ(complete("print(add(1, ", "))\n"), "2");
  EXPECT_EQ(complete("print(add(1,", "))"), " 2");
  EXPECT_EQ(complete("values = [41, ", "]"), "42");
  EXPECT_EQ(complete("call(", ")"), "value");
  EXPECT_EQ(complete("call(x1, ", ")"), "value");
}

TEST(MockCompletion, TheBodyOfABlockFromItsOpenersParameters) {
  EXPECT_EQ(complete("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n"), "return a + b");
  EXPECT_EQ(complete("def add(self, a: int, b: int = 2) -> int:\n"), "    return a + b");
  EXPECT_EQ(complete("function add(a, b) {\n  ", "\n}\n"), "return a + b;");
  EXPECT_EQ(complete("int add(int a, const int& b) {", "\n}"), "\n    return a + b;");
  EXPECT_EQ(complete("  void run() {\n\n", "}"), "      return;");
  EXPECT_EQ(complete("class Mock:\n    "), "pass");
}

TEST(MockCompletion, OtherwiseASentenceThatDependsOnThePromptAndSuffix) {
  const std::string a = complete("The quick brown fox");
  EXPECT_EQ(a.front(), ' ');
  EXPECT_EQ(a, complete("The quick brown fox"));  // deterministic
  EXPECT_NE(complete("Hello ").front(), ' ');     // no double space
  std::vector<std::string> seen;
  for (const char* prompt : {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}) {
    seen.push_back(complete(prompt));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_GT(std::unique(seen.begin(), seen.end()) - seen.begin(), 1) << "the prompt picks the text";
}

TEST(MockCompletion, ThePlanAnswersTheCompletionNotTheChatForm) {
  MockOptions options;
  Played played = play(options, completion_request(R"({"model":"mock","prompt":"def add(a, b):\n    ","suffix":"\n"})"));
  EXPECT_EQ(played.text, "return a + b");
  EXPECT_EQ(played.finish, FinishReason::Stop);
  ASSERT_TRUE(played.usage);
  EXPECT_EQ(played.usage->input_tokens, 5);   // prompt and suffix: 20 characters, not the chat form's
  EXPECT_EQ(played.usage->output_tokens, 3);  // 12 characters
}

TEST(MockCompletion, TheSameRequestGivesTheSameAnswerInSeveralDeltas) {
  MockOptions options;
  options.chunk_size = 4;
  const std::string body = R"({"model":"mock","prompt":"Once upon a time","max_tokens":64})";
  Played first = play(options, completion_request(body));
  Played second = play(options, completion_request(body));
  EXPECT_EQ(first.text, second.text);
  EXPECT_EQ(first.deltas, second.deltas);
  EXPECT_GT(first.deltas.size(), 2u) << "streams in pieces";
  EXPECT_EQ(first.text, complete("Once upon a time"));
}

TEST(MockCompletion, MaxTokensCutsTheTextWithFinishLength) {
  MockOptions options;
  Played cut = play(options, completion_request(R"({"model":"mock","prompt":"Once upon a time","max_tokens":2})"));
  EXPECT_EQ(cut.text, complete("Once upon a time").substr(0, 8));
  EXPECT_EQ(cut.finish, FinishReason::Length);
  Played none = play(options, completion_request(R"({"model":"mock","prompt":"Once upon a time","max_tokens":0})"));
  EXPECT_EQ(none.text, "");
  EXPECT_EQ(none.finish, FinishReason::Length);
}

TEST(MockCompletion, MarkersInThePromptInjectFaults) {
  MockOptions options;
  auto plan = make_plan(options, completion_request(R"({"model":"mock","prompt":"x [[mock:fail=503]]"})"));
  ASSERT_EQ(plan.steps.size(), 1u);
  ASSERT_EQ(plan.steps[0].events.size(), 1u);
  EXPECT_EQ(plan.steps[0].events[0].kind, Event::Kind::Error);
  EXPECT_EQ(plan.steps[0].events[0].error.status, 503);
}

}  // namespace
}  // namespace llmux::mock
